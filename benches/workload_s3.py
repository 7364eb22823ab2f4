"""Workload s3, the worker's side: the array of workload a on an S3-compatible server.

Run by ``workloads.py --workload s3`` inside a benchmark virtualenv, with ``--s3-endpoint``
(the latency-adding proxy in front of ``run.py``'s S3 server) and ``--s3-bucket``. Like
the rest of the worker it imports only the standard library, numpy, zarr and the system under
test: ``icechunk`` (ours or the published wheel) or ``obstore`` (zarr's ``ObjectStore``).

Every timed sample also records its wall-clock window (``time.time()``, the proxy's clock) in
``info["s3_windows"]``; ``run.py`` cuts the proxy's request log by these windows to count the
requests and sequential round trips of each step. ``info["s3_chunk_marker"]`` says what the
path of a chunk object contains for this system.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import zarr
from bench_sizes import (
    ICECHUNK_SYSTEMS,
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    S3_SETTLE_S,
    S3_ZARR,
)

ARRAY = "a"


def s3_storage_kwargs(endpoint: str, bucket: str, prefix: str) -> dict[str, Any]:
    """The keyword arguments of ``icechunk.s3_storage`` for a prefix of the bucket behind the
    proxy: the same on our wheel and on the published one (workloads s3 and gcs3)."""
    return {
        "bucket": bucket,
        "prefix": prefix,
        "region": S3_REGION,
        "endpoint_url": endpoint,
        "allow_http": True,
        "access_key_id": S3_ACCESS_KEY_ID,
        "secret_access_key": S3_SECRET_ACCESS_KEY,
        "force_path_style": True,
    }


class S3System:
    """Write, commit and open one array at a prefix of the bucket, for one system."""

    def __init__(self, system: str, endpoint: str, bucket: str) -> None:
        self.system = system
        self.endpoint = endpoint
        self.bucket = bucket
        self.icechunk = system in ICECHUNK_SYSTEMS
        if self.icechunk:
            import icechunk

            self.ic: Any = icechunk
        elif system != S3_ZARR:
            raise SystemExit(f"workload s3 does not apply to {system!r}")

    # ---- icechunk: the same keyword arguments on our wheel and on the published one ---------
    def storage(self, prefix: str) -> Any:
        return self.ic.s3_storage(**s3_storage_kwargs(self.endpoint, self.bucket, prefix))

    # ---- zarr's own ObjectStore over obstore's S3Store ---------------------------------------
    def object_store(self, prefix: str, read_only: bool) -> Any:
        from obstore.store import S3Store

        s3 = S3Store(
            self.bucket,
            prefix=prefix,
            endpoint=self.endpoint,
            region=S3_REGION,
            access_key_id=S3_ACCESS_KEY_ID,
            secret_access_key=S3_SECRET_ACCESS_KEY,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
        return zarr.storage.ObjectStore(s3, read_only=read_only)

    # ---- the steps ---------------------------------------------------------------------------
    def write(self, prefix: str, h: ModuleType, data: np.ndarray, chunks: tuple[int, ...]) -> None:
        """Everything from nothing to durable data: a new repository, the array written, the
        commit (plain zarr: the writes themselves)."""
        if self.icechunk:
            repo = self.ic.Repository.create(self.storage(prefix))
            session = repo.writable_session("main")
            arr = h.create_array(session.store, ARRAY, data.shape, chunks)
            arr[...] = data
            session.commit("write all")
        else:
            arr = h.create_array(self.object_store(prefix, False), ARRAY, data.shape, chunks)
            arr[...] = data

    def open_store(self, prefix: str) -> Any:
        """A read-only store opened from scratch: Repository.open + readonly session on main,
        or a new ObjectStore (and a new obstore client)."""
        if self.icechunk:
            repo = self.ic.Repository.open(self.storage(prefix))
            return repo.readonly_session(branch="main").store
        return self.object_store(prefix, True)

    @property
    def chunk_marker(self) -> str:
        """What the path of a chunk object contains (icechunk: ``chunks/<id>``; zarr v3's
        default key encoding: ``<array>/c/<i>/<j>``)."""
        return "/chunks/" if self.icechunk else f"/{ARRAY}/c/"


def workload_s3(rec: Any, ctx: Any, h: ModuleType) -> None:
    """``rec``/``ctx``: the worker's Recorder and Ctx; ``h``: the worker module (helpers)."""
    if not ctx.s3_endpoint or not ctx.s3_bucket:
        raise SystemExit("workload s3 needs --s3-endpoint and --s3-bucket (run.py gives them)")
    shape, chunks = ctx.size["shape"], ctx.size["a_chunks"]
    data = h.make_data(shape, ctx.seed)
    rec.info["data_sha1"] = h.checksum(data)
    rec.info["chunks"] = int(np.prod([s // c for s, c in zip(shape, chunks, strict=True)]))
    system = S3System(ctx.system, ctx.s3_endpoint, ctx.s3_bucket)
    rec.info["s3_chunk_marker"] = system.chunk_marker
    # zarr's limit on concurrent store calls: for every system here, N chunks cost at least
    # N / this many sequential round trips
    rec.info["zarr_concurrency"] = zarr.config.get("async.concurrency")
    base = f"{ctx.label}-rep{ctx.rep}-{uuid.uuid4().hex[:8]}"  # ours-pipeline: not "ours"
    rec.info["s3_prefix"] = base
    windows: dict[str, list[list[float]]] = {}
    rec.info["s3_windows"] = windows

    def timed(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn``, recording the wall-clock window of every successful call."""

        def run() -> Any:
            t0 = time.time()
            out = fn()
            windows.setdefault(name, []).append([t0, time.time()])
            return out

        return run

    # As in workload a: bulk steps repeated in-process (median), a fresh prefix each time.
    bulk = min(3, ctx.inner) if rec.info["chunks"] <= 1000 else 1
    attempt = iter(range(bulk))
    written: list[str] = []

    def write_commit() -> None:
        prefix = f"{base}/w{next(attempt)}"
        system.write(prefix, h, data, chunks)
        written.append(prefix)

    rec.step("write_commit", timed("write_commit", write_commit), inner=bulk, settle=S3_SETTLE_S)
    if not written:
        return
    prefix = written[-1]

    h.read_steps(
        rec,
        lambda: system.open_store(prefix),
        data,
        chunks,
        bulk=bulk,
        inner=ctx.inner,
        timed=timed,
        settle=S3_SETTLE_S,
    )
