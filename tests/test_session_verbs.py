"""Session verbs of Icechunk 2.3: amend, flush, mode, config, node ids, chunk types and
chunk coordinates, with their async twins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


@pytest.fixture
def repo(tmp_path: Path) -> ic.Repository:
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path)),
        ic.RepositoryConfig(inline_chunk_threshold_bytes=16),
    )
    with repo.transaction("main", message="array") as store:
        array = zarr.create_array(
            store, name="a", shape=(4,), chunks=(2,), dtype="i8", fill_value=0, compressors=None
        )
        array[:2] = 1  # 16 bytes a chunk: inline
    return repo


def test_amend_replaces_the_tip(repo: ic.Repository) -> None:
    parent = repo.lookup_snapshot(repo.lookup_branch("main")).parent_id
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a", mode="r+")[2:] = 2
    amended = session.amend("array, amended", metadata={"why": "typo"})
    assert session.read_only and session.mode == ic.SessionMode.readonly
    assert repo.lookup_branch("main") == amended
    info = repo.lookup_snapshot(amended)
    assert (info.parent_id, info.message, info.metadata) == (
        parent,
        "array, amended",
        {"why": "typo"},
    )
    reader = repo.readonly_session(branch="main")
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="a")[:], [1, 1, 2, 2])
    assert [i.id for i in repo.ancestry(branch="main")][:2] == [amended, parent]


async def test_amend_is_refused_when_the_branch_moved(repo: ic.Repository) -> None:
    stale = repo.writable_session("main")
    zarr.open_array(stale.store, path="a", mode="r+")[2:] = 3
    with repo.transaction("main", message="moved") as store:
        zarr.open_array(store, path="a", mode="r+")[0] = 9
    tip = repo.lookup_branch("main")
    with pytest.raises(ic.ConflictError):
        await stale.amend_async("stale")
    assert repo.lookup_branch("main") == tip and stale.has_uncommitted_changes
    with pytest.raises(ic.SessionStateError):
        repo.writable_session("main").amend("nothing to amend")


async def test_flush_moves_no_branch(repo: ic.Repository) -> None:
    tip = repo.lookup_branch("main")
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="a", mode="r+")[3] = 5
    flushed = await session.flush_async("side", metadata={"k": 1})
    assert session.snapshot_id == flushed and session.read_only
    assert repo.lookup_branch("main") == tip
    repo.create_tag("side", flushed)
    side = zarr.open_array(repo.readonly_session(tag="side").store, path="a")
    np.testing.assert_array_equal(side[:], [1, 1, 0, 5])
    with pytest.raises(ic.SessionStateError):
        session.flush("again")


async def test_node_ids_chunk_types_and_coordinates(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    assert session.mode == ic.SessionMode.writable
    assert session.config == repo.config
    node = session.get_node_id("/a")
    assert node == await session.get_node_id_async("/a") and node != session.get_node_id("/")
    with pytest.raises(ic.NodeNotFoundError):
        session.get_node_id("/missing")
    assert await session.chunk_type_async("/a", [1]) == ic.ChunkType.uninitialized
    zarr.open_array(session.store, path="a", mode="r+")[2:] = np.arange(2)  # 16 bytes: inline
    array = zarr.create_array(
        session.store, name="b", shape=(8,), chunks=(8,), dtype="i8", compressors=None
    )
    array[:] = np.arange(8)  # 64 bytes: an object of its own
    assert session.chunk_type("/a", [0]) == ic.ChunkType.inline
    assert session.chunk_type("/b", (0,)) == ic.ChunkType.native
    assert [c async for c in session.chunk_coordinates("/a")] == [(0,), (1,)]
    with pytest.raises(ic.InvalidInputError):
        session.chunk_type("/", [0])
