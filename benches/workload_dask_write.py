"""Workload dw, the worker's side: Dask distributed writes of an xarray Dataset (issue 16,
part 4).

Run by ``workloads.py --workload dw`` inside a benchmark virtualenv for ours, published and
zarr-local. It does what a Dask user does, and nothing of the engine's internals: the icechunk
systems use only Icechunk 2.3's public API, so our wheel and the published one run the very
same code.

Setup (untimed): a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
processes=True, dashboard_address=None)`` and its ``Client``, started once for the whole
process and closed at the end; then one small write of the same kind (untimed), so that the
workers' imports of xarray, zarr and icechunk and the first tasks of a fresh cluster are not
charged to the first chunk count measured (which would flatter the "cost per chunk flat"
target).

Timed, per chunk count N (``dw_grids`` in ``bench_sizes.SIZES``), on a fresh repository or
directory on local disk each time: an ``xarray.Dataset`` with one float64 variable ``v`` on a
Dask array of N chunks of ``dw_chunks`` (random values drawn by the workers, so no data travel
from the client), written as

- icechunk: ``session = repo.writable_session("main")``,
  ``icechunk.xarray.to_icechunk(ds, session)``, ``session.commit(...)`` ("write + commit";
  ``Repository.create`` is setup, untimed; the commit alone is also recorded);
- zarr-local: ``ds.to_zarr(zarr.storage.LocalStore(path), mode="w", zarr_format=3,
  consolidated=False)``: the floor.

Then (untimed) the data are checked: every one of the N chunks must exist, the dataset must
open with xarray, and a dozen chunks (corners, middle and a seeded sample) must equal the same
blocks of the source array, recomputed locally. A step that fails the check has its figure
removed and the reason recorded, so a broken write never passes.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from statistics import median
from types import ModuleType
from typing import Any

import numpy as np
import zarr
from bench_sizes import ICECHUNK_SYSTEMS

VAR = "v"
DIMS = ("y", "x")
APPLIES = (*ICECHUNK_SYSTEMS, "zarr-local")
CHECKED_CHUNKS = 12  # chunks compared value by value after every write
WARMUP_GRID = (2, 2)  # the untimed first write: 4 chunks


def workload_dask_write(rec: Any, ctx: Any, h: ModuleType) -> None:
    """``rec``/``ctx``: the worker's Recorder and Ctx; ``h``: the worker module (helpers)."""
    if ctx.system not in APPLIES:
        raise SystemExit(f"workload dw applies to {', '.join(APPLIES)} only")
    import dask
    import distributed
    import xarray as xr

    rec.info["xarray"] = xr.__version__
    rec.info["distributed"] = distributed.__version__
    writer = Writer(ctx.system)
    chunks: tuple[int, int] = tuple(ctx.size["dw_chunks"])  # type: ignore[assignment]
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        rec.info["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        # The client is the default scheduler from here on, as for any Dask user; the JSON
        # says so in case a configuration ever overrides it.
        rec.info["scheduler"] = type(getattr(dask.base.get_scheduler(), "__self__", None)).__name__
        warm = ctx.data_dir / "warmup"
        if rec.guard("warmup", lambda: writer.prepare(warm)) is not None:
            rec.guard("warmup", lambda: writer.write(warm, dataset(WARMUP_GRID, chunks, 0)))
        shutil.rmtree(warm, ignore_errors=True)
        for k, grid in enumerate(ctx.size["dw_grids"]):
            n = grid[0] * grid[1]
            # Sub-second counts are written a few times (median; a new repository each time),
            # like the bulk steps of workload a: the flatness target divides by them.
            repeats = min(3, ctx.inner) if n <= ctx.size["dw_repeat_up_to"] else 1
            write_n(
                rec, h, writer, ctx.data_dir, dataset(tuple(grid), chunks, ctx.seed + k), n, repeats
            )
        # Peak memory of the worker processes (the JSON's peak_rss_mb is the client's alone):
        # the icechunk systems' workers hold forks of the session.
        usage = rec.guard(
            "worker_rss", lambda: client.run(resource.getrusage, resource.RUSAGE_SELF)
        )
        if usage:
            rec.info["worker_peak_rss_mb"] = round(
                max(u.ru_maxrss for u in usage.values()) / 1024, 1
            )
    finally:
        client.close()
        cluster.close()


def write_n(
    rec: Any, h: ModuleType, writer: Writer, root: Path, ds: Any, n: int, repeats: int
) -> None:
    """Time ``repeats`` writes of ``ds`` (N chunks), each into a new repository or directory
    and checked afterwards; record the median as ``write_<N>`` (icechunk: the commit's part
    as ``commit_<N>``). A failed write or check records the error and no figure."""
    step = f"write_{n}"
    samples: list[float] = []
    commits: list[float] = []
    for attempt in range(repeats):
        path = root / f"n{n}-{attempt}"
        try:
            writer.prepare(path)
            t0 = time.perf_counter()
            commit_s = writer.write(path, ds)
            samples.append(time.perf_counter() - t0)
            problem = check(writer, path, ds, n)
        except Exception as e:
            rec.errors[step] = h._error_text(e)
            return
        finally:
            shutil.rmtree(path, ignore_errors=True)  # 10,000 chunks are 200 MB on disk
        if problem:
            rec.errors[step] = problem
            return
        if commit_s is not None:
            commits.append(commit_s)
    rec.metrics[step] = median(samples)
    if len(samples) > 1:
        rec.info[f"{step}.samples"] = samples
    if commits:
        rec.metrics[f"commit_{n}"] = median(commits)


def dataset(grid: tuple[int, int], chunks: tuple[int, int], seed: int) -> Any:
    """One float64 variable on a Dask array of grid[0] x grid[1] chunks of ``chunks``: random
    values, each block drawn by the task that writes it (seeded: the same for every system,
    and recomputable for the check)."""
    import dask.array as da
    import xarray as xr

    shape = (grid[0] * chunks[0], grid[1] * chunks[1])
    x = da.random.default_rng(seed).random(shape, chunks=chunks, dtype="float64")
    return xr.Dataset({VAR: (DIMS, x)})


class Writer:
    """Writes a Dataset for one system; ``write`` returns the commit's seconds (or None)."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.repo: Any = None
        self.icechunk = system in ICECHUNK_SYSTEMS
        if self.icechunk:
            import icechunk
            import icechunk.xarray  # imported here, not inside the timer

            self.ic: Any = icechunk

    def prepare(self, path: Path) -> bool:
        """Untimed setup of a write: a new repository (icechunk); zarr's LocalStore makes its
        directory itself when the first key is written."""
        if self.icechunk:
            self.repo = self.ic.Repository.create(self.ic.local_filesystem_storage(str(path)))
        return True

    def write(self, path: Path, ds: Any) -> float | None:
        """The timed part: everything a user waits for, from a repository (or an empty
        directory) to durable data. Returns the commit's own seconds (icechunk)."""
        if self.icechunk:
            session = self.repo.writable_session("main")
            self.ic.xarray.to_icechunk(ds, session)
            t0 = time.perf_counter()
            session.commit("dask distributed write")
            return time.perf_counter() - t0
        ds.to_zarr(zarr.storage.LocalStore(str(path)), mode="w", zarr_format=3, consolidated=False)
        return None

    def read_store(self, path: Path) -> Any:
        if self.icechunk:
            repo = self.ic.Repository.open(self.ic.local_filesystem_storage(str(path)))
            return repo.readonly_session(branch="main").store
        return zarr.storage.LocalStore(str(path), read_only=True)


def check(writer: Writer, path: Path, ds: Any, n: int) -> str:
    """What is wrong with the data written at ``path`` ("": nothing). Untimed."""
    import dask
    import xarray as xr

    store = writer.read_store(path)
    arr = zarr.open_array(store, path=VAR, mode="r")
    source = ds[VAR].data
    if arr.shape != source.shape or arr.dtype != np.float64:
        return f"array is {arr.shape} {arr.dtype}, expected {source.shape} float64"
    stored = arr.nchunks_initialized
    if stored != n:
        return f"{stored} chunks stored, expected {n}"
    back = xr.open_zarr(store, consolidated=False, zarr_format=3)
    if back[VAR].dims != DIMS:
        return f"xarray reads dims {back[VAR].dims}, expected {DIMS}"
    grid = source.numblocks
    rng = np.random.default_rng(n)
    picks = {(0, 0), (grid[0] - 1, grid[1] - 1), (grid[0] // 2, grid[1] // 2), (0, grid[1] - 1)}
    while len(picks) < min(CHECKED_CHUNKS, n):
        picks.add((int(rng.integers(grid[0])), int(rng.integers(grid[1]))))
    picks_list = sorted(picks)
    # The expected blocks, recomputed in this process (same graph, same seeds).
    expected = dask.compute(*(source.blocks[i, j] for i, j in picks_list), scheduler="sync")
    cy, cx = source.chunksize
    for (i, j), want in zip(picks_list, expected, strict=True):
        got = arr[i * cy : (i + 1) * cy, j * cx : (j + 1) * cx]
        if not np.array_equal(got, want):
            return f"chunk ({i}, {j}) reads back other values than were written"
    return ""
