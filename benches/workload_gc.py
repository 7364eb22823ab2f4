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

Timed, in a fresh process of the same virtualenv (so that its peak RSS,
``collector_peak_rss_mb``, is the collection's, not the writes'): ``expire``
(``expire_snapshots`` at the end of ``main``'s history: all but its tip and the first
snapshot expire, which frees no chunk), ``gc`` (``garbage_collect`` with no grace period:
``scratch``'s snapshots and chunks and ``main``'s expired snapshots go), ``gc_again`` (nothing
left: the cost of a collection that finds no garbage). The counts each reports are checked,
and ten chunks of every block of the tip are read back after the collection.

Workload gcs3 does the very same on S3 (``run.py``'s S3 server behind its latency-adding proxy,
a fresh prefix of the bucket per process, the storage of workload s3): the collector reports
the wall-clock window (``time.time()``, the proxy's clock) of each timed step, which the worker
passes on in ``info["s3_windows"]``, so that ``run.py`` counts the requests of expire, gc and
gc_again (and by method: GET, list, PUT, DeleteObjects, DELETE). The read-back after the
collection is the untimed window ``check``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from types import ModuleType
from typing import Any

import numpy as np
import zarr
from bench_sizes import ICECHUNK_SYSTEMS, S3_SETTLE_S
from workload_s3 import s3_storage_kwargs

ARRAY = "g"
STEPS = ("expire", "gc", "gc_again")
GCS3_PAUSE_S = 3.0  # gcs3: untimed, between the last write and the collection


def workload_gc(rec: Any, ctx: Any, h: ModuleType) -> None:
    """``rec``/``ctx``: the worker's Recorder and Ctx; ``h``: the worker module (helpers)."""
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload gc applies to icechunk systems only")
    run_gc(rec, ctx, {"local": str(ctx.data_dir / "repo-g")}, "g_commits", "g_chunks")


def workload_gcs3(rec: Any, ctx: Any, h: ModuleType) -> None:
    """Workload gc on S3: the same setup, steps and checks; the requests of each step counted
    by ``run.py`` from the windows reported in ``info["s3_windows"]``."""
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload gcs3 applies to icechunk systems only")
    if not ctx.s3_endpoint or not ctx.s3_bucket:
        raise SystemExit("workload gcs3 needs --s3-endpoint and --s3-bucket (run.py gives them)")
    prefix = f"{ctx.label}-rep{ctx.rep}-gc-{uuid.uuid4().hex[:8]}"
    rec.info["s3_prefix"] = prefix
    windows: dict[str, list[list[float]]] = {}
    rec.info["s3_windows"] = windows
    spec = {
        "s3": s3_storage_kwargs(ctx.s3_endpoint, ctx.s3_bucket, prefix),
        # untimed pause after each step: background requests fall between the windows
        "settle": S3_SETTLE_S,
    }
    # Listed times on S3 are whole seconds: our collector keeps what was written within 2 s
    # of its start (its timestamp slack) rather than risk a chunk written just now. The
    # garbage must be older than that for both systems to delete all of it: a pause.
    run_gc(rec, ctx, spec, "gs_commits", "gs_chunks", windows, pause=GCS3_PAUSE_S)


def open_storage(ic: ModuleType, spec: dict[str, Any]) -> Any:
    """The storage a spec names: ``{"local": path}`` or ``{"s3": s3_storage's kwargs}`` (the
    collector's script below builds it the same way)."""
    if "s3" in spec:
        return ic.s3_storage(**spec["s3"])
    return ic.local_filesystem_storage(spec["local"])


def run_gc(
    rec: Any,
    ctx: Any,
    spec: dict[str, Any],
    commits_key: str,
    chunks_key: str,
    windows: dict[str, list[list[float]]] | None = None,
    pause: float = 0.0,
) -> None:
    """Setup, then expire + gc + gc_again in a child process, then the checks, on the storage
    of ``spec``; ``windows``: where the wall-clock windows of the steps go (S3), or None;
    ``pause``: seconds between the setup and the collection (untimed)."""
    import icechunk as ic

    commits: int = ctx.size[commits_key]
    per_commit: int = ctx.size[chunks_key]
    blocks = commits // 2
    n = blocks * per_commit
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = ic.Repository.create(open_storage(ic, spec), config)
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

    time.sleep(pause)
    # Timed in a fresh process: its peak memory is the collection's own, not that of the
    # zarr writes above (the issue bounds the collector's peak RSS).
    result = collect_in_child(spec, midpoint)
    if windows is not None:
        windows.update(result.get("windows", {}))
    for step in STEPS:
        if step in result["errors"]:
            rec.errors[step] = result["errors"][step]
        elif step in result["seconds"]:
            rec.metrics[step] = result["seconds"][step]
    rec.info.update(result["info"])
    t_check = time.time()
    want = blocks * per_commit
    deleted = result["info"].get("gc_chunks_deleted")
    if deleted is not None and deleted != want:
        rec.errors["gc"] = f"deleted {deleted} chunk objects, expected {want}"
        rec.metrics.pop("gc", None)
    again = result["info"].get("gc_again_chunks_deleted")
    if again:
        rec.errors["gc_again"] = f"a second collection deleted {again} chunks"
        rec.metrics.pop("gc_again", None)
    # The tip reads back: block b holds what commit b of main wrote (ten chunks of every
    # block, so that the check stays seconds, not minutes, at 500,000 live chunks).
    array = zarr.open_array(repo.readonly_session("main").store, path=ARRAY, mode="r")
    for b in range(blocks):
        start = b * per_commit
        got = array[start : start + min(10, per_commit)]
        if not np.array_equal(got, np.arange(len(got)) + b):
            rec.errors["gc"] = f"block {b} reads back other values after the collection"
            rec.metrics.pop("gc", None)
            break
    if windows is not None:
        windows["check"] = [[t_check, time.time()]]


# The collector: only icechunk imported, so that its peak RSS is the collection's. argv: the
# storage spec (JSON, as open_storage takes it) and the expiry's cut-off.
CHILD = """
import datetime as dt, json, resource, sys, time
import icechunk as ic

spec, midpoint = json.loads(sys.argv[1]), dt.datetime.fromisoformat(sys.argv[2])
if "s3" in spec:
    storage = ic.s3_storage(**spec["s3"])
else:
    storage = ic.local_filesystem_storage(spec["local"])
repo = ic.Repository.open(storage)
out = {"seconds": {}, "errors": {}, "info": {}, "windows": {}}

def step(name, fn):
    wall = time.time()
    t0 = time.perf_counter()
    try:
        result = fn()
    except Exception as e:
        out["errors"][name] = f"{type(e).__name__}: {e}"[:400]
        return None
    out["seconds"][name] = time.perf_counter() - t0
    out["windows"][name] = [[wall, time.time()]]
    time.sleep(spec.get("settle", 0))
    return result

expired = step("expire", lambda: repo.expire_snapshots(midpoint))
if expired is not None:
    out["info"]["expired"] = len(expired)
summary = step("gc", lambda: repo.garbage_collect(dt.datetime.now(dt.UTC)))
if summary is not None:
    out["info"]["gc_chunks_deleted"] = summary.chunks_deleted
    out["info"]["gc_snapshots_deleted"] = summary.snapshots_deleted
    out["info"]["gc_bytes_deleted"] = summary.bytes_deleted
again = step("gc_again", lambda: repo.garbage_collect(dt.datetime.now(dt.UTC)))
if again is not None:
    out["info"]["gc_again_chunks_deleted"] = again.chunks_deleted
out["info"]["collector_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def collect_in_child(spec: dict[str, Any], midpoint: dt.datetime) -> dict[str, Any]:
    """expire + gc + gc_again in a new interpreter of this virtualenv; its timings, counts,
    peak RSS and the wall-clock windows of its steps."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec), midpoint.isoformat()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        error = (done.stderr or done.stdout).strip()[-400:]
        return {
            "seconds": {},
            "errors": {"gc": f"collector failed: {error}"},
            "info": {},
            "windows": {},
        }
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def write_block(repo: Any, branch: str, block: int, per_commit: int, base: int) -> None:
    """One commit on ``branch`` writing block ``block`` with ``base, base + 1, ...``."""
    with repo.transaction(branch, message=f"block {block}") as store:
        array = zarr.open_array(store, path=ARRAY, mode="r+")
        array[block * per_commit : (block + 1) * per_commit] = np.arange(per_commit) + base
