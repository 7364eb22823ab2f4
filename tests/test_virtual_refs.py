"""Virtual chunk references through the Python API (Icechunk 2.3's names): chunks that are
byte ranges of files outside the repository, set without copying, read through an
authorized virtual chunk container, refused with a typed error when the source changed,
vanished or is too short."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def soon() -> dt.datetime:
    """A last-modified pin a little in the future: files written before it pass."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)


def write_source(folder: Path, name: str, values: np.ndarray) -> Path:
    path = folder / name
    path.write_bytes(b"HEADER--" + values.astype("<i4").tobytes())
    return path


def make_repo(tmp_path: Path, *, authorize: bool = True) -> tuple[ic.Repository, Path, str]:
    folder = tmp_path / "sources"
    folder.mkdir()
    prefix = f"file://{folder}/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(folder)))
    )
    access = {prefix: ic.credentials.LocalFileSystemAccess} if authorize else None
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        config=config,
        authorize_virtual_chunk_access=access,
    )
    return repo, folder, prefix


def new_array(session: ic.Session, n_chunks: int = 4) -> zarr.Array:
    return zarr.create_array(
        session.store,
        name="a",
        shape=(4 * n_chunks,),
        chunks=(4,),
        dtype="<i4",
        compressors=None,
        fill_value=-1,
    )


def read_all(repo: ic.Repository) -> np.ndarray:
    session = repo.readonly_session(branch="main")
    return np.asarray(zarr.open_array(session.store, path="a", mode="r")[:])


def test_refs_read_back_the_source_bytes(tmp_path: Path) -> None:
    repo, folder, prefix = make_repo(tmp_path)
    values = np.arange(16, dtype="<i4")
    write_source(folder, "f.bin", values)
    session = repo.writable_session("main")
    new_array(session)
    failed = session.store.set_virtual_refs(
        "a",
        [ic.VirtualChunkSpec([i], f"{prefix}f.bin", 8 + 16 * i, 16) for i in range(3)],
    )
    assert failed is None
    session.store.set_virtual_ref(
        "a/c/3", f"{prefix}f.bin", offset=8 + 48, length=16, checksum=soon()
    )
    assert session.chunk_type("/a", [2]) == ic.ChunkType.virtual
    session.commit("virtual")
    np.testing.assert_array_equal(read_all(repo), values)
    # A partial read fetches only its bytes, and returns them.
    store = repo.readonly_session(branch="main").store
    proto = zarr.core.buffer.default_buffer_prototype()
    part = asyncio.run(store.get("a/c/1", proto, zarr.abc.store.RangeByteRequest(4, 12)))
    assert part is not None and np.frombuffer(part.to_bytes(), "<i4").tolist() == [5, 6]
    assert repo.readonly_session(branch="main").all_virtual_chunk_locations() == [f"{prefix}f.bin"]
    stats = repo.chunk_storage_stats()
    assert stats.virtual_bytes == 64


def test_grid_refs_with_offset_skip_empty_locations(tmp_path: Path) -> None:
    repo, folder, prefix = make_repo(tmp_path)
    values = np.arange(16, dtype="<i4")
    write_source(folder, "f.bin", values)
    session = repo.writable_session("main")
    new_array(session, n_chunks=6)
    failed = session.store.set_virtual_refs_arr(
        "/a",
        (3,),
        [f"{prefix}f.bin", "", f"{prefix}f.bin"],
        np.array([8, 0, 24], dtype="uint64"),
        np.array([16, 0, 16], dtype="uint64"),
        arr_offset=(2,),
        checksum=soon(),
    )
    assert failed is None
    session.commit("grid")
    got = read_all(repo)
    np.testing.assert_array_equal(got[8:12], values[0:4])
    np.testing.assert_array_equal(got[12:16], -1)  # "" left chunk 3 unset
    np.testing.assert_array_equal(got[16:20], values[4:8])
    batches = asyncio.run(_chunk_batches(repo))
    assert batches[0][1].tolist() == [int(ic.ChunkType.virtual)] * 2
    assert batches[0][2] == [f"{prefix}f.bin"] * 2


async def _chunk_batches(repo: ic.Repository) -> list[tuple]:
    store = repo.readonly_session(branch="main").store
    return [batch async for batch in store.array_chunk_iterator("a")]


def test_locations_outside_every_container(tmp_path: Path) -> None:
    repo, _, prefix = make_repo(tmp_path)
    session = repo.writable_session("main")
    new_array(session)
    outside = "s3://elsewhere/f.nc"
    failed = session.store.set_virtual_refs(
        "a",
        [
            ic.VirtualChunkSpec([0], f"{prefix}f.bin", 0, 16),
            ic.VirtualChunkSpec([1], outside, 0, 16),
        ],
    )
    assert failed == [(1,)]
    assert session.chunk_type("/a", [0]) == ic.ChunkType.virtual
    assert session.chunk_type("/a", [1]) == ic.ChunkType.uninitialized
    with pytest.raises(ic.InvalidInputError, match="no virtual chunk container holds"):
        session.store.set_virtual_ref("a/c/2", outside, offset=0, length=4)
    # Written anyway (validate_container=False), it cannot be read: no container holds it.
    session.store.set_virtual_ref("a/c/2", outside, offset=0, length=16, validate_container=False)
    session.commit("outside")
    store = repo.readonly_session(branch="main").store
    with pytest.raises(ic.IcechunkError, match=re.escape(outside)):
        zarr.open_array(store, path="a", mode="r")[8:12]


def test_bad_refs_set_nothing(tmp_path: Path) -> None:
    repo, _, prefix = make_repo(tmp_path)
    session = repo.writable_session("main")
    new_array(session)
    good = ic.VirtualChunkSpec([0], f"{prefix}f.bin", 0, 16)
    for bad, error in [
        (ic.VirtualChunkSpec([9], f"{prefix}f.bin", 0, 16), ic.InvalidInputError),
        (ic.VirtualChunkSpec([1], "no-scheme/f.bin", 0, 16), ic.InvalidInputError),
    ]:
        with pytest.raises(error):
            session.store.set_virtual_refs("a", [good, bad])
        assert session.chunk_type("/a", [0]) == ic.ChunkType.uninitialized
    with pytest.raises(TypeError, match="tzinfo"):
        session.store.set_virtual_ref(
            "a/c/0", f"{prefix}f.bin", offset=0, length=4, checksum=dt.datetime(2020, 1, 1)
        )
    with pytest.raises(ValueError, match="chunk_grid_shape"):
        session.store.set_virtual_refs_arr(
            "a", (2,), [f"{prefix}f.bin"], np.array([0], "uint64"), np.array([4], "uint64")
        )
    with pytest.raises(ValueError, match="not both"):
        ic.VirtualChunkSpec(
            [0], "s3://b/k", 0, 1, etag_checksum="e", last_updated_at_checksum=soon()
        )
    reader = repo.readonly_session(branch="main")
    with pytest.raises(ic.IcechunkError):
        reader.store.set_virtual_ref("a/c/0", f"{prefix}f.bin", offset=0, length=4)


def test_changed_deleted_and_short_sources_are_refused(tmp_path: Path) -> None:
    repo, folder, prefix = make_repo(tmp_path)
    values = np.arange(16, dtype="<i4")
    for name in ("changed.bin", "gone.bin", "short.bin", "etag.bin"):
        write_source(folder, name, values)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    os.utime(folder / "changed.bin")  # modified now: after the pin below
    session = repo.writable_session("main")
    new_array(session)
    store = session.store
    store.set_virtual_ref("a/c/0", f"{prefix}changed.bin", offset=8, length=16, checksum=past)
    store.set_virtual_ref("a/c/1", f"{prefix}gone.bin", offset=8, length=16)
    store.set_virtual_ref("a/c/2", f"{prefix}short.bin", offset=8, length=1_000)
    store.set_virtual_ref("a/c/3", f"{prefix}etag.bin", offset=8, length=16, checksum='"nope"')
    session.commit("doomed refs")
    (folder / "gone.bin").unlink()
    array = zarr.open_array(repo.readonly_session(branch="main").store, path="a", mode="r")
    for chunk, pattern in [
        (0, "changed.bin"),
        (1, "gone.bin"),
        (2, "short.bin"),
        (3, "etag.bin"),
    ]:
        with pytest.raises(ic.StorageError, match=re.escape(pattern)) as raised:
            array[4 * chunk : 4 * chunk + 4]
        assert f"a/c/{chunk}" in str(raised.value)  # the chunk is named too


def test_unauthorized_containers_are_not_followed(tmp_path: Path) -> None:
    repo, folder, prefix = make_repo(tmp_path)
    write_source(folder, "f.bin", np.arange(16, dtype="<i4"))
    session = repo.writable_session("main")
    new_array(session)
    session.store.set_virtual_ref("a/c/0", f"{prefix}f.bin", offset=8, length=16)
    session.commit("ref")
    stranger = ic.Repository.open(ic.local_filesystem_storage(str(tmp_path / "repo")))
    assert stranger.authorized_virtual_container_prefixes == set()
    store = stranger.readonly_session(branch="main").store
    with pytest.raises(ic.InvalidInputError, match=re.escape(prefix)):
        zarr.open_array(store, path="a", mode="r")[0:4]
    trusted = ic.Repository.open(
        ic.local_filesystem_storage(str(tmp_path / "repo")),
        authorize_virtual_chunk_access={prefix: ic.credentials.LocalFileSystemAccess},
    )
    assert trusted.authorized_virtual_container_prefixes == {prefix}
    got = zarr.open_array(trusted.readonly_session(branch="main").store, path="a", mode="r")[0:4]
    np.testing.assert_array_equal(got, np.arange(4))


def test_pickled_sessions_keep_refs_and_authorization(tmp_path: Path) -> None:
    repo, folder, prefix = make_repo(tmp_path)
    write_source(folder, "f.bin", np.arange(16, dtype="<i4"))
    session = repo.writable_session("main")
    new_array(session)
    fork = session.fork()
    fork.store.set_virtual_ref("a/c/1", f"{prefix}f.bin", offset=24, length=16)
    travelled = pickle.loads(pickle.dumps(fork))
    # On the worker's side the fork reads its own virtual chunk: the authorization came along
    # with the pickled repository, never inside the session's bytes.
    got = zarr.open_array(travelled.store, path="a", mode="r")[4:8]
    np.testing.assert_array_equal(got, np.arange(4, 8))
    session.merge(travelled)
    session.commit("from a worker")
    reader = pickle.loads(pickle.dumps(repo.readonly_session(branch="main")))
    got = zarr.open_array(reader.store, path="a", mode="r")[4:8]
    np.testing.assert_array_equal(got, np.arange(4, 8))
