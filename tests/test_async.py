"""The async twins: the same results as the sync calls, and the event loop keeps running while
the engine works (asyncio mode "auto": these are plain `async def` tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


async def test_repository_and_session_twins(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    assert not await ic.Repository.exists_async(storage)
    repo = await ic.Repository.create_async(storage)
    assert await ic.Repository.exists_async(storage)
    with pytest.raises(ic.AlreadyExistsError):
        await ic.Repository.create_async(storage)
    repo = await ic.Repository.open_async(storage)
    repo = await ic.Repository.open_or_create_async(storage)

    session = await repo.writable_session_async("main")
    await zarr.api.asynchronous.create_array(
        session.store, name="a", data=np.arange(10, dtype="i4")
    )
    first = await session.commit_async("first", metadata={"n": 1})
    assert await repo.lookup_branch_async("main") == first == repo.lookup_branch("main")

    await repo.create_branch_async("dev", first)
    assert await repo.list_branches_async() == {"main", "dev"}
    await repo.create_tag_async("v1", first)
    assert await repo.list_tags_async() == {"v1"}
    assert await repo.lookup_tag_async("v1") == first
    info = await repo.lookup_snapshot_async(first)
    assert (info.message, info.metadata) == ("first", {"n": 1})

    dev = await repo.writable_session_async("dev")
    array = await zarr.api.asynchronous.open_array(store=dev.store, path="a", mode="r+")
    await array.setitem(slice(0, 2), np.array([7, 7], dtype="i4"))
    second = await dev.commit_async("second")
    diff = await repo.diff_async(from_tag="v1", to_branch="dev")
    assert diff.updated_chunks == repo.diff(from_tag="v1", to_branch="dev").updated_chunks
    assert [i.id async for i in repo.async_ancestry(branch="dev")] == [
        i.id for i in repo.ancestry(branch="dev")
    ]
    assert [i.id async for i in repo.async_ancestry(branch="dev")][:2] == [second, first]

    reader = await repo.readonly_session_async(tag="v1")
    values = await (await zarr.api.asynchronous.open_array(store=reader.store, path="a")).getitem(
        slice(None)
    )
    np.testing.assert_array_equal(values, np.arange(10))

    await repo.reset_branch_async("dev", first, from_snapshot_id=second)
    assert await repo.lookup_branch_async("dev") == first
    await repo.delete_branch_async("dev")
    await repo.delete_tag_async("v1")
    with pytest.raises(ic.RefNotFoundError):
        await repo.lookup_branch_async("dev")
    with pytest.raises(ic.InvalidInputError):
        await repo.create_branch_async("a/b", first)


async def test_rebase_and_merge_twins(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    with repo.transaction("main", message="array") as store:
        zarr.create_array(store, name="a", shape=(4,), chunks=(1,), dtype="i4", fill_value=0)
    ours, theirs = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(theirs.store, path="a", mode="r+")[0] = 1
    theirs.commit("theirs")
    zarr.open_array(ours.store, path="a", mode="r+")[1] = 2
    with pytest.raises(ic.ConflictError):
        await ours.commit_async("ours")
    await ours.rebase_async(ic.ConflictDetector())
    fork = ours.fork()
    zarr.open_array(fork.store, path="a", mode="r+")[2] = 3
    await ours.merge_async(fork)
    await ours.commit_async("ours, rebased", rebase_with=ic.ConflictDetector())
    reader = repo.readonly_session(branch="main")
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="a")[:], [1, 2, 3, 0])


async def test_the_event_loop_runs_while_a_commit_is_in_flight(tmp_path: Path) -> None:
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path)),
        ic.RepositoryConfig(inline_chunk_threshold_bytes=0, manifest_shard_size=16),
    )
    session = repo.writable_session("main")
    array = zarr.create_array(
        session.store, name="a", shape=(400, 400), chunks=(10, 10), dtype="f8"
    )
    array[:] = np.random.default_rng(0).random((400, 400))  # 1600 chunk objects, 100 shards

    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    snapshot = await session.commit_async("1600 chunks")
    during = ticks - before
    done.set()
    await ticking
    assert during > 0, "the event loop did not run while the commit was in flight"
    assert repo.lookup_branch("main") == snapshot
