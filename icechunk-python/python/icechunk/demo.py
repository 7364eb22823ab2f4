"""``python -m icechunk demo [PATH]``: the talk "Zarr in Production Using Icechunk", played
on local disk.

First plain Zarr on a ``LocalStore``: an ingest that breaks midway leaves a mix of old and
new values, a reader beside a writer sees torn data, and there is no undo. Then the same
scenarios on an icechunk repository: the broken ingest leaves the old version, readers only
ever see whole versions, ``reset_branch`` undoes a commit, and a tag keeps a version
readable.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

import icechunk as ic

NUM_ROWS = 1_000
NUM_COLS = 2
FAIL_AFTER = 1_234  # element writes before the ingest "breaks" (of 2,000)


def say(text: str = "") -> None:
    print(text, flush=True)


def create_array(store: Any) -> None:
    # As in the talk; zarr >= 3.4 wants the dtype on the data, not beside it.
    zarr.create_array(store=store, chunks=(1, 1), data=np.zeros((NUM_ROWS, NUM_COLS), np.int8))


def mean(store: Any) -> float:
    array = zarr.open_array(store, mode="r")
    col = random.randint(0, NUM_COLS - 1)
    return float(np.mean(np.asarray(array[:, col])))


def ingest(store: Any) -> None:
    """The talk's ingest loop; it breaks after FAIL_AFTER writes (the talk: at random)."""
    array = zarr.open_array(store)
    written = 0
    for x in range(NUM_ROWS):
        for y in range(NUM_COLS):
            array[x, y] = 1
            written += 1
            if written == FAIL_AFTER:
                raise ValueError("ingest broke")


def describe(m: float) -> str:
    return "" if m in (0.0, 1.0) else "   <- torn: part old data, part new"


# ---- the reader process ----------------------------------------------------------------
def _open_plain(path: str) -> Callable[[], Any]:
    return lambda: LocalStore(path, read_only=True)


def _open_icechunk(path: str) -> Callable[[], Any]:
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    # As in the talk: every read opens a new read-only session on the branch tip.
    return lambda: repo.readonly_session(branch="main").store


def reader(kind: str, path: str, started: Any, stop: Any, means: Any) -> None:
    """Print the mean of a random column until told to stop, then read once more."""
    open_store = (_open_plain if kind == "plain" else _open_icechunk)(path)
    while True:
        last = stop.is_set()
        m = mean(open_store())
        means.put(m)
        print(f"    reader | Mean is {m:.3f}{describe(m)}", flush=True)
        started.set()
        if last:
            return


def beside_a_reader(kind: str, path: str, write: Callable[[], None]) -> list[float]:
    """Run ``write`` here while a reader process prints means; return what it read."""
    ctx = mp.get_context("spawn")
    started, stop, means = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=reader, args=(kind, path, started, stop, means))
    proc.start()
    try:
        if not started.wait(timeout=120):
            raise RuntimeError("the reader process did not start")
        write()
        say("    writer | done")
    finally:
        stop.set()
        proc.join(timeout=120)
        if proc.is_alive():
            proc.kill()
    seen = []
    while not means.empty():
        seen.append(means.get())
    return seen


# ---- act 1: plain zarr ----------------------------------------------------------------
def plain_zarr(path: str) -> dict[str, Any]:
    say("=== 1. Plain Zarr on a LocalStore " + "=" * 42)
    say(f"A {NUM_ROWS} x {NUM_COLS} int8 array of zeros, one chunk per element, at {path}")
    create_array(LocalStore(path))

    say("\nThe problem of interrupted updates: an ingest sets every element to 1, and breaks.")
    try:
        ingest(LocalStore(path))
    except ValueError as e:
        say(f"    writer | {e} after {FAIL_AFTER} of {NUM_ROWS * NUM_COLS} writes")
    partial = float(np.mean(np.asarray(zarr.open_array(LocalStore(path), mode="r")[:])))
    say(f"    Mean of the whole array is now {partial:.3f}: half-written data, for everyone.")

    say("\nNo undo: the old values are gone; we rewrite the zeros by hand.")
    zarr.open_array(LocalStore(path))[:] = 0

    say("\nThe problem with concurrent readers: a writer sets array[:] = 1 beside a reader.")
    seen = beside_a_reader("plain", path, lambda: _set_all_plain(path))
    torn = [m for m in seen if m not in (0.0, 1.0)]
    say(f"    {len(torn)} of {len(seen)} reads were torn.")
    return {"partial": partial, "seen": seen, "torn": torn}


def _set_all_plain(path: str) -> None:
    zarr.open_array(LocalStore(path))[:] = 1


# ---- act 2: icechunk -------------------------------------------------------------------
def icechunk_repo(path: str) -> dict[str, Any]:
    say("\n=== 2. The same on an icechunk repository " + "=" * 34)
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    with repo.transaction("main", message="zeros") as store:
        create_array(store)
    zeros = repo.lookup_branch("main")
    say(f"Repository at {path}; main is at snapshot {zeros} (all zeros)")

    say("\nInterrupted update: the same ingest, inside repo.transaction(...), breaks.")
    try:
        with repo.transaction("main", message="ingest") as store:
            ingest(store)
    except ValueError as e:
        say(f"    writer | {e} after {FAIL_AFTER} writes: nothing was committed")
    after_ingest = mean(repo.readonly_session(branch="main").store)
    tip = repo.lookup_branch("main")
    say(f"    Mean is {after_ingest:.3f}; main is still at {tip}: the old version.")

    say("\nConcurrent readers: a writer commits array[:] = 1 beside a reader.")

    def update() -> None:
        with repo.transaction("main", message="Update done") as store:
            zarr.open_array(store)[:] = 1

    seen = beside_a_reader("icechunk", path, update)
    say(f"    The reader saw only {sorted(set(seen))} in {len(seen)} reads: whole versions.")
    ones = repo.lookup_branch("main")
    repo.create_tag("all-ones", ones)
    say("\nHistory of main (repo.ancestry); the update is tagged 'all-ones':")
    for info in repo.ancestry(branch="main"):
        say(f"    {info.id}  {info.written_at:%H:%M:%S}  {info.message}")

    say("\nUndo: the update was a mistake; point main back at the zeros.")
    repo.reset_branch("main", zeros)
    after_undo = mean(repo.readonly_session(branch="main").store)
    say(f"    repo.reset_branch('main', '{zeros}')  ->  Mean is {after_undo:.3f}")
    by_tag = mean(repo.readonly_session(tag="all-ones").store)
    say(f"    The undone version is kept: readonly_session(tag='all-ones') -> Mean is {by_tag:.3f}")
    by_id = mean(repo.readonly_session(snapshot_id=ones).store)
    say(f"    ... and by snapshot id {ones}  ->  Mean is {by_id:.3f}")
    return {
        "after_ingest": after_ingest,
        "seen": seen,
        "after_undo": after_undo,
        "by_tag": by_tag,
    }


def run(path: str | None = None) -> int:
    started = time.monotonic()
    if path is None:
        base = Path(tempfile.mkdtemp(prefix="icechunk-demo-"))
        cleanup = True
    else:
        base, cleanup = Path(path), False
        taken = [p for p in ("plain-zarr", "icechunk-repo") if (base / p).exists()]
        if taken:
            say(f"{base} already has {', '.join(taken)}: give an empty or new directory.")
            return 2
        base.mkdir(parents=True, exist_ok=True)
    try:
        plain = plain_zarr(str(base / "plain-zarr"))
        ours = icechunk_repo(str(base / "icechunk-repo"))
    finally:
        if cleanup:
            shutil.rmtree(base, ignore_errors=True)

    ok = (
        set(ours["seen"]) <= {0.0, 1.0}
        and ours["after_ingest"] == 0.0
        and ours["after_undo"] == 0.0
        and ours["by_tag"] == 1.0
    )
    say("\n=== Summary " + "=" * 64)
    say(
        f"Plain Zarr: the broken ingest left a mean of {plain['partial']:.3f}; "
        f"{len(plain['torn'])} of {len(plain['seen'])} reads beside the writer were torn; "
        "no undo."
    )
    say(
        f"Icechunk:   the broken ingest left the old version ({ours['after_ingest']}); "
        f"reads beside the writer saw only {sorted(set(ours['seen']))}; "
        f"undo gave {ours['after_undo']}; the tag still reads {ours['by_tag']}."
    )
    say(f"({time.monotonic() - started:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))
