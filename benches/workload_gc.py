"""Workload gc, the worker's side: expiry and garbage collection at scale (issue 14, item 3).

Run by ``workloads.py --workload gc`` inside a benchmark virtualenv, for the icechunk systems
only, with nothing but Icechunk 2.3's public API: our wheel and the published one run the
very same code.

Setup (untimed): a repository on local disk whose chunks are all chunk objects (inline
threshold 0) and one int64 array of ``g_commits // 2 * g_chunks`` one-element chunks. The
first half of the commits go to ``main``, commit k writing block k of ``g_chunks`` chunks;
the second half to a branch ``scratch`` made from ``main``'s tip, overwriting the blocks once
more, and ``scratch`` is then deleted. So the repository holds ``g_commits * g_chunks`` chunk
objects over ``g_commits`` snapshots, and half of them (``scratch``'s) are garbage.

Timed: ``expire`` (``expire_snapshots`` at the end of ``main``'s history: all but its tip
and the first snapshot expire, which frees no chunk), ``gc`` (``garbage_collect`` with no
grace period: ``scratch``'s snapshots and chunks and ``main``'s expired snapshots go),
``gc_again`` (nothing left: the cost of a collection that finds no garbage). The counts each
reports are checked, and the tip is read back after the collection.
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
    t0 = time.perf_counter()
    for k in range(blocks):
        write_block(repo, "main", k, per_commit, k)
    time.sleep(0.01)
    midpoint = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    repo.create_branch("scratch", repo.lookup_branch("main"))
    for k in range(blocks):
        write_block(repo, "scratch", k, per_commit, 1000 + k)
    repo.delete_branch("scratch")
    rec.info["setup_s"] = round(time.perf_counter() - t0, 1)
    rec.info["chunk_objects"] = commits // 2 * 2 * per_commit
    rec.info["snapshots"] = commits // 2 * 2 + 2

    expired = rec.step("expire", lambda: repo.expire_snapshots(midpoint))
    if expired is not None:
        rec.info["expired"] = len(expired)
    summary = rec.step("gc", lambda: repo.garbage_collect(dt.datetime.now(dt.UTC)))
    want = blocks * per_commit
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
    # The tip reads back: block b holds what commit b of main wrote.
    got = zarr.open_array(repo.readonly_session("main").store, path=ARRAY, mode="r")[:]
    want_values = np.concatenate([np.arange(per_commit) + b for b in range(blocks)])
    if not np.array_equal(got, want_values):
        rec.errors["gc"] = "the tip reads back other values after the collection"
        rec.metrics.pop("gc", None)
    rec.info["peak_rss_mb_after_gc"] = h.peak_rss_mb()


def write_block(repo: Any, branch: str, block: int, per_commit: int, base: int) -> None:
    """One commit on ``branch`` writing block ``block`` with ``base, base + 1, ...``."""
    with repo.transaction(branch, message=f"block {block}") as store:
        array = zarr.open_array(store, path=ARRAY, mode="r+")
        array[block * per_commit : (block + 1) * per_commit] = np.arange(per_commit) + base
