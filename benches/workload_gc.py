"""Workload gc, the worker's side: expiry and garbage collection at scale (issue 14, item 3).

Run by ``workloads.py --workload gc`` inside a benchmark virtualenv, for the icechunk systems
only, with nothing but Icechunk 2.3's public API: our wheel and the published one run the
very same code.

Setup (untimed): a repository on local disk whose chunks are all chunk objects (inline
threshold 0) and one int64 array of ``g_commits // 2 * g_chunks`` one-element chunks. Commit
k writes ``g_chunks`` chunks, at block ``k mod (g_commits // 2)``: the first half of the
commits fill the array, the second half overwrite every chunk once. So the repository holds
``g_commits * g_chunks`` chunk objects over ``g_commits`` snapshots, and once the first half of
history expires, half of them are garbage.

Timed: ``expire`` (``expire_snapshots`` at the midpoint), ``gc`` (``garbage_collect`` with
no grace period: the expired half goes), ``gc_again`` (nothing left to collect: the cost of a
collection that finds no garbage). The counts each reports are checked; the tip is read back
after the collection and checked.
"""

from __future__ import annotations

import datetime as dt
import time
from types import ModuleType
from typing import Any

import numpy as np
import zarr
from bench_sizes import ICECHUNK_SYSTEMS

ARRAY = "g"


def workload_gc(rec: Any, ctx: Any, h: ModuleType) -> None:
    """``rec``/``ctx``: the worker's Recorder and Ctx; ``h``: the worker module (helpers)."""
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload gc applies to icechunk systems only")
    import icechunk as ic

    commits: int = ctx.size["g_commits"]
    per_commit: int = ctx.size["g_chunks"]
    blocks = commits // 2
    n = blocks * per_commit
    path = ctx.data_dir / "repo-g"
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)), config)
    with repo.transaction("main", message="array") as store:
        zarr.create_array(store, name=ARRAY, shape=(n,), chunks=(1,), dtype="i8", fill_value=-1)
    midpoint = None
    t0 = time.perf_counter()
    for k in range(commits):
        if k == blocks:
            time.sleep(0.01)
            midpoint = dt.datetime.now(dt.UTC)
            time.sleep(0.01)
        block = k % blocks
        with repo.transaction("main", message=f"commit {k}") as store:
            array = zarr.open_array(store, path=ARRAY, mode="r+")
            array[block * per_commit : (block + 1) * per_commit] = np.arange(per_commit) + k
    rec.info["setup_s"] = round(time.perf_counter() - t0, 1)
    rec.info["chunk_objects"] = commits * per_commit
    rec.info["snapshots"] = commits + 2
    assert midpoint is not None

    expired = rec.step("expire", lambda: repo.expire_snapshots(midpoint))
    if expired is not None:
        rec.info["expired"] = len(expired)
    summary = rec.step("gc", lambda: repo.garbage_collect(dt.datetime.now(dt.UTC)))
    want = commits // 2 * per_commit
    if summary is not None:
        rec.info["gc_chunks_deleted"] = summary.chunks_deleted
        rec.info["gc_snapshots_deleted"] = summary.snapshots_deleted
        rec.info["gc_bytes_deleted"] = summary.bytes_deleted
        if summary.chunks_deleted != want:
            rec.errors["gc"] = f"deleted {summary.chunks_deleted} chunk objects, expected {want}"
            rec.metrics.pop("gc", None)
    again = rec.step("gc_again", lambda: repo.garbage_collect(dt.datetime.now(dt.UTC)))
    if again is not None and again.chunks_deleted != 0:
        rec.errors["gc_again"] = f"a second collection deleted {again.chunks_deleted} chunks"
        rec.metrics.pop("gc_again", None)
    # The tip reads back: block b holds the values of its last commit, blocks + b.
    got = zarr.open_array(repo.readonly_session("main").store, path=ARRAY, mode="r")[:]
    want_values = np.concatenate([np.arange(per_commit) + blocks + b for b in range(blocks)])
    if not np.array_equal(got, want_values):
        rec.errors["gc"] = "the tip reads back other values after the collection"
        rec.metrics.pop("gc", None)
    rec.info["peak_rss_mb_after_gc"] = h.peak_rss_mb()
