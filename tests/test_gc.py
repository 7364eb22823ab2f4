"""Snapshot expiration and garbage collection through Icechunk 2.3's API, safe beside live
writers: on local disk and on moto's S3 server, a writer commits in a loop and a second one
holds a session open, each in its own process, while a third expires and collects again and
again with a short grace period. No acknowledged commit is lost, every snapshot a ref reaches
reads back what was committed, and once the writers stop a last collection leaves exactly
the reachable objects."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing as mp
import pickle
import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import _gc_workers as workers
import numpy as np
import pytest
import zarr
from conftest import MotoServer

import icechunk as ic

spawn = mp.get_context("spawn")
OBJECT_FOLDERS = ("snapshots", "transactions", "manifests", "chunks")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_repo(storage: ic.Storage) -> ic.Repository:
    # Every chunk a chunk object, so that collections have chunk objects to delete.
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = ic.Repository.create(storage, config)
    with repo.transaction("main", message="arrays") as store:
        for name in ("a", "b"):
            zarr.create_array(store, name=name, shape=(workers.N,), chunks=(1,), dtype="i8")
    return repo


def listing(
    kind: str, storage_place: Any, folders: tuple[str, ...] = OBJECT_FOLDERS
) -> dict[str, int]:
    """Object key -> size for the object folders of the repository (its own listing, not
    the engine's)."""
    if kind == "local":
        root: Path = storage_place
        return {
            str(p.relative_to(root)): p.stat().st_size
            for folder in folders
            for p in (root / folder).rglob("*")
            if p.is_file()
        }

    store, prefix = storage_place
    found: dict[str, int] = {}
    for folder in folders:
        for batch in store.list(f"{prefix}/{folder}/"):
            for meta in batch:
                found[meta["path"].removeprefix(prefix + "/")] = meta["size"]
    return found


def reachable_snapshots(repo: ic.Repository) -> set[str]:
    tips = [repo.lookup_branch(b) for b in repo.list_branches()]
    tips += [repo.lookup_tag(t) for t in repo.list_tags()]
    return {info.id for tip in tips for info in repo.ancestry(snapshot_id=tip)}


def read(repo: ic.Repository, snapshot: str, name: str) -> list[int]:
    session = repo.readonly_session(snapshot_id=snapshot)
    return zarr.open_array(session.store, path=name, mode="r")[:].tolist()


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ic.Storage, Any]:
    if request.param == "local":
        root = tmp_path / "repo"
        return "local", ic.local_filesystem_storage(str(root)), root
    server: MotoServer = request.getfixturevalue("moto_server")
    prefix = f"gc-{tmp_path.name}"
    # moto drops a connection now and then under this load: retry like a real client.
    network = ic.NetworkOptions(max_retries=10, initial_backoff=0.05, max_backoff=1.0)
    store = server.obstore()
    return "s3", server.storage(prefix, network=network), (store, prefix)


def test_collection_beside_live_writers(place: tuple[str, ic.Storage, Any], tmp_path: Path) -> None:
    kind, storage, where = place
    repo = new_repo(storage)
    repo.create_branch("hold", repo.lookup_branch("main"))
    out = tmp_path / "reports.jsonl"
    processes = [
        spawn.Process(target=workers.commit_loop, args=(storage, 25, str(out))),
        spawn.Process(target=workers.hold_session, args=(storage, 3.0, str(out))),
        spawn.Process(target=workers.collect_loop, args=(storage, 5.0, 0.3, str(out))),
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0, f"{p} failed"
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    commits = [r for r in reports if "snapshot" in r]
    collections = [r for r in reports if "chunks" in r]
    assert len(commits) == 26 and len(collections) >= 3
    # The collector did collect while the writers wrote, and kept the held session's chunks.
    assert sum(c["chunks"] for c in collections) > 0
    assert sum(c["expired"] for c in collections) > 0

    # No acknowledged commit lost: each branch's tip holds its last acknowledged commit.
    for branch in ("main", "hold"):
        last = [c for c in commits if c["branch"] == branch][-1]
        assert repo.lookup_branch(branch) == last["snapshot"]
    held = next(c for c in commits if c["branch"] == "hold")
    assert read(repo, held["snapshot"], "b") == held["values"]
    # Every snapshot a ref reaches reads back what was committed.
    reachable = reachable_snapshots(repo)
    by_id = {c["snapshot"]: c for c in commits}
    for snapshot in reachable:
        if snapshot in by_id and by_id[snapshot]["branch"] == "main":
            assert read(repo, snapshot, "a") == by_id[snapshot]["values"], snapshot

    # Each writer deleted its leases before its process exited.
    assert listing(kind, where, ("leases",)) == {}
    # Writers stopped: a last collection past the grace period leaves what is reachable
    # (on S3 past the 2 seconds by which a listed time may be early, too).
    time.sleep(0.5 if kind == "local" else 2.5)
    repo.expire_snapshots(now() - dt.timedelta(seconds=0.2))
    repo.garbage_collect(now())
    left = listing(kind, where)
    reachable = reachable_snapshots(repo)
    assert {k.split("/", 1)[1] for k in left if k.startswith("snapshots/")} == reachable
    assert {k.split("/", 1)[1] for k in left if k.startswith("transactions/")} <= reachable
    chunk_bytes = sum(size for k, size in left.items() if k.startswith("chunks/"))
    assert chunk_bytes == repo.total_chunks_storage()
    again = repo.garbage_collect(now(), dry_run=True)
    assert (again.chunks_deleted, again.snapshots_deleted, again.manifests_deleted) == (0, 0, 0)
    last_main = [c for c in commits if c["branch"] == "main"][-1]
    assert read(repo, repo.lookup_branch("main"), "a") == last_main["values"]


def test_expiry_and_collection_in_one_process(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = new_repo(ic.local_filesystem_storage(str(root)))
    first = repo.lookup_branch("main")
    for i in range(3):
        with repo.transaction("main", message=f"write {i}") as store:
            zarr.open_array(store, path="a", mode="r+")[:] = i + 1  # never the fill value
    time.sleep(0.05)
    cutoff = now()
    time.sleep(0.05)
    with repo.transaction("main", message="last") as store:
        zarr.open_array(store, path="a", mode="r+")[:] = 9
    tip = repo.lookup_branch("main")
    repo.create_tag("old", first)
    root_snapshot = list(repo.ancestry(branch="main"))[-1].id

    expired = repo.expire_snapshots(cutoff)
    assert isinstance(expired, set) and len(expired) == 3 and first not in expired
    history = [s.id for s in repo.ancestry(branch="main")]
    assert history == [tip, first, root_snapshot]  # the tag's tip is kept, in main's history
    assert [u for u in repo.ops_log() if isinstance(u.kind, ic.UpdateType.ExpirationRan)]

    dry = repo.garbage_collect(now(), dry_run=True)
    assert isinstance(dry, ic.GCSummary)
    assert (dry.snapshots_deleted, dry.transaction_logs_deleted) == (3, 3)
    assert dry.chunks_deleted == 3 * workers.N and dry.bytes_deleted > 0
    before = listing("local", root)
    done = asyncio.run(repo.garbage_collect_async(now()))
    assert (done.chunks_deleted, done.snapshots_deleted) == (dry.chunks_deleted, 3)
    assert done.bytes_deleted == dry.bytes_deleted
    assert len(listing("local", root)) == len(before) - 3 * workers.N - 6 - done.manifests_deleted
    assert [u for u in repo.ops_log() if isinstance(u.kind, ic.UpdateType.GCRan)]
    np.testing.assert_array_equal(
        zarr.open_array(repo.readonly_session("main").store, path="a")[:], 9
    )
    gone = next(iter(expired))
    with pytest.raises(ic.SnapshotNotFoundError):
        ic.Repository.open(ic.local_filesystem_storage(str(root))).readonly_session(
            snapshot_id=gone
        )

    # The tag goes with delete_expired_tags (its tip is older than the cut-off).
    expired = asyncio.run(repo.expire_snapshots_async(cutoff, delete_expired_tags=True))
    assert first in expired and "old" not in repo.list_tags()


def test_bad_cut_offs_are_refused_and_delete_nothing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = new_repo(ic.local_filesystem_storage(str(root)))
    with repo.transaction("main", message="write") as store:
        zarr.open_array(store, path="a", mode="r+")[:] = 1
    before = listing("local", root)
    naive = dt.datetime.now()
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.garbage_collect(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.expire_snapshots(naive)
    with pytest.raises(TypeError):
        repo.garbage_collect("yesterday")  # type: ignore[arg-type]
    future = now() + dt.timedelta(hours=1)
    with pytest.raises(ic.IcechunkError, match="in the future"):
        repo.garbage_collect(future)
    with pytest.raises(ic.IcechunkError, match="in the future"):
        repo.expire_snapshots(future)
    with pytest.raises(ValueError, match="max_concurrent_deletes"):
        repo.garbage_collect(now(), max_concurrent_deletes=0)
    assert listing("local", root) == before
    assert len(list(repo.ancestry(branch="main"))) == 3


# ---- a minimum grace period in the repository's config --------------------------------------


def repo_with_garbage(root: Path, **config: Any) -> ic.Repository:
    """Three writes of array "a", the first two expired: their chunks are garbage."""
    storage = ic.local_filesystem_storage(str(root))
    repo = ic.Repository.create(
        storage, ic.RepositoryConfig(inline_chunk_threshold_bytes=0, **config)
    )
    with repo.transaction("main", message="arrays") as store:
        zarr.create_array(store, name="a", shape=(workers.N,), chunks=(1,), dtype="i8")
    for i in range(3):
        with repo.transaction("main", message=f"write {i}") as store:
            zarr.open_array(store, path="a", mode="r+")[:] = i + 1
    repo.expire_snapshots(now())
    return repo


def every_file(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_a_minimum_grace_period_refuses_later_cut_offs(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_with_garbage(root, gc_min_grace_period_seconds=3600)
    assert repo.config.gc_min_grace_period_seconds == 3600
    before = every_file(root)
    too_late = now() - dt.timedelta(minutes=50)
    for dry_run in (False, True):
        with pytest.raises(ic.InvalidInputError, match="3600 seconds") as refused:
            repo.garbage_collect(too_late, dry_run=dry_run)
        assert "gc_min_grace_period_seconds" in str(refused.value)
    with pytest.raises(ic.InvalidInputError, match="3600 seconds"):
        asyncio.run(repo.garbage_collect_async(now()))
    assert every_file(root) == before, "a refused collection changes nothing"
    # Old enough: allowed (the garbage is younger than an hour, so it stays).
    kept = repo.garbage_collect(now() - dt.timedelta(minutes=70))
    assert (kept.chunks_deleted, kept.snapshots_deleted) == (0, 0)

    # Stored with the repository; opening with a config that leaves it unset keeps it.
    storage = ic.local_filesystem_storage(str(root))
    assert ic.Repository.open(storage).config.gc_min_grace_period_seconds == 3600
    opened = ic.Repository.open(storage, ic.RepositoryConfig(max_concurrent_requests=4))
    assert opened.config.gc_min_grace_period_seconds == 3600
    # A shorter one, saved, is what every later handle applies.
    shorter = opened.reopen(ic.RepositoryConfig(gc_min_grace_period_seconds=1))
    shorter.save_config()
    assert ic.Repository.fetch_config(storage).gc_min_grace_period_seconds == 1  # type: ignore[union-attr]
    time.sleep(1.1)
    done = ic.Repository.open(storage).garbage_collect(now() - dt.timedelta(seconds=1))
    assert done.chunks_deleted == 2 * workers.N


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, 10**12])
def test_bad_minimum_grace_periods_are_refused(bad: Any) -> None:
    with pytest.raises(ic.InvalidInputError, match="gc_min_grace_period_seconds"):
        ic.Repository.create(
            ic.in_memory_storage(), ic.RepositoryConfig(gc_min_grace_period_seconds=bad)
        )


def test_the_minimum_grace_period_merges_and_pickles() -> None:
    config = ic.RepositoryConfig(gc_min_grace_period_seconds=60)
    assert "gc_min_grace_period_seconds=60" in repr(config)
    assert pickle.loads(pickle.dumps(config)) == config
    merged = config.merge(ic.RepositoryConfig(inline_chunk_threshold_bytes=0))
    assert merged.gc_min_grace_period_seconds == 60
    assert ic.RepositoryConfig().merge(config).gc_min_grace_period_seconds == 60
    assert ic.Repository.create(ic.in_memory_storage()).config.gc_min_grace_period_seconds is None


# ---- progress bars ------------------------------------------------------------------------------


class FakeBar:
    """Stands in for ``tqdm.tqdm`` (a terminal display): records what the bar was told."""

    made: ClassVar[list[FakeBar]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.updates: list[int] = []
        self.closed = False
        FakeBar.made.append(self)

    def update(self, n: int) -> None:
        self.updates.append(n)

    def close(self) -> None:
        self.closed = True


class BrokenBar(FakeBar):
    def update(self, n: int) -> None:
        raise RuntimeError("the terminal went away")


def fake_tqdm(monkeypatch: pytest.MonkeyPatch, bar: type[FakeBar] | None) -> list[FakeBar]:
    """Installs a fake ``tqdm`` module (``None``: tqdm not installed); the bars it makes."""
    module = None
    if bar is not None:
        module = types.ModuleType("tqdm")
        module.tqdm = bar  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tqdm", module)
    FakeBar.made = []
    return FakeBar.made


def test_a_collection_shows_a_bar_per_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repo_with_garbage(tmp_path / "repo")
    fake_tqdm(monkeypatch, None)
    plain = repo.garbage_collect(now(), dry_run=True)

    bars = fake_tqdm(monkeypatch, FakeBar)
    dry = repo.garbage_collect(now(), dry_run=True)
    assert dry == plain
    assert [b.kwargs["desc"] for b in bars] == [
        "garbage_collect: snapshots",
        "garbage_collect: manifests",
        "garbage_collect: listing",
    ]
    for bar in bars:
        assert bar.kwargs["disable"] is None  # tqdm hides itself off a terminal
        assert sum(bar.updates) == bar.kwargs["total"] and bar.closed, bar.kwargs
    assert bars[0].kwargs["total"] == 2  # the root and main's tip
    assert bars[2].kwargs["total"] == 4  # the object folders

    bars = fake_tqdm(monkeypatch, FakeBar)
    done = asyncio.run(repo.garbage_collect_async(now()))
    assert (done.chunks_deleted, done.snapshots_deleted) == (plain.chunks_deleted, 3)
    assert done.bytes_deleted == plain.bytes_deleted
    deleting = bars[-1]
    assert deleting.kwargs["desc"] == "garbage_collect: deleting" and deleting.closed
    objects = done.chunks_deleted + done.snapshots_deleted + done.transaction_logs_deleted
    assert deleting.kwargs["total"] == objects + done.manifests_deleted
    assert sum(deleting.updates) == deleting.kwargs["total"]
    # Throttled: the first and last report of the phase at least, not one per object.
    assert len(deleting.updates) < deleting.kwargs["total"]


def test_a_broken_display_does_not_fail_the_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repo_with_garbage(tmp_path / "repo")
    fake_tqdm(monkeypatch, None)
    plain = repo.garbage_collect(now(), dry_run=True)
    bars = fake_tqdm(monkeypatch, BrokenBar)
    done = repo.garbage_collect(now())
    assert (done.chunks_deleted, done.bytes_deleted) == (plain.chunks_deleted, plain.bytes_deleted)
    assert len(bars) == 1, "a callback that raised is not called again"
