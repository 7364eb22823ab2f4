"""Driver of test_exit.py: forked children read through icechunk, then exit normally.

    python -X faulthandler _exit_driver.py REPO CORRUPT CANCEL JOBS LOG_DIR

Imports everything once, then forks CORRUPT + CANCEL children, JOBS at a time. The
parent never starts the icechunk runtime nor zarr's I/O thread (it checks), so each
child starts both fresh. A child runs one scenario against the repository REPO:

- ``corrupt``: reads the whole array ``bad`` with zarr's synchronous API; one of its
  chunk objects is damaged, so the read raises ``icechunk.FormatError`` while reads of
  other chunks are still in flight;
- ``cancel``: reads the whole array ``good`` with zarr's asynchronous API under
  ``asyncio.wait_for`` with a timeout of a few milliseconds, cancelling the read midway.

Then the child falls off the END OF THIS SCRIPT like any program: atexit hooks, garbage
collection and module teardown, with the abandoned engine futures still finishing. Its
stdout and stderr go to LOG_DIR/<n>.log; it prints ``outcome: <what happened>``.

The parent reaps every child with ``os.waitpid`` and prints one JSON line: how many
children ended with each status (an exit code, or minus the signal that killed it), the
outcomes seen, and the logs of the children that did not exit cleanly.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import sys
from pathlib import Path

import zarr
import zarr.api.asynchronous
import zarr.core.sync

import icechunk as ic

FATAL = "Fatal Python error"


def _runtime_threads() -> list[str]:
    """Names of this process's threads that belong to the icechunk runtime."""
    names = (Path(task, "comm").read_text().strip() for task in Path("/proc/self/task").iterdir())
    return [name for name in names if name.startswith("icechunk")]


def run_corrupt(repo_path: str) -> str:
    repo = ic.Repository.open(ic.local_filesystem_storage(repo_path))
    array = zarr.open_array(repo.readonly_session(branch="main").store, path="bad", mode="r")
    try:
        array[:]
    except ic.FormatError:
        return "formaterror"
    raise AssertionError("reading the damaged array did not raise FormatError")


async def _read_with_timeout(repo_path: str, timeout: float) -> str:
    repo = ic.Repository.open(ic.local_filesystem_storage(repo_path))
    store = repo.readonly_session(branch="main").store
    array = await zarr.api.asynchronous.open_array(store=store, path="good", mode="r")
    try:
        await asyncio.wait_for(array.getitem(slice(None)), timeout)
    except TimeoutError:
        return "timeout"
    return "finished"


def run_cancel(repo_path: str, n: int) -> str:
    # All 64 chunk reads in flight at once (zarr's default is 10): more engine futures to
    # cancel. 0.5 to 4 ms: the read takes longer, so it is cancelled at various points.
    with zarr.config.set({"async.concurrency": 64}):
        return asyncio.run(_read_with_timeout(repo_path, 0.0005 * (1 + n % 8)))


def fork_children(
    repo_path: str, corrupt: int, cancel: int, jobs: int, log_dir: Path
) -> tuple[str, int] | None:
    """Forks the children. In a child, returns its (scenario, number); in the parent,
    reaps them all, prints the summary and returns None."""
    assert not _runtime_threads(), "the parent must not start the icechunk runtime"
    assert zarr.core.sync.iothread[0] is None, "the parent must not start zarr's I/O thread"
    schedule = [("corrupt", n) for n in range(corrupt)] + [
        ("cancel", corrupt + n) for n in range(cancel)
    ]
    # Imported objects go to the permanent generation: the children's collections (and
    # finalization) skip them instead of copying every page of the inherited heap.
    gc.freeze()
    running: dict[int, tuple[str, int]] = {}
    statuses: collections.Counter[int] = collections.Counter()
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    def reap_one() -> None:
        pid, status = os.waitpid(-1, 0)
        scenario, n = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        log = log_dir / f"{n}.log"
        text = log.read_text(errors="replace")
        statuses[code] += 1
        said = [line for line in text.splitlines() if line.startswith("outcome:")]
        outcome = said[0].split(":", 1)[1].strip() if said else "none"
        outcomes[f"{scenario}:{outcome}"] += 1
        if code != 0 or FATAL in text:
            if len(failures) < 5:
                failures.append(f"child {n} ({scenario}) ended with {code}:\n{text[-3000:]}")
        else:
            log.unlink()

    for scenario, n in schedule:
        while len(running) >= jobs:
            reap_one()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            fd = os.open(log_dir / f"{n}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            return scenario, n
        running[pid] = (scenario, n)
    while running:
        reap_one()
    summary = {
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "outcomes": dict(sorted(outcomes.items())),
        "failures": failures,
    }
    print(json.dumps(summary), flush=True)
    return None


repo_arg, corrupt_arg, cancel_arg, jobs_arg, log_dir_arg = sys.argv[1:]
job = fork_children(repo_arg, int(corrupt_arg), int(cancel_arg), int(jobs_arg), Path(log_dir_arg))
if job is not None:
    scenario, n = job
    outcome = run_corrupt(repo_arg) if scenario == "corrupt" else run_cancel(repo_arg, n)
    print(f"outcome: {outcome}", flush=True)
# The end of the script: the parent and every child exit through normal finalization.
