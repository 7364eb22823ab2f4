"""Workload sizes and which systems run which workload; shared by the worker and the runner.

Standard library only: ``run.py`` imports it under any Python, ``workloads.py`` inside
each benchmark virtualenv.
"""

from __future__ import annotations

from typing import Any

ICECHUNK_SYSTEMS = ("ours", "published")
ZARR_SYSTEMS = ("zarr-local", "zarr-memory")
# zarr's own ObjectStore (obstore) on S3: the plain-zarr floor of workload s3 only.
S3_ZARR = "zarr-obstore"
# Systems that are another system with an opt-in zarr codec pipeline: the same virtualenv and
# the same store (the base system's backend), the worker setting zarr's config to this before
# any array is opened. ours-pipeline: our `icechunk.CodecPipeline` (chunks batched in Rust);
# zarrs-pipeline: zarrs-python's pipeline over zarr's LocalStore, the Rust-pipeline floor on
# the same disk. zarrs runs strict: an unsupported batch raises instead of falling back to
# zarr's default pipeline, so its figures are never zarr's own in disguise.
OURS_PIPELINE = "ours-pipeline"
ZARRS_PIPELINE = "zarrs-pipeline"
PIPELINES: dict[str, dict[str, Any]] = {
    OURS_PIPELINE: {"codec_pipeline.path": "icechunk.CodecPipeline"},
    ZARRS_PIPELINE: {
        "codec_pipeline.path": "zarrs.ZarrsCodecPipeline",
        "codec_pipeline.strict": True,
    },
}
PIPELINE_BASE = {OURS_PIPELINE: "ours", ZARRS_PIPELINE: "zarr-local"}
PIPELINE_SYSTEMS = tuple(PIPELINES)
SYSTEMS = ICECHUNK_SYSTEMS + ZARR_SYSTEMS + (S3_ZARR,) + PIPELINE_SYSTEMS

# Workloads with a commit history or a commit cost make no sense on a plain zarr store.
# The pipeline systems run only where chunk data goes through zarr's codec pipeline in bulk:
# a, b and s3 (write and read of every chunk) and f (dask reads every chunk through the
# array). c writes one 1-byte chunk per commit and d ten-by-ten chunks (both measure the
# commit), e lists metadata, v reads virtual refs chunk by chunk and gc never reads data: the
# pipeline would change nothing there, and every process costs run time. zarrs-pipeline runs
# a and b only: its floor for the read-all and write targets (not an S3 or dask comparison).
APPLIES: dict[str, tuple[str, ...]] = {
    "a": ICECHUNK_SYSTEMS + ZARR_SYSTEMS + PIPELINE_SYSTEMS,
    "b": ICECHUNK_SYSTEMS + ZARR_SYSTEMS + PIPELINE_SYSTEMS,
    "c": ICECHUNK_SYSTEMS,
    "d": ICECHUNK_SYSTEMS,
    "e": ICECHUNK_SYSTEMS + ZARR_SYSTEMS,
    "f": ICECHUNK_SYSTEMS + ZARR_SYSTEMS + (OURS_PIPELINE,),
    "v": ICECHUNK_SYSTEMS,  # virtual chunk references: an icechunk feature
    "gc": ICECHUNK_SYSTEMS,  # expiry and garbage collection
    "s3": (*ICECHUNK_SYSTEMS, S3_ZARR, OURS_PIPELINE),
    # gc on S3 (run.py's S3 server behind the proxy of s3): the requests of expiry and
    # collection counted
    "gcs3": ICECHUNK_SYSTEMS,
    # Dask distributed writes of an xarray Dataset: the floor is zarr's to_zarr on LocalStore
    # on the same cluster. No MemoryStore: the workers are other processes, which cannot write
    # into a dict of this one. No pipeline systems: the workers write one chunk per task, so a
    # codec pipeline would see batches of one.
    "dw": (*ICECHUNK_SYSTEMS, "zarr-local"),
}
WORKLOADS = tuple(APPLIES)
# Workloads on run.py's S3 server (SeaweedFS or moto, behind the latency-adding proxy).
S3_WORKLOADS = ("s3", "gcs3")
# Repetitions capped for the plain-zarr floors where one costs most of a minute (b: 40,000
# files per write on LocalStore), so that a full run fits in about 10 minutes on 2 cores.
FLOOR_REPS: dict[tuple[str, str, str], int] = {
    ("full", "b", "zarr-local"): 2,
    ("full", "b", "zarr-memory"): 2,
    ("full", "b", ZARRS_PIPELINE): 2,  # LocalStore too: 40,000 files per write
    # dw: a process writes 13,700 chunks through a LocalCluster (about 1.5 minutes); the
    # published wheel is there for comparison only (the targets are ours vs LocalStore).
    ("full", "dw", "published"): 2,
}
# Workloads whose shared data is built once per system ("prepare"), before the repetitions.
PREPARED = ("c", "d", "e", "f")

# Workload s3: run.py's S3 server on 127.0.0.1, behind tests/_fault_proxy.py adding this much to
# every request (seconds); the array is that of workload a.
S3_LATENCY_S = 0.020
S3_BUCKET = "icechunk-bench"
S3_REGION = "us-east-1"
# moto and SeaweedFS (with none configured) accept any credentials; these only have to be the
# same on every request.
S3_ACCESS_KEY_ID = "AKIABENCHMARK0000001"
S3_SECRET_ACCESS_KEY = "bench-secret-access-key-for-moto"
# Untimed pause after every timed sample of workload s3: requests a system still makes after a
# step returned (a background write, say) then fall between the samples' windows, where run.py
# counts them as that step's "requests after it returned", not in the next sample.
S3_SETTLE_S = 0.2
# The target: sequential round trips before the first chunk byte of open + read one.
S3_ROUND_TRIPS_TARGET = 3

# "full" is the brief's; "quick" only proves the harness works (CI), in about two minutes.
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "shape": (2000, 2000),
        "a_chunks": (100, 100),  # 400 chunks of 40 KB
        "b_chunks": (10, 10),  # 40,000 chunks of 400 B
        "c_shapes": {"1e4": (100, 100), "1e5": (1000, 100), "1e6": (1000, 1000)},
        "d_commits": 1000,
        "e_groups": 10,
        "e_arrays_per_group": 100,
        # v: chunks that are all virtual refs, 4 bytes each, spread over this many files
        "v_counts": {"1e5": 100_000, "1e6": 1_000_000},
        "v_files": 100,
        # gc: commits, each writing this many one-element chunk objects (half become garbage)
        "g_commits": 1000,
        "g_chunks": 1000,
        # gcs3: the same on S3, smaller (moto, the fallback server, serves a few hundred requests a
        # second)
        "gs_commits": 100,
        "gs_chunks": 100,
        # dw: a Dask array of this grid of chunks, each chunk dw_chunks float64 (20 KB)
        "dw_chunks": (50, 50),
        "dw_grids": ((20, 20), (50, 50), (100, 100)),  # 400, 2,500 and 10,000 chunks
        # counts up to this are written 3 times per process (median): about a second each
        "dw_repeat_up_to": 1000,
    },
    "quick": {
        "shape": (200, 200),
        "a_chunks": (20, 20),  # 100 chunks of 1.6 KB
        "b_chunks": (4, 4),  # 2,500 chunks of 64 B
        "c_shapes": {"1e2": (10, 10), "1e3": (100, 10), "1e4": (100, 100)},
        "d_commits": 30,
        "e_groups": 4,
        "e_arrays_per_group": 10,
        "v_counts": {"1e3": 1_000, "1e4": 10_000},
        "v_files": 10,
        "g_commits": 20,
        "g_chunks": 50,
        "gs_commits": 10,
        "gs_chunks": 10,
        "dw_chunks": (50, 50),
        "dw_grids": ((10, 10), (20, 20)),  # 100 and 400 chunks
        "dw_repeat_up_to": 0,  # once each: the quick run only proves the harness
    },
}


def describe(size: str, s3_server: str = "moto") -> dict[str, str]:
    """One line per workload saying what it does at this size (for the report)."""
    s = SIZES[size]
    shape = s["shape"]

    def grid(chunks: tuple[int, int]) -> str:
        n = (shape[0] // chunks[0]) * (shape[1] // chunks[1])
        kb = chunks[0] * chunks[1] * 4
        return f"{n:,} chunks of {chunks[0]}x{chunks[1]} ({kb:,} B)"

    dims = f"{shape[0]}x{shape[1]} float32, no compressor"
    c_sizes = ", ".join(f"{a * b:,} chunks ({a}x{b})" for a, b in s["c_shapes"].values())
    n_arrays = s["e_groups"] * s["e_arrays_per_group"]
    return {
        "a": f"{dims}, {grid(s['a_chunks'])}",
        "b": f"{dims}, {grid(s['b_chunks'])}",
        "c": f"one-chunk change + commit in uint8 arrays of 1x1 chunks: {c_sizes}",
        "d": f"{s['d_commits']:,} commits of one 10x10 chunk each, then ancestry and a diff "
        "across all of them",
        "e": f"{n_arrays:,} arrays in {s['e_groups']} groups: list_dir and getsize_prefix",
        "f": "dask.array.from_zarr over the array of (a), threads scheduler, 8 threads, "
        "sum of every chunk",
        "v": "virtual chunk references: uint8 arrays of "
        + " and ".join(f"{n:,}" for n in s["v_counts"].values())
        + f" chunks of 4 B, every chunk a ref into {s['v_files']} local files (file://): "
        "set all refs, commit, open + read one chunk, read 1,000 chunks",
        "g": "peak resident memory (ru_maxrss) of each benchmark process",
        "dw": "Dask distributed writes: a LocalCluster of 2 worker processes with 1 thread "
        "each; an xarray Dataset with one float64 variable on a Dask array of "
        + " / ".join(f"{a * b:,}" for a, b in s["dw_grids"])
        + f" chunks of {s['dw_chunks'][0]}x{s['dw_chunks'][1]} "
        f"({s['dw_chunks'][0] * s['dw_chunks'][1] * 8:,} B), written with "
        "to_icechunk + commit (icechunk) or to_zarr (LocalStore)",
        "s3": f"the array of (a) ({grid(s['a_chunks'])}) on {s3_server}'s S3 server on 127.0.0.1, "
        f"behind a proxy adding {S3_LATENCY_S * 1e3:.0f} ms to every request: write + commit, "
        "read all, open + read one chunk; requests and sequential round trips counted",
        "gcs3": f"expiry and garbage collection on S3 ({s3_server} and the proxy of s3, "
        f"{S3_LATENCY_S * 1e3:.0f} ms a request): {s['gs_commits']:,} commits of "
        f"{s['gs_chunks']:,} one-element chunk objects "
        f"({s['gs_commits'] * s['gs_chunks']:,} in all, half of them a deleted branch's "
        "garbage); timed in a fresh process: expire_snapshots at the midpoint of main, "
        "garbage_collect, garbage_collect again; requests per step counted, by method",
    }
