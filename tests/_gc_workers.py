"""Process bodies for tests/test_gc.py: a writer committing in a loop, a writer holding a
session open across several collections, and a collector expiring and collecting again and
again with a short grace period. Each reports what it did as JSON lines in a file."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import zarr

import icechunk as ic

N = 8  # chunks of array "a" (and of "b"), one int64 each, always chunk objects


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _report(out: Path, **record: object) -> None:
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")


def commit_loop(storage: ic.Storage, rounds: int, out: str) -> None:
    """Writes chunk i % N with the round number and commits; reports each acknowledged
    commit with the whole array it holds."""
    repo = ic.Repository.open(storage)
    for i in range(1, rounds + 1):
        session = repo.writable_session("main")
        array = zarr.open_array(session.store, path="a", mode="r+")
        array[i % N] = i
        values = array[:].tolist()
        snapshot = session.commit(f"round {i}")
        _report(Path(out), snapshot=snapshot, branch="main", values=values)
        time.sleep(0.05)


def hold_session(storage: ic.Storage, seconds: float, out: str) -> None:
    """Writes every chunk of array "b" on branch "hold", keeps the session open for
    `seconds` (several collections run meanwhile), then commits."""
    repo = ic.Repository.open(storage)
    session = repo.writable_session("hold")
    array = zarr.open_array(session.store, path="b", mode="r+")
    array[:] = np.arange(100, 100 + N)
    time.sleep(seconds)
    snapshot = session.commit("held")
    _report(Path(out), snapshot=snapshot, branch="hold", values=list(range(100, 100 + N)))


def collect_loop(storage: ic.Storage, seconds: float, grace: float, out: str) -> None:
    """Expires and collects again and again until `seconds` have passed."""
    repo = ic.Repository.open(storage)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cutoff = _now() - dt.timedelta(seconds=grace)
        expired = repo.expire_snapshots(cutoff)
        summary = repo.garbage_collect(cutoff)
        _report(
            Path(out),
            expired=len(expired),
            chunks=summary.chunks_deleted,
            snapshots=summary.snapshots_deleted,
            kept_for_sessions=summary.objects_kept_for_sessions,
        )
        time.sleep(0.1)
