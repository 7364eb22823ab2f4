"""Benchmark worker: runs ONE phase of ONE workload for ONE system, prints one JSON line.

It is started by ``benches/run.py`` as a fresh subprocess inside the virtualenv of the
system under test (our wheel, the published ``icechunk`` wheel, or plain zarr), so it
must only import the standard library, numpy, zarr, dask and (for icechunk systems)
``icechunk`` (``obstore`` for zarr's ObjectStore in workload s3, in ``workload_s3.py``;
workload v is in ``workload_virtual.py``, gc and gcs3 in ``workload_gc.py``; xarray and
dask.distributed for workload dw, in ``workload_dask_write.py``). It never imports anything
from this repository outside ``benches/``.

    python workloads.py --system ours --workload a --phase run --size full \
        --data-dir /tmp/x --seed 42 --reps-inner 5

Phases: ``prepare`` builds data that several repetitions share (untimed except for the
figures it reports), ``run`` measures. Every measured step is guarded: a step that fails
records its error text under ``errors`` and the other steps still run. The last line of
stdout is a JSON object::

    {"system": ..., "workload": ..., "phase": ..., "metrics": {name: seconds},
     "errors": {name: text}, "info": {...}, "peak_rss_mb": float}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import zarr
from bench_sizes import ICECHUNK_SYSTEMS, OURS_PIPELINE, PIPELINE_BASE, PIPELINES, SIZES, SYSTEMS

ARRAY = "a"  # name of the array of workloads a, b, f
INNER_BUDGET_S = 1.0  # in-process repeats of one step stop after this much time
SET_BATCH = 100  # concurrent async store.set calls while populating (c): fastest here


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
class Recorder:
    """Collects timings and errors; a failing step never stops the others."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.info: dict[str, Any] = {}

    def step(self, name: str, fn: Callable[[], Any], *, inner: int = 1, settle: float = 0.0) -> Any:
        """Time ``fn`` up to ``inner`` times, record the median (seconds); return its last
        result. Repeats stop early once they have taken INNER_BUDGET_S (at least 3 samples
        where ``inner`` asks for 3 or more), so slow steps do not eat the run's time.
        ``settle``: seconds to wait, untimed, after each sample (so that work the system left
        running in the background is not counted in the next one; workload s3).

        On error, record the error text under ``name`` and return None.
        """
        samples: list[float] = []
        result = None
        try:
            for k in range(inner):
                if k >= min(3, inner) and sum(samples) > INNER_BUDGET_S:
                    break
                t0 = time.perf_counter()
                result = fn()
                samples.append(time.perf_counter() - t0)
                if settle > 0:
                    time.sleep(settle)
        except Exception as e:
            self.errors[name] = _error_text(e)
            return None
        self.metrics[name] = median(samples)
        if inner > 1:
            self.info[f"{name}.samples"] = samples
        return result

    def guard(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run an untimed step; on error record it and return None."""
        try:
            return fn()
        except Exception as e:
            self.errors[name] = _error_text(e)
            return None


def _error_text(e: BaseException) -> str:
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    text = f"{type(e).__name__}: {e}"
    return (text[:400] + " | " + "".join(tb[-3:]).strip()[-600:]).replace("\n", " ")


def sync(coro: Any) -> Any:
    """Run a coroutine on zarr's own event loop (the loop zarr's sync API uses)."""
    from zarr.core.sync import sync as zarr_sync

    return zarr_sync(coro)


async def _collect(ait: Any) -> list[Any]:
    return [x async for x in ait]


def make_data(shape: tuple[int, ...], seed: int, dtype: str = "float32") -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, 255, size=shape, dtype=np.uint8)


def peak_rss_mb() -> float:
    """ru_maxrss of this process (KiB on Linux), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checksum(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------
# systems: one small adapter per kind of store
# ---------------------------------------------------------------------------------------
class Backend:
    """A place to write and read zarr data, with a commit step where the system has one.

    ``path`` is a directory this backend owns (unused by the memory store).
    """

    name = ""
    commits = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        """Start an empty repository/store."""

    def write_store(self) -> Any:
        """A store that accepts writes (icechunk: a new writable session on main)."""
        raise NotImplementedError

    def commit(self, message: str) -> None:
        """Make the writes of the last ``write_store`` durable (plain zarr: nothing)."""

    def read_store(self) -> Any:
        """A fresh read-only view, opened from scratch (icechunk: Repository.open)."""
        raise NotImplementedError


class IcechunkBackend(Backend):
    commits = True

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path)
        import icechunk

        self.ic = icechunk
        self.name = name
        self.repo: Any = None
        self.session: Any = None

    def storage(self) -> Any:
        return self.ic.local_filesystem_storage(str(self.path))

    def create(self) -> None:
        self.repo = self.ic.Repository.create(self.storage())

    def open(self) -> Any:
        self.repo = self.ic.Repository.open(self.storage())
        return self.repo

    def write_store(self) -> Any:
        if self.repo is None:
            self.open()
        self.session = self.repo.writable_session("main")
        return self.session.store

    def commit(self, message: str) -> None:
        self.session.commit(message)
        self.session = None

    def read_store(self) -> Any:
        repo = self.ic.Repository.open(self.storage())
        return repo.readonly_session(branch="main").store


class LocalBackend(Backend):
    name = "zarr-local"

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def write_store(self) -> Any:
        return zarr.storage.LocalStore(str(self.path))

    def read_store(self) -> Any:
        return zarr.storage.LocalStore(str(self.path), read_only=True)


class MemoryBackend(Backend):
    """zarr's MemoryStore: lives in this process only, so 'open' reuses the same dict."""

    name = "zarr-memory"

    def create(self) -> None:
        self.store_dict: dict[str, Any] = {}

    def write_store(self) -> Any:
        return zarr.storage.MemoryStore(self.store_dict)

    def read_store(self) -> Any:
        return zarr.storage.MemoryStore(self.store_dict, read_only=True)


def backend_for(system: str, path: Path) -> Backend:
    if system in ICECHUNK_SYSTEMS:
        return IcechunkBackend(path, system)
    if system == "zarr-local":
        return LocalBackend(path)
    if system == "zarr-memory":
        return MemoryBackend(path)
    raise SystemExit(f"unknown system {system!r}")


def create_array(
    store: Any, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str = "float32"
) -> Any:
    return zarr.create_array(
        store=store,
        name=name,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressors=None,
        fill_value=0,
    )


def read_steps(
    rec: Recorder,
    open_store: Callable[[], Any],
    data: np.ndarray,
    chunks: tuple[int, ...],
    *,
    bulk: int,
    inner: int,
    timed: Callable[[str, Callable[[], Any]], Callable[[], Any]] = lambda name, fn: fn,
    settle: float = 0.0,
) -> None:
    """The read steps of workloads a, b and s3: read everything back, then open from scratch
    and read the chunk in the middle; both compared with the written data."""

    def read_all() -> np.ndarray:
        return zarr.open_array(open_store(), path=ARRAY, mode="r")[...]

    out = rec.step("read_all", timed("read_all", read_all), inner=bulk, settle=settle)
    if out is not None and not np.array_equal(out, data):
        rec.errors["read_all"] = "read back values differ from the written data"
        rec.metrics.pop("read_all", None)
    del out

    ci = tuple(s // 2 // c * c for s, c in zip(data.shape, chunks, strict=True))
    sl = tuple(slice(i, i + c) for i, c in zip(ci, chunks, strict=True))

    def open_read_one() -> np.ndarray:
        return zarr.open_array(open_store(), path=ARRAY, mode="r")[sl]

    one = rec.step(
        "open_read_one", timed("open_read_one", open_read_one), inner=inner, settle=settle
    )
    if one is not None and not np.array_equal(one, data[sl]):
        rec.errors["open_read_one"] = "read back chunk differs from the written data"
        rec.metrics.pop("open_read_one", None)


# ---------------------------------------------------------------------------------------
# codec pipelines: the systems ours-pipeline and zarrs-pipeline
# ---------------------------------------------------------------------------------------
def use_pipeline(rec: Recorder, system: str) -> bool:
    """Select the codec pipeline of a pipeline system in zarr's config, before any array is
    opened (zarr gives an array the configured pipeline when it makes the array object).
    Whether the system can run: False, with the error recorded, when the pipeline's class
    cannot be loaded (say zarrs is not installed), so the report says why it has no figures.
    """
    config = PIPELINES.get(system)
    if config is None:
        return True
    zarr.config.set(config)
    try:
        from zarr.registry import get_pipeline_class

        cls = get_pipeline_class()
    except Exception as e:
        path = config["codec_pipeline.path"]
        rec.errors["pipeline"] = f"codec pipeline {path}: {_error_text(e)}"
        return False
    rec.info["codec_pipeline"] = f"{cls.__module__}.{cls.__qualname__}"
    if system == OURS_PIPELINE:
        _count_fallbacks(rec, cls)
    return True


def _count_fallbacks(rec: Recorder, cls: type) -> None:
    """Count the batches our pipeline hands to zarr's default one (a selection or a store it
    does not cover, an error on its fast path): those figures are zarr's, not the engine's,
    and the report says so. Our pipeline falls back through ``super()``, i.e. the methods of
    zarr's BatchedCodecPipeline, which are wrapped here; the fast path never calls them, so
    it costs nothing there."""
    from zarr.core.codec_pipeline import BatchedCodecPipeline
    from zarr.storage import StorePath

    counts = {"read": 0, "write": 0}
    rec.info["pipeline_fallback_batches"] = counts

    def wrap(name: str) -> None:
        original = getattr(BatchedCodecPipeline, name)

        async def counted(self: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            # Batches of chunks in a store only: zarr's sharding codec decodes the inner
            # chunks of a shard with a pipeline of the configured class too. Our pipeline
            # hands a list over (a generator is left alone: it would be consumed here).
            if (
                isinstance(self, cls)
                and isinstance(batch, list)
                and any(isinstance(item[0], StorePath) for item in batch)
            ):
                counts[name] += 1
            return await original(self, batch, *args, **kwargs)

        setattr(BatchedCodecPipeline, name, counted)

    wrap("read")
    wrap("write")


# ---------------------------------------------------------------------------------------
# workloads a and b: one 2-D array, write + commit, read all, open + read one, change one
# ---------------------------------------------------------------------------------------
def workload_chunked(rec: Recorder, ctx: Ctx, chunks: tuple[int, ...]) -> None:
    shape = ctx.size["shape"]
    data = make_data(shape, ctx.seed)
    rec.info["data_sha1"] = checksum(data)
    rec.info["chunks"] = int(np.prod([s // c for s, c in zip(shape, chunks, strict=True)]))
    be = backend_for(ctx.system, ctx.data_dir / "repo0")
    # Sub-second bulk steps (a) are repeated in-process too (median); b's take seconds.
    bulk = min(3, ctx.inner) if rec.info["chunks"] <= 1000 else 1
    attempt = iter(range(bulk))
    commits: list[float] = []

    def write_commit() -> None:
        be.path = ctx.data_dir / f"repo{next(attempt)}"  # a new repository every time
        be.create()
        store = be.write_store()
        arr = create_array(store, ARRAY, shape, chunks)
        arr[...] = data
        t0 = time.perf_counter()
        be.commit("write all")
        commits.append(time.perf_counter() - t0)

    rec.step("write_commit", write_commit, inner=bulk)
    if "write_commit" in rec.errors:
        return
    if isinstance(be, IcechunkBackend):
        # The commit's part of the step: the target compares write + commit with
        # MemoryStore's write plus our commit (plain zarr has none).
        rec.metrics["write_commit_commit"] = median(commits)

    read_steps(rec, be.read_store, data, chunks, bulk=bulk, inner=ctx.inner)

    # Change one chunk and commit; the repository object is opened once (steady state).
    rng = np.random.default_rng(ctx.seed + 1)
    if isinstance(be, IcechunkBackend):
        rec.guard("change_one_commit", be.open)
    counter = iter(range(1_000_000))

    def change_one_commit() -> None:
        k = next(counter)
        block = rng.random(chunks, dtype=np.float32)
        store = be.write_store()
        arr = zarr.open_array(store, path=ARRAY, mode="r+")
        j = (k * chunks[1]) % shape[1]
        arr[0 : chunks[0], j : j + chunks[1]] = block
        be.commit(f"change chunk {k}")

    rec.step("change_one_commit", change_one_commit, inner=ctx.inner)


def workload_a(rec: Recorder, ctx: Ctx) -> None:
    workload_chunked(rec, ctx, ctx.size["a_chunks"])


def workload_b(rec: Recorder, ctx: Ctx) -> None:
    workload_chunked(rec, ctx, ctx.size["b_chunks"])


# ---------------------------------------------------------------------------------------
# workload c: one-chunk commit in arrays of growing chunk counts (cost must stay flat)
# ---------------------------------------------------------------------------------------
def _c_path(ctx: Ctx, label: str) -> Path:
    return ctx.data_dir / f"c-{label}"


def _populate(store: Any, name: str, shape: tuple[int, int], value: np.ndarray) -> str:
    """Write every (1, 1) uint8 chunk with raw store calls (zarr's codec pipeline would take
    many minutes for 10^6 chunks; with no compressor a chunk is just its one byte).

    Uses the store's synchronous ``set_sync`` (zarr's SupportsSyncStore) where it has one,
    else batches of concurrent async ``set``. Returns which way it went.
    """
    from zarr.core.buffer import default_buffer_prototype

    buf = default_buffer_prototype().buffer
    flat = value.reshape(-1)
    keys = (f"{name}/c/{i}/{j}" for i in range(shape[0]) for j in range(shape[1]))
    if hasattr(store, "set_sync"):
        for n, key in enumerate(keys):
            store.set_sync(key, buf.from_bytes(flat[n : n + 1].tobytes()))
        return "set_sync"

    async def go() -> None:
        batch: list[Any] = []
        for n, key in enumerate(keys):
            batch.append(store.set(key, buf.from_bytes(flat[n : n + 1].tobytes())))
            if len(batch) >= SET_BATCH:
                await asyncio.gather(*batch)
                batch = []
        if batch:
            await asyncio.gather(*batch)

    sync(go())
    return "async set"


def _c_cache(ctx: Ctx, label: str, shape: tuple[int, int]) -> Path | None:
    """Where a populated repository of the published wheel is kept between runs: its format
    never changes for one version, and populating 10^6 chunks through its async store
    takes minutes. Ours is populated afresh each run (its format may change)."""
    if ctx.system != "published" or ctx.cache_dir is None:
        return None
    import icechunk

    key = f"c-{ctx.system}-{icechunk.__version__}-{shape[0]}x{shape[1]}-seed{ctx.seed}"
    return ctx.cache_dir / key


def prepare_c(rec: Recorder, ctx: Ctx) -> None:
    import shutil

    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload c applies to icechunk systems only")
    for label, shape in ctx.size["c_shapes"].items():
        path = _c_path(ctx, label)
        be = backend_for(ctx.system, path)
        data = make_data(shape, ctx.seed, dtype="uint8")
        cache = _c_cache(ctx, label, shape)
        if cache is not None and (cache / "bench-complete").exists():
            shutil.copytree(cache / "repo", path)
            # Report the figures of the run that populated the cache (see _c_cache).
            done = json.loads((cache / "bench-complete").read_text())
            rec.info[f"populate_{label}"] = f"copied from {cache}"
            if "seconds" in done:
                rec.metrics[f"populate_{label}"] = done["seconds"]
                rec.info["cached_populate_date"] = done.get("date", "?")
                rss = max(done.get("peak_rss_mb", 0), rec.info.get("peak_rss_mb_override", 0))
                rec.info["peak_rss_mb_override"] = rss
        else:

            def populate(
                be: Backend = be, shape: tuple[int, int] = shape, data: np.ndarray = data
            ) -> str:
                be.create()
                store = be.write_store()
                create_array(store, ARRAY, shape, (1, 1), dtype="uint8")
                how = _populate(store, ARRAY, shape, data)
                be.commit("populate")
                return how

            how = rec.step(f"populate_{label}", populate)
            if how is None:
                continue
            rec.info[f"populate_{label}"] = how
            if cache is not None:
                shutil.rmtree(cache, ignore_errors=True)
                shutil.copytree(path, cache / "repo")
                done = {
                    "populate": how,
                    "seconds": rec.metrics[f"populate_{label}"],
                    "peak_rss_mb": peak_rss_mb(),
                    "date": time.strftime("%Y-%m-%d %H:%M"),
                }
                (cache / "bench-complete").write_text(json.dumps(done))

        def check(
            be: Backend = be, shape: tuple[int, int] = shape, data: np.ndarray = data
        ) -> None:
            arr = zarr.open_array(be.read_store(), path=ARRAY, mode="r")
            corner = arr[: min(5, shape[0]), : min(5, shape[1])]
            if not np.array_equal(corner, data[:5, :5]):
                raise AssertionError("populated values read back wrong")

        rec.guard(f"populate_{label}", check)


def workload_c(rec: Recorder, ctx: Ctx) -> None:
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload c applies to icechunk systems only")
    rng = np.random.default_rng(ctx.seed + ctx.rep)
    for label, shape in ctx.size["c_shapes"].items():
        path = _c_path(ctx, label)
        if not path.exists():
            rec.errors[f"commit_{label}"] = "not prepared (the prepare phase failed)"
            continue
        be = backend_for(ctx.system, path)
        assert isinstance(be, IcechunkBackend)
        if rec.guard(f"commit_{label}", be.open) is None:
            continue

        def change_one(be: Backend = be, shape: tuple[int, int] = shape) -> None:
            i, j = int(rng.integers(shape[0])), int(rng.integers(shape[1]))
            store = be.write_store()
            arr = zarr.open_array(store, path=ARRAY, mode="r+")
            arr[i, j] = int(rng.integers(0, 255))
            be.commit("one chunk")

        rec.step(f"commit_{label}", change_one, inner=ctx.inner)


# ---------------------------------------------------------------------------------------
# workload d: many commits, then ancestry and a diff across them
# ---------------------------------------------------------------------------------------
D_SHAPE, D_CHUNKS = (100, 100), (10, 10)


def prepare_d(rec: Recorder, ctx: Ctx) -> None:
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload d applies to icechunk systems only")
    be = backend_for(ctx.system, ctx.data_dir / "d-repo")
    assert isinstance(be, IcechunkBackend)
    be.create()
    store = be.write_store()
    create_array(store, ARRAY, D_SHAPE, D_CHUNKS)[...] = make_data(D_SHAPE, ctx.seed)
    be.commit("base")
    base = be.repo.lookup_branch("main")
    n = ctx.size["d_commits"]
    rng = np.random.default_rng(ctx.seed)
    per_row = D_SHAPE[1] // D_CHUNKS[1]

    def many_commits() -> None:
        for k in range(n):
            i = (k // per_row) % (D_SHAPE[0] // D_CHUNKS[0]) * D_CHUNKS[0]
            j = k % per_row * D_CHUNKS[1]
            arr = zarr.open_array(be.write_store(), path=ARRAY, mode="r+")
            arr[i : i + D_CHUNKS[0], j : j + D_CHUNKS[1]] = rng.random(D_CHUNKS, dtype=np.float32)
            be.commit(f"tiny change {k}")

    rec.step(f"commits_{n}", many_commits)
    (ctx.data_dir / "d-base.json").write_text(json.dumps({"base": base, "commits": n}))


def workload_d(rec: Recorder, ctx: Ctx) -> None:
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload d applies to icechunk systems only")
    meta = json.loads((ctx.data_dir / "d-base.json").read_text())
    be = backend_for(ctx.system, ctx.data_dir / "d-repo")
    assert isinstance(be, IcechunkBackend)

    def ancestry() -> int:
        repo = be.open()  # a fresh repository object: no cached snapshots
        return len(list(repo.ancestry(branch="main")))

    length = rec.step("ancestry", ancestry)
    if length is not None:
        rec.info["ancestry_len"] = length
        if length < meta["commits"] + 1:
            rec.errors["ancestry"] = f"ancestry has {length} entries, expected more"

    def diff() -> int:
        repo = be.open()
        d = repo.diff(from_snapshot_id=meta["base"], to_branch="main")
        return sum(len(v) for v in d.updated_chunks.values())

    changed = rec.step("diff", diff)
    if changed is not None:
        rec.info["diff_updated_chunks"] = changed


# ---------------------------------------------------------------------------------------
# workload e: list_dir and getsize_prefix over a hierarchy of many arrays
# ---------------------------------------------------------------------------------------
def _build_hierarchy(be: Backend, ctx: Ctx) -> None:
    be.create()
    store = be.write_store()
    root = zarr.open_group(store, mode="w")
    block = make_data((10, 10), ctx.seed)
    for g in range(ctx.size["e_groups"]):
        grp = root.create_group(f"g{g:02d}")
        for k in range(ctx.size["e_arrays_per_group"]):
            arr = grp.create_array(
                f"a{k:03d}",
                shape=(10, 10),
                chunks=(5, 5),
                dtype="float32",
                compressors=None,
                fill_value=0,
            )
            arr[...] = block
    be.commit("hierarchy")


def prepare_e(rec: Recorder, ctx: Ctx) -> None:
    if ctx.system == "zarr-memory":
        return  # built inside each run: the store lives in that process only
    be = backend_for(ctx.system, ctx.data_dir / "e-repo")
    rec.step("build_hierarchy", lambda: _build_hierarchy(be, ctx))


def workload_e(rec: Recorder, ctx: Ctx) -> None:
    be = backend_for(ctx.system, ctx.data_dir / "e-repo")
    if ctx.system == "zarr-memory":
        rec.guard("build_hierarchy", lambda: _build_hierarchy(be, ctx))
    store = rec.guard("open", be.read_store)
    if store is None:
        return
    groups = [f"g{g:02d}" for g in range(ctx.size["e_groups"])]
    n_arrays = ctx.size["e_groups"] * ctx.size["e_arrays_per_group"]

    def list_dir_root() -> list[str]:
        return sorted(sync(_collect(store.list_dir(""))))

    def list_dir_groups() -> int:
        return sum(len(sync(_collect(store.list_dir(g)))) for g in groups)

    def getsize_root() -> int:
        return int(sync(store.getsize_prefix("")))

    def getsize_group() -> int:
        return int(sync(store.getsize_prefix(groups[0])))

    names = rec.step("list_dir_root", list_dir_root, inner=ctx.inner)
    if names is not None:
        rec.info["root_entries"] = [*names[:3], "..."]
    entries = rec.step("list_dir_groups", list_dir_groups, inner=ctx.inner)
    if entries is not None and entries < n_arrays:
        rec.errors["list_dir_groups"] = f"listed {entries} entries, expected >= {n_arrays}"
        rec.metrics.pop("list_dir_groups", None)
    size = rec.step("getsize_prefix_root", getsize_root, inner=ctx.inner)
    chunk_bytes = n_arrays * 10 * 10 * 4
    if size is not None:
        rec.info["getsize_prefix_root"] = size
        if size < chunk_bytes:
            rec.errors["getsize_prefix_root"] = f"{size} bytes < {chunk_bytes} of chunks"
            rec.metrics.pop("getsize_prefix_root", None)
    rec.step("getsize_prefix_group", getsize_group, inner=ctx.inner)


# ---------------------------------------------------------------------------------------
# workload f: Dask, threaded scheduler with 8 threads, reading every chunk of (a)
# ---------------------------------------------------------------------------------------
def prepare_f(rec: Recorder, ctx: Ctx) -> None:
    if ctx.system == "zarr-memory":
        return

    def write() -> None:
        be = backend_for(ctx.system, ctx.data_dir / "f-repo")
        be.create()
        store = be.write_store()
        create_array(store, ARRAY, ctx.size["shape"], ctx.size["a_chunks"])[...] = make_data(
            ctx.size["shape"], ctx.seed
        )
        be.commit("write all")

    rec.step("write", write)


def workload_f(rec: Recorder, ctx: Ctx) -> None:
    import dask
    import dask.array as da

    be = backend_for(ctx.system, ctx.data_dir / "f-repo")
    data = make_data(ctx.size["shape"], ctx.seed)
    if ctx.system == "zarr-memory":
        be.create()
        create_array(be.write_store(), ARRAY, ctx.size["shape"], ctx.size["a_chunks"])[...] = data
    expected = float(data.sum(dtype=np.float64))
    del data

    def dask_read() -> float:
        arr = zarr.open_array(be.read_store(), path=ARRAY, mode="r")
        x = da.from_zarr(arr)
        with dask.config.set(scheduler="threads", num_workers=8):
            return float(x.sum(dtype=np.float64).compute())

    total = rec.step("dask_read_all", dask_read)
    if total is not None and not np.isclose(total, expected, rtol=1e-9):
        rec.errors["dask_read_all"] = f"sum {total} differs from {expected}"
        rec.metrics.pop("dask_read_all", None)


# ---------------------------------------------------------------------------------------
# workload s3: the array of (a) on moto's S3 server behind a latency-adding proxy
# ---------------------------------------------------------------------------------------
def workload_s3(rec: Recorder, ctx: Ctx) -> None:
    import workload_s3 as s3  # in its own module; it uses this one's helpers

    s3.workload_s3(rec, ctx, sys.modules[__name__])


# ---------------------------------------------------------------------------------------
# workload v: virtual chunk references at scale (set, commit, open + read)
# ---------------------------------------------------------------------------------------
def workload_v(rec: Recorder, ctx: Ctx) -> None:
    import workload_virtual as v  # in its own module; it uses this one's helpers

    v.workload_virtual(rec, ctx, sys.modules[__name__])


# ---------------------------------------------------------------------------------------
# workload gc: expiry and garbage collection at scale
# ---------------------------------------------------------------------------------------
def workload_gc(rec: Recorder, ctx: Ctx) -> None:
    import workload_gc  # in its own module; it uses this one's helpers

    workload_gc.workload_gc(rec, ctx, sys.modules[__name__])


def workload_gcs3(rec: Recorder, ctx: Ctx) -> None:
    import workload_gc  # gc on S3: the same code, another storage

    workload_gc.workload_gcs3(rec, ctx, sys.modules[__name__])


# ---------------------------------------------------------------------------------------
# workload dw: Dask distributed writes of an xarray Dataset (LocalCluster, 2 processes)
# ---------------------------------------------------------------------------------------
def workload_dw(rec: Recorder, ctx: Ctx) -> None:
    import workload_dask_write  # in its own module; it uses this one's helpers

    workload_dask_write.workload_dask_write(rec, ctx, sys.modules[__name__])


# ---------------------------------------------------------------------------------------
WORKLOADS: dict[str, dict[str, Any]] = {
    "a": {"run": workload_a},
    "b": {"run": workload_b},
    "c": {"run": workload_c, "prepare": prepare_c},
    "d": {"run": workload_d, "prepare": prepare_d},
    "e": {"run": workload_e, "prepare": prepare_e},
    "f": {"run": workload_f, "prepare": prepare_f},
    "v": {"run": workload_v},
    "gc": {"run": workload_gc},
    "gcs3": {"run": workload_gcs3},
    "s3": {"run": workload_s3},
    "dw": {"run": workload_dw},
}


class Ctx:
    def __init__(self, args: argparse.Namespace) -> None:
        # The store the workload runs on: a pipeline system is its base system's store
        # (ours-pipeline: our IcechunkBackend; zarrs-pipeline: LocalStore) with another codec
        # pipeline; ``label`` is the system as reported.
        self.system: str = PIPELINE_BASE.get(args.system, args.system)
        self.label: str = args.system
        self.workload: str = args.workload
        self.phase: str = args.phase
        self.size: dict[str, Any] = SIZES[args.size]
        self.data_dir: Path = Path(args.data_dir)
        self.seed: int = args.seed
        self.inner: int = args.inner
        self.rep: int = args.rep
        self.cache_dir: Path | None = Path(args.cache_dir) if args.cache_dir else None
        self.s3_endpoint: str | None = args.s3_endpoint
        self.s3_bucket: str | None = args.s3_bucket


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "zarr": zarr.__version__, "numpy": np.__version__}
    for mod in ("icechunk", "dask", "distributed", "xarray", "obstore", "zarrs"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:
            out[mod] = f"unavailable ({type(e).__name__})"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", choices=SYSTEMS)
    p.add_argument("--workload", choices=sorted(WORKLOADS))
    p.add_argument("--phase", choices=("prepare", "run"), default="run")
    p.add_argument("--size", choices=sorted(SIZES), default="full")
    p.add_argument("--data-dir", default=".")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--inner",
        type=int,
        default=5,
        help="in-process repetitions of the millisecond-scale steps (median)",
    )
    p.add_argument("--rep", type=int, default=0)
    p.add_argument("--cache-dir", help="where data that outlives a run may be kept")
    p.add_argument("--s3-endpoint", help="workloads s3 and gcs3: the S3 endpoint (run.py's proxy)")
    p.add_argument("--s3-bucket", help="workloads s3 and gcs3: an existing bucket on that endpoint")
    p.add_argument("--versions", action="store_true", help="print versions as JSON, exit")
    args = p.parse_args(argv)
    if args.versions:
        print(json.dumps(versions()))
        return 0
    if not args.system or not args.workload:
        p.error("--system and --workload are required")
    ctx = Ctx(args)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    fn = WORKLOADS[args.workload].get(args.phase)
    t0 = time.perf_counter()
    if fn is not None and use_pipeline(rec, args.system):
        try:
            fn(rec, ctx)
        except SystemExit:
            raise
        except Exception as e:  # an error outside any step: record it, still print JSON
            rec.errors["workload"] = _error_text(e)
    result = {
        "system": args.system,
        "workload": args.workload,
        "phase": args.phase,
        "rep": args.rep,
        "metrics": rec.metrics,
        "errors": rec.errors,
        "info": rec.info,
        "wall_s": time.perf_counter() - t0,
        # the whole process, interpreter and imports included; a prepare that copied cached
        # data reports the peak of the process that made them (workload c, published)
        "peak_rss_mb": rec.info.pop("peak_rss_mb_override", None) or peak_rss_mb(),
        "peak_rss_mb_actual": peak_rss_mb(),
        "pid": os.getpid(),
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
