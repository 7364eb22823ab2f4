"""Workload v, the worker's side: virtual chunk references at scale (issue 13, item 6).

Run by ``workloads.py --workload v`` inside a benchmark virtualenv, for the icechunk systems
only. It uses nothing but Icechunk 2.3's public API, so our wheel and the published one run
the very same code.

Setup (untimed): ``v_files`` source files under the data directory, each the bytes of many
4-byte chunks. Then, for every count N of ``v_counts``, a new repository whose one array
(uint8, shape (4N,), chunks (4,): N chunks of 4 bytes) has every chunk a virtual reference
into those files, chunk k at file k // (N / files), offset (k % (N / files)) * 4.

Timed: ``set_refs_<N>`` (``store.set_virtual_refs_arr`` of all N refs at once),
``commit_<N>``, ``open_read_one_<N>`` (from scratch: ``Repository.open`` +
``readonly_session`` + ``zarr.open_array`` + the middle chunk) and ``read_chunks_<N>``
(READ_CHUNKS contiguous chunks of an already opened array), ``read_batch_<N>`` (the same
chunks as one ``store.get_partial_values`` batch). Every value read is checked
against the bytes of the source files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import zarr
from bench_sizes import ICECHUNK_SYSTEMS

ARRAY = "v"
CHUNK_BYTES = 4  # uint8 chunks of 4 elements: a tiny payload, so the refs are the cost
READ_CHUNKS = 1000


def write_sources(folder: Path, files: int, chunks_per_file: int, seed: int) -> np.ndarray:
    """The source files, one row of the returned array each (its bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).integers(
        0, 255, size=(files, chunks_per_file * CHUNK_BYTES), dtype=np.uint8
    )
    for i in range(files):
        (folder / f"src{i:03d}.bin").write_bytes(data[i].tobytes())
    return data


class VirtualRepos:
    """Creates and opens the repositories of this workload: all of them allow reads from one
    ``file://`` prefix, the folder of the source files."""

    def __init__(self, folder: Path) -> None:
        import icechunk

        self.ic: Any = icechunk
        self.prefix = f"file://{folder}/"
        # The published 2.3 wheel asks for this explicit credential for a file:// container
        # (None still works there, with a warning); a wheel that lacks the name gets None.
        cred = getattr(getattr(icechunk, "credentials", None), "LocalFileSystemAccess", None)
        self.auth = {self.prefix: cred}
        self.folder = folder

    def storage(self, path: Path) -> Any:
        return self.ic.local_filesystem_storage(str(path))

    def create(self, path: Path) -> Any:
        config = self.ic.RepositoryConfig.default()
        config.set_virtual_chunk_container(
            self.ic.VirtualChunkContainer(
                self.prefix, self.ic.local_filesystem_store(str(self.folder))
            )
        )
        return self.ic.Repository.create(
            self.storage(path), config=config, authorize_virtual_chunk_access=self.auth
        )

    def open(self, path: Path) -> Any:
        # The container is stored in the repository's config by create; only the
        # authorization has to be given again.
        return self.ic.Repository.open(self.storage(path), authorize_virtual_chunk_access=self.auth)


def open_array(repos: VirtualRepos, path: Path) -> Any:
    """The array, opened from scratch: Repository.open + readonly session on main."""
    repo = repos.open(path)
    return zarr.open_array(repo.readonly_session(branch="main").store, path=ARRAY, mode="r")


def workload_virtual(rec: Any, ctx: Any, h: ModuleType) -> None:
    """``rec``/``ctx``: the worker's Recorder and Ctx; ``h``: the worker module (helpers)."""
    if ctx.system not in ICECHUNK_SYSTEMS:
        raise SystemExit("workload v applies to icechunk systems only")
    counts: dict[str, int] = ctx.size["v_counts"]
    files: int = ctx.size["v_files"]
    # One set of files serves every count: the smaller ones use the start of each file.
    folder = (ctx.data_dir / "sources").resolve()
    data = write_sources(folder, files, max(counts.values()) // files, ctx.seed)
    rec.info["data_sha1"] = h.checksum(data)
    repos = VirtualRepos(folder)
    for label, n in counts.items():
        one_count(rec, ctx, h, repos, data, label, n)


def one_count(
    rec: Any, ctx: Any, h: ModuleType, repos: VirtualRepos, data: np.ndarray, label: str, n: int
) -> None:
    """The four steps for one ref count, in a new repository."""
    files = data.shape[0]
    per_file = n // files
    # What the array holds once every ref is set: the used start of each file, in order.
    expected = data[:, : per_file * CHUNK_BYTES].reshape(-1)
    path = ctx.data_dir / f"repo-{label}"

    def new_session() -> Any:
        session = repos.create(path).writable_session("main")
        zarr.create_array(
            session.store,
            name=ARRAY,
            shape=(n * CHUNK_BYTES,),
            chunks=(CHUNK_BYTES,),
            dtype="uint8",
            compressors=None,
            fill_value=0,
        )
        return session

    # Untimed; its error (a wheel without virtual chunk containers) goes on the first row.
    session = rec.guard(f"set_refs_{label}", new_session)
    if session is None:
        return
    # The inputs are built before the timer: the step measures the engine, not Python.
    # The list shares the few path strings, so it costs 8 bytes per ref here.
    paths = [f"{repos.prefix}src{i:03d}.bin" for i in range(files)]
    refs: dict[str, Any] = {
        "array_path": ARRAY,
        "chunk_grid_shape": (n,),
        "locations": [paths[i // per_file] for i in range(n)],
        "offsets": np.arange(n, dtype=np.uint64) % np.uint64(per_file) * np.uint64(CHUNK_BYTES),
        "lengths": np.full(n, CHUNK_BYTES, dtype=np.uint64),
        "validate_containers": False,
        # A last-modified pin: reads fail if a file changed after it. The files are written
        # already; one second more covers file systems whose mtime is rounded up.
        "checksum": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
    }
    failed = rec.step(f"set_refs_{label}", lambda: session.store.set_virtual_refs_arr(**refs))
    if failed:  # the indices of the refs it refused
        rec.errors[f"set_refs_{label}"] = f"{len(failed)} refs not set, e.g. {failed[:3]}"
        rec.metrics.pop(f"set_refs_{label}", None)
    refs.clear()  # the inputs are not part of what the commit holds in memory
    if f"set_refs_{label}" in rec.errors:
        return
    rec.step(f"commit_{label}", lambda: session.commit("refs"))
    # ru_maxrss so far, for the JSON; the table's memory row is the whole process's peak.
    rec.info[f"peak_rss_mb_after_commit_{label}"] = h.peak_rss_mb()
    if f"commit_{label}" in rec.errors:
        return

    middle = n // 2 * CHUNK_BYTES
    one = slice(middle, middle + CHUNK_BYTES)
    got = rec.step(f"open_read_one_{label}", lambda: open_array(repos, path)[one], inner=ctx.inner)
    if got is not None and not np.array_equal(got, expected[one]):
        rec.errors[f"open_read_one_{label}"] = "the chunk read differs from the source file"
        rec.metrics.pop(f"open_read_one_{label}", None)

    # READ_CHUNKS chunks from the middle (all of them when there are fewer), through an array
    # opened once and warmed by one read, untimed: the manifest is loaded then, so this times
    # the reads alone (the open is measured above).
    first = max(0, min(n // 2, n - READ_CHUNKS)) * CHUNK_BYTES
    many = slice(first, first + min(n, READ_CHUNKS) * CHUNK_BYTES)

    def open_warm() -> Any:
        arr = open_array(repos, path)
        arr[one]
        return arr

    arr = rec.guard(f"read_chunks_{label}", open_warm)
    if arr is None:
        return
    got = rec.step(f"read_chunks_{label}", lambda: arr[many], inner=ctx.inner)
    if got is not None and not np.array_equal(got, expected[many]):
        rec.errors[f"read_chunks_{label}"] = "the chunks read differ from the source files"
        rec.metrics.pop(f"read_chunks_{label}", None)

    # The same chunks as one batch (``store.get_partial_values``, as a batching reader such
    # as a codec pipeline asks): neighbouring ranges of a file may be read together.
    store = arr.store
    keys = [
        (f"{ARRAY}/c/{k}", None) for k in range(many.start // CHUNK_BYTES, many.stop // CHUNK_BYTES)
    ]
    proto = zarr.core.buffer.default_buffer_prototype()

    def batch() -> Any:
        values = zarr.core.sync.sync(store.get_partial_values(proto, keys))
        return np.frombuffer(b"".join(v.to_bytes() for v in values), dtype="uint8")

    got = rec.step(f"read_batch_{label}", batch, inner=ctx.inner)
    if got is not None and not np.array_equal(got, expected[many]):
        rec.errors[f"read_batch_{label}"] = "the chunks read differ from the source files"
        rec.metrics.pop(f"read_batch_{label}", None)
