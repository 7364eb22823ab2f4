"""Processes exit cleanly, whatever happened (issue 11, item 8).

A read that raised (a damaged chunk) or was cancelled leaves engine futures in flight;
they finish while the interpreter shuts down, and must not call into it then. 1000
processes are forked from one driver (tests/_exit_driver.py), each exiting through
normal interpreter finalization; before the fix about 1 in 40 of them died at exit
(SIGABRT "PyGILState_Release: thread state ... must be current", or SIGSEGV).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import http.server
import json
import os
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic

DRIVER = Path(__file__).parent / "_exit_driver.py"
CORRUPT_CHILDREN = 500
CANCEL_CHILDREN = 500
JOBS = 4  # children at a time
DATA = np.arange(64 * 64, dtype="f8").reshape(64, 64)


def _make_repo(path: Path) -> None:
    """Arrays ``good`` and ``bad`` of 64 chunks each, every chunk an object of its own;
    one chunk object of ``bad`` has a flipped byte."""
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(path)),
        config=ic.RepositoryConfig(inline_chunk_threshold_bytes=0),
    )
    chunks = path / "chunks"
    with repo.transaction("main", message="good") as store:
        zarr.create_array(store, name="good", shape=DATA.shape, chunks=(8, 8), dtype="f8")[:] = DATA
    good_chunks = set(os.listdir(chunks))
    with repo.transaction("main", message="bad") as store:
        zarr.create_array(store, name="bad", shape=DATA.shape, chunks=(8, 8), dtype="f8")[:] = DATA
    bad_chunks = sorted(set(os.listdir(chunks)) - good_chunks)
    assert len(good_chunks) == len(bad_chunks) == 64
    victim = chunks / bad_chunks[len(bad_chunks) // 2]
    content = bytearray(victim.read_bytes())
    content[len(content) // 2] ^= 0xFF
    victim.write_bytes(bytes(content))


@pytest.fixture(scope="module")
def repo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exit") / "repo"
    _make_repo(path)
    return path


def test_processes_exit_cleanly_after_failed_and_cancelled_reads(
    repo_path: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    # One BLAS thread: the children fork faster, and nothing here multiplies matrices.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    counts = [str(CORRUPT_CHILDREN), str(CANCEL_CHILDREN), str(JOBS)]
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(DRIVER), str(repo_path), *counts, str(log_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    failures = "\n\n".join(summary["failures"])
    assert summary["statuses"] == {"0": CORRUPT_CHILDREN + CANCEL_CHILDREN}, (
        f"{summary['statuses']} (exit code, or minus the signal)\n{failures}"
    )
    assert not summary["failures"], failures
    outcomes = summary["outcomes"]
    assert outcomes.get("corrupt:formaterror") == CORRUPT_CHILDREN, outcomes
    # Most cancel children must really have cancelled their read midway.
    assert outcomes.get("cancel:timeout", 0) >= CANCEL_CHILDREN // 2, outcomes


@pytest.fixture
def slow_chunks_url(repo_path: Path) -> Iterator[str]:
    """The repository over plain HTTP on 127.0.0.1; chunk objects are held back until the
    test ends, so reads of chunks are in flight for sure."""
    release = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/chunks/"):
                release.wait(30)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(repo_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()


async def test_engine_tasks_do_not_keep_their_awaitables_alive(slow_chunks_url: str) -> None:
    repo = ic.Repository.open(ic.http_storage(slow_chunks_url))
    store = repo.readonly_session(branch="main").store._store
    abandoned = store.get("good/c/0/0")
    assert isinstance(abandoned, asyncio.Future)  # in flight: handed to the runtime
    gone = weakref.ref(abandoned)
    del abandoned
    gc.collect()
    # The engine task holds it weakly (and is aborted with it): nothing is left to
    # complete from a runtime thread, at exit or ever.
    assert gone() is None
    cancelled = store.get("good/c/0/1")
    assert isinstance(cancelled, asyncio.Future)
    cancelled.cancel()  # aborts its engine task
    await asyncio.sleep(0.05)
    assert cancelled.cancelled()


# Registered before icechunk is imported, so it runs after icechunk's own atexit hook
# (which stops the engine's threads from calling into Python): reads still work then,
# finished on the calling thread.
_LATE_READER = """
import asyncio, atexit, sys

def late_reads():
    repo = ic.Repository.open(ic.local_filesystem_storage(sys.argv[1]))
    store = repo.readonly_session(branch="main").store._store
    keys = [f"good/c/{i}/{j}" for i in range(8) for j in range(8)]

    async def read():
        return await asyncio.gather(*(store.get(key) for key in keys))

    got = asyncio.run(read())
    assert got == [store.get_sync(key) for key in keys] and all(got)
    print("late reads ok", flush=True)

atexit.register(late_reads)
import icechunk as ic
"""


def test_reads_still_work_in_later_atexit_hooks(repo_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LATE_READER, str(repo_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "late reads ok" in done.stdout, done.stderr
