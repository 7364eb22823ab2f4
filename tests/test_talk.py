"""The talk's three failures of plain Zarr, and the same scenarios on icechunk.

Plain zarr on a LocalStore: an interrupted update leaves a mix of old and new chunks;
readers beside a writer see torn data (means like 0.459); there is no undo. On icechunk:
readers only ever see whole versions, an interrupted update leaves the old version, and
``reset_branch`` undoes a commit. Where the talk has separate processes, so do these tests
(start method "spawn").
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

import _talk
import icechunk as ic
from _talk import NUM_COLS, NUM_ROWS, create_array, mean

ctx = mp.get_context("spawn")


class IngestBroke(Exception):
    pass


def interrupted_ingest(store: object, fail_after: int) -> None:
    """The talk's loop, failing after ``fail_after`` element writes (deterministic)."""
    array = zarr.open_array(store)
    written = 0
    for x in range(NUM_ROWS):
        for y in range(NUM_COLS):
            array[x, y] = 1
            written += 1
            if written == fail_after:
                raise IngestBroke("ingest broke")


@pytest.fixture
def plain_path(tmp_path: Path) -> str:
    path = str(tmp_path / "plain")
    create_array(LocalStore(path))
    return path


@pytest.fixture
def repo_path(tmp_path: Path) -> str:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    with repo.transaction("main", message="zeros") as store:
        create_array(store)
    return path


def full_mean(store: object) -> float:
    return float(np.mean(zarr.open_array(store, mode="r")[:]))


# ---- 1. interrupted updates ------------------------------------------------------------
def test_interrupted_update_plain_zarr_leaves_partial_data(plain_path: str) -> None:
    with pytest.raises(IngestBroke):
        interrupted_ingest(LocalStore(plain_path), fail_after=770)
    assert full_mean(LocalStore(plain_path)) == pytest.approx(770 / (NUM_ROWS * NUM_COLS))


def test_interrupted_update_icechunk_keeps_old_version(repo_path: str) -> None:
    repo = _talk.open_repo(repo_path)
    before = repo.lookup_branch("main")
    with pytest.raises(IngestBroke):
        with repo.transaction("main", message="ingest") as store:
            interrupted_ingest(store, fail_after=770)
    assert repo.lookup_branch("main") == before
    assert full_mean(repo.readonly_session(branch="main").store) == 0.0
    assert [s.message for s in repo.ancestry(branch="main")][:1] == ["zeros"]


def _kill_writer_midway(target: object, path: str) -> None:
    ready = ctx.Event()
    writer = ctx.Process(target=target, args=(path, ready))
    writer.start()
    try:
        assert ready.wait(timeout=120), "the writer never got half way"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL


def test_killed_writer_plain_zarr_leaves_partial_data(plain_path: str) -> None:
    _kill_writer_midway(_talk.write_until_killed_plain, plain_path)
    assert full_mean(LocalStore(plain_path)) == 0.5


def test_killed_writer_icechunk_leaves_old_version(repo_path: str) -> None:
    repo = _talk.open_repo(repo_path)
    before = repo.lookup_branch("main")
    _kill_writer_midway(_talk.write_until_killed_icechunk, repo_path)
    assert repo.lookup_branch("main") == before
    assert full_mean(repo.readonly_session(branch="main").store) == 0.0
    # Nothing was left locked or half-done: the next writer just works.
    with repo.transaction("main", message="ones") as store:
        zarr.open_array(store)[:] = 1
    assert full_mean(repo.readonly_session(branch="main").store) == 1.0


# ---- 2. readers beside a writer --------------------------------------------------------
def collect(out: object, procs: list, n: int, timeout: float = 600) -> list:
    """``n`` results from ``out``; fails fast if a child died without sending one."""
    results: list = []
    deadline = time.monotonic() + timeout
    while len(results) < n:
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"child process failed: {dead}"
            assert time.monotonic() < deadline, "timed out waiting for child processes"
    return results


def _run_readers_beside_writer(
    writer_target: object, reader_target: object, reader_args: tuple, n_readers: int
) -> tuple[list[float], int]:
    stop, rounds, out = ctx.Event(), ctx.Value("i", 0), ctx.Queue()
    writer = ctx.Process(target=writer_target, args=(reader_args[0], stop, rounds))
    readers = [
        ctx.Process(target=reader_target, args=(*reader_args, out)) for _ in range(n_readers)
    ]
    writer.start()
    for r in readers:
        r.start()
    try:
        results = collect(out, [writer, *readers], n_readers)
    finally:
        stop.set()
        for p in (writer, *readers):
            p.join(timeout=120)
            if p.is_alive():
                p.kill()
    assert writer.exitcode == 0
    return [m for _, ms in results for m in ms], rounds.value


def test_concurrent_readers_plain_zarr_see_torn_data(plain_path: str) -> None:
    means, _ = _run_readers_beside_writer(
        _talk.flip_plain, _talk.read_means_plain, (plain_path, 200, True), n_readers=1
    )
    torn = [m for m in means if m not in (0.0, 1.0)]
    assert torn, f"no torn read in {len(means)} reads"


def test_concurrent_readers_icechunk_see_whole_versions(repo_path: str) -> None:
    means, commits = _run_readers_beside_writer(
        _talk.flip_icechunk, _talk.read_means_icechunk, (repo_path, 100), n_readers=2
    )
    assert len(means) == 200
    assert set(means) <= {0.0, 1.0}, sorted(set(means) - {0.0, 1.0})
    # The writer really ran beside the readers: they saw both versions.
    assert commits >= 2
    assert set(means) == {0.0, 1.0}


# ---- 3. undo, and reading old versions -------------------------------------------------
def test_undo_with_reset_branch(repo: ic.Repository) -> None:
    with repo.transaction("main", message="zeros") as store:
        create_array(store)
    good = repo.lookup_branch("main")
    with repo.transaction("main", message="oops") as store:
        zarr.open_array(store)[:] = 1
    bad = repo.lookup_branch("main")
    assert mean(repo.readonly_session(branch="main").store) == 1.0

    repo.reset_branch("main", good)
    assert repo.lookup_branch("main") == good
    assert mean(repo.readonly_session(branch="main").store) == 0.0
    # The undone snapshot is still there, by id.
    assert mean(repo.readonly_session(snapshot_id=bad).store) == 1.0
    # A reset guarded by from_snapshot_id fails if the branch is not where expected.
    with pytest.raises(ic.ConflictError):
        repo.reset_branch("main", bad, from_snapshot_id=bad)
    repo.reset_branch("main", bad, from_snapshot_id=good)
    assert repo.lookup_branch("main") == bad


def test_reads_by_tag_and_snapshot_id(repo: ic.Repository) -> None:
    with repo.transaction("main", message="zeros") as store:
        create_array(store)
    v1 = repo.lookup_branch("main")
    repo.create_tag("v1", v1)
    with repo.transaction("main", message="ones") as store:
        zarr.open_array(store)[:] = 1
    assert mean(repo.readonly_session(tag="v1").store) == 0.0
    assert mean(repo.readonly_session(snapshot_id=v1).store) == 0.0
    assert mean(repo.readonly_session(branch="main").store) == 1.0
    diff = repo.diff(from_tag="v1", to_branch="main")
    assert len(diff.updated_chunks["/"]) == NUM_ROWS * NUM_COLS
