"""IcechunkStore beyond zarr's Store tests: partial writes and the synchronous clear."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def test_set_partial_values_and_sync_clear(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    with repo.transaction("main", message="a") as store:
        array = zarr.create_array(
            store, name="a", shape=(8,), chunks=(8,), dtype="u1", compressors=None
        )
        array[:] = np.arange(8, dtype="u1")
    store = repo.writable_session("main").store

    async def patch() -> None:
        await store.set_partial_values([("a/c/0", 2, b"\xff\xff"), ("a/c/0", 7, b"\x10\x11")])

    asyncio.run(patch())
    assert bytes(store.get_sync("a/c/0").to_bytes()) == bytes([0, 1, 255, 255, 4, 5, 6, 16, 17])
    with pytest.raises(ic.NodeNotFoundError):
        asyncio.run(store.set_partial_values([("a/c/9", 0, b"x")]))
    store.sync_clear()
    assert asyncio.run(store.is_empty(""))
    # The committed history is untouched.
    main = zarr.open_array(repo.readonly_session(branch="main").store, path="a")
    np.testing.assert_array_equal(main[:], np.arange(8))
    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session(branch="main").store.sync_clear()


def test_a_dropped_session_is_freed_without_the_cycle_collector(tmp_path: Path) -> None:
    """The store holds its session, and the session must not hold its store back: a cycle
    would keep a dropped session (its change set, its storage's connections) alive until
    Python's cyclic collector happened to run."""
    import gc
    import weakref

    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    gc.collect()
    gc.disable()
    try:
        session = repo.writable_session("main")
        store = session.store
        array = zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="i4")
        array[:] = [1, 2, 3, 4]
        dropped_session, dropped_repo = weakref.ref(session), weakref.ref(repo)
        del session, repo
        # The store alone keeps its session usable.
        np.testing.assert_array_equal(zarr.open_array(store, path="a")[:], [1, 2, 3, 4])
        assert dropped_session() is not None
        del array, store
        assert dropped_session() is None
        assert dropped_repo() is None
    finally:
        gc.enable()
