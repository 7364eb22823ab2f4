"""Icechunk across processes: fork safety, pickled stores, concurrent committers."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import _talk
import icechunk as ic
from test_talk import collect

spawn = mp.get_context("spawn")


@pytest.fixture
def repo_path(tmp_path: Path) -> str:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    with repo.transaction("main", message="zeros") as store:
        _talk.create_array(store)
    return path


def _wait_for_child(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"forked child hung for {timeout}s")


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_after_use_gets_a_fresh_runtime(repo_path: str) -> None:
    repo = _talk.open_repo(repo_path)
    # Use the runtime (sync and async paths) in the parent before forking.
    session = repo.readonly_session(branch="main")
    assert float(np.mean(zarr.open_array(session.store)[:])) == 0.0
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: read through the inherited objects, then commit
        code = 1
        try:
            os.close(read_fd)
            m = float(np.mean(zarr.open_array(session.store)[:]))
            with repo.transaction("main", message="from the child") as store:
                zarr.open_array(store)[:] = 1
            os.write(write_fd, f"{m}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    assert _wait_for_child(pid, timeout=60) == 0
    with os.fdopen(read_fd) as f:
        assert f.read() == "0.0"
    # The parent's runtime still works, and sees the child's commit.
    assert repo.lookup_snapshot(repo.lookup_branch("main")).message == "from the child"
    assert float(np.mean(zarr.open_array(repo.readonly_session(branch="main").store)[:])) == 1.0


def test_pickled_readonly_store_reads_in_spawned_process(repo_path: str) -> None:
    repo = _talk.open_repo(repo_path)
    with repo.transaction("main", message="ones") as store:
        zarr.open_array(store)[:] = 1
    store = repo.readonly_session(branch="main").store
    out = spawn.Queue()
    child = spawn.Process(target=_talk.read_pickled_store, args=(store, out))
    child.start()
    (result,) = collect(out, [child], 1, timeout=120)
    child.join(timeout=30)
    assert result == (True, 1.0, (_talk.NUM_ROWS, _talk.NUM_COLS))


def test_writable_store_cannot_go_to_another_process(repo_path: str) -> None:
    store = _talk.open_repo(repo_path).writable_session("main").store
    with pytest.raises(ValueError, match="fork"):  # Icechunk's class for this refusal
        pickle.dumps(store)


def test_concurrent_committers_lose_no_commit(repo_path: str) -> None:
    """Processes racing to commit on one branch: every acknowledged commit is in the
    history (the published icechunk 2.3 loses some on local disk)."""
    workers, per_worker = 4, 6
    out = spawn.Queue()
    procs = [
        spawn.Process(target=_talk.commit_many, args=(repo_path, w, per_worker, out))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    results = collect(out, procs, workers, timeout=300)
    for p in procs:
        p.join(timeout=30)
    acknowledged = {sid for _, ids, _ in results for sid in ids}
    assert len(acknowledged) == workers * per_worker
    history = [s.id for s in _talk.open_repo(repo_path).ancestry(branch="main")]
    assert acknowledged <= set(history)
    assert len(history) == workers * per_worker + 2  # + "zeros" + the initial snapshot
