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
