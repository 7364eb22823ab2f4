"""``icechunk.CodecPipeline`` (issue 16, part 2): zarr's opt-in codec pipeline with chunks
decoded and encoded in Rust. Everything is checked against zarr's default pipeline on the same
repository: values read back, the chunk keys a write leaves, the errors raised; and that the
fast path really ran (or, for what it does not cover, that it handed the batch to zarr's)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.codecs
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.storage import StorePath

import icechunk as ic

DEFAULT = "zarr.core.codec_pipeline.BatchedCodecPipeline"
OURS = "icechunk.CodecPipeline"
SHAPE = (23, 31)

DTYPES = [
    "bool",
    "int8",
    "uint16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]
# name -> create_array keyword arguments (chunks (5, 8): partial edge chunks on both axes)
CODECS: dict[str, dict[str, Any]] = {
    "bytes": {"compressors": None},
    "zstd": {"compressors": zarr.codecs.ZstdCodec(level=1, checksum=True)},
    "gzip": {"compressors": zarr.codecs.GzipCodec(level=2)},
    "blosc": {"compressors": zarr.codecs.BloscCodec(cname="lz4", clevel=3, shuffle="shuffle")},
    "crc32c": {"compressors": zarr.codecs.Crc32cCodec()},
    "transpose": {"filters": [zarr.codecs.TransposeCodec(order=(1, 0))], "compressors": None},
    "sharded": {"shards": (10, 16), "compressors": zarr.codecs.ZstdCodec(level=1)},
}


@contextmanager
def pipeline(path: str) -> Iterator[None]:
    with zarr.config.set({"codec_pipeline.path": path}):
        yield


def of_a_store(pipe: Any, batch: Any) -> bool:
    """A batch of our pipeline of chunks in a store (not of inner chunks of a shard, which
    zarr's sharding codec decodes with a pipeline of the configured class too)."""
    return type(pipe) is ic.CodecPipeline and any(isinstance(item[0], StorePath) for item in batch)


class Fallbacks:
    """Counts the batches of chunks in a store that our pipeline handed to zarr's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        self.writes = 0
        read, write = BatchedCodecPipeline.read, BatchedCodecPipeline.write

        async def counted_read(pipe: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            self.reads += of_a_store(pipe, batch)
            return await read(pipe, batch, *args, **kwargs)

        async def counted_write(pipe: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            self.writes += of_a_store(pipe, batch)
            return await write(pipe, batch, *args, **kwargs)

        monkeypatch.setattr(BatchedCodecPipeline, "read", counted_read)
        monkeypatch.setattr(BatchedCodecPipeline, "write", counted_write)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> Fallbacks:
    return Fallbacks(monkeypatch)


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("complex"):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def fill_of(dtype: str) -> Any:
    return True if dtype == "bool" else 7


def write_everything(store: ic.IcechunkStore, dtype: str, codec: str) -> None:
    """The same writes, whichever pipeline: whole, partial and scalar, chunks back to fill
    value, chunks never written."""
    a = zarr.create_array(
        store,
        name="a",
        shape=SHAPE,
        chunks=(5, 8),
        dtype=dtype,
        fill_value=fill_of(dtype),
        **CODECS[codec],
    )
    a[:15, :] = sample(dtype, (15, SHAPE[1]))  # rows 15.. never written: missing chunks
    a[3:9, 4:27] = sample(dtype, (6, 23), seed=1)  # partial chunks
    a[11:13, 2:30] = fill_of(dtype)  # a scalar
    a[0:5, 0:8] = fill_of(dtype)  # a whole chunk back to the fill value: deleted
    zero_d = zarr.create_array(store, name="z", shape=(), dtype=dtype, fill_value=fill_of(dtype))
    zero_d[()] = sample(dtype, (1,), seed=2)[0]


SELECTIONS: list[Any] = [
    (slice(None), slice(None)),
    (slice(2, 19), slice(5, 30)),
    (slice(16, 23), slice(0, 31)),  # only missing chunks
    (slice(4, 5), slice(7, 9)),
    (slice(1, 22, 3), slice(None, None, 4)),  # strided: zarr's pipeline
    (6, slice(None)),  # an integer: zarr's pipeline
    (slice(None), 30),
]


def read_all(store: ic.IcechunkStore) -> list[Any]:
    a = zarr.open_array(store, path="a", mode="r")
    values = [a[sel] for sel in SELECTIONS]
    values.append(a.get_orthogonal_selection(([0, 5, 22], slice(3, 12))))
    values.append(zarr.open_array(store, path="z", mode="r")[()])
    return values


def keys_of(store: ic.IcechunkStore) -> list[str]:
    async def listed() -> list[str]:
        return sorted([key async for key in store.list()])

    return asyncio.run(listed())


def assert_same(want: list[Any], got: list[Any]) -> None:
    for w, g in zip(want, got, strict=True):
        assert np.asarray(w).dtype == np.asarray(g).dtype
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_reads_and_writes_equal_the_default_pipelines(
    tmp_path: Path, dtype: str, codec: str, fallbacks: Fallbacks
) -> None:
    stores = {}
    for name in (DEFAULT, OURS):
        repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path / name)))
        with pipeline(name):
            session = repo.writable_session("main")
            write_everything(session.store, dtype, codec)
            session.commit("written")
        stores[name] = repo.readonly_session(branch="main").store
    assert fallbacks.writes == 0, "every write of these is the fast path's"
    # The same chunks exist, whichever pipeline wrote them.
    assert keys_of(stores[OURS]) == keys_of(stores[DEFAULT])
    with pipeline(DEFAULT):
        want = read_all(stores[DEFAULT])
    for written_by in (DEFAULT, OURS):
        with pipeline(OURS):
            assert_same(want, read_all(stores[written_by]))
    # Strided and integer selections go to zarr's pipeline; boxes do not.
    assert fallbacks.reads == 2 * 4


def test_write_empty_chunks_as_configured(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    session = repo.writable_session("main")
    with pipeline(OURS):
        kept = zarr.create_array(
            session.store,
            name="kept",
            shape=(8,),
            chunks=(4,),
            dtype="i4",
            fill_value=0,
            config={"write_empty_chunks": True},
        )
        dropped = zarr.create_array(
            session.store, name="dropped", shape=(8,), chunks=(4,), dtype="i4", fill_value=0
        )
        kept[:] = 0
        dropped[:] = 0
        dropped[5] = 1  # an integer index: zarr's pipeline
        np.testing.assert_array_equal(dropped[:], [0, 0, 0, 0, 0, 1, 0, 0])
    keys = keys_of(session.store)
    assert "kept/c/0" in keys and "kept/c/1" in keys
    assert "dropped/c/0" not in keys and "dropped/c/1" in keys


def test_other_stores_and_unusual_arrays_use_zarrs_pipeline(
    tmp_path: Path, fallbacks: Fallbacks
) -> None:
    with pipeline(OURS):
        memory = zarr.create_array(zarr.storage.MemoryStore(), shape=(6,), chunks=(2,), dtype="f4")
        memory[:] = np.arange(6)
        np.testing.assert_array_equal(memory[:], np.arange(6, dtype="f4"))
        repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
        session = repo.writable_session("main")
        big = zarr.create_array(
            session.store, name="big", shape=(6,), chunks=(4,), dtype=">i4", fill_value=0
        )
        big[:] = np.arange(6)
        np.testing.assert_array_equal(big[:], np.arange(6))
        strings = zarr.create_array(session.store, name="s", shape=(3,), chunks=(2,), dtype=str)
        strings[:] = ["a", "bc", "def"]
        assert list(strings[:]) == ["a", "bc", "def"]
        order_f = zarr.create_array(
            session.store, name="f", shape=(3, 4), chunks=(2, 2), dtype="f8", config={"order": "F"}
        )
        order_f[:] = np.arange(12).reshape(3, 4)
        np.testing.assert_array_equal(order_f[:], np.arange(12).reshape(3, 4))
    # Handed to zarr's pipeline: the reads and writes of the MemoryStore, big-endian and string
    # arrays, and the read into the F-ordered output (the write's value is C-ordered).
    assert (fallbacks.writes, fallbacks.reads) == (3, 4)


def corrupt(repo_dir: Path, how: str) -> None:
    chunk_files = sorted((repo_dir / "chunks").iterdir())
    assert chunk_files
    for path in chunk_files:
        if how == "delete":
            os.remove(path)
        else:
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["delete", "flip"])
def test_storage_errors_are_the_default_pipelines(tmp_path: Path, how: str) -> None:
    repo_dir = tmp_path / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(repo_dir)))
    with repo.transaction("main", message="data") as store:
        # Chunks over the inline threshold: objects of their own.
        a = zarr.create_array(
            store, name="a", shape=(400,), chunks=(200,), dtype="f8", compressors=None
        )
        a[:] = np.arange(400)
    corrupt(repo_dir, how)
    errors = {}
    for name in (DEFAULT, OURS):
        with pipeline(name):
            fresh = ic.Repository.open(ic.local_filesystem_storage(str(repo_dir)))
            array = zarr.open_array(fresh.readonly_session(branch="main").store, path="a", mode="r")
            with pytest.raises(Exception) as caught:
                array[:]
            errors[name] = caught.value
    assert type(errors[OURS]) is type(errors[DEFAULT])
    assert str(errors[OURS]) == str(errors[DEFAULT])


def test_writes_to_a_read_only_session_fail_as_with_zarrs_pipeline(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    with repo.transaction("main", message="array") as store:
        zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="i2")
    store = repo.readonly_session(branch="main").store
    errors = []
    for name in (DEFAULT, OURS):
        with pipeline(name):
            array = zarr.open_array(store, path="a", mode="r")
            with pytest.raises(Exception) as caught:
                array[:] = 1
            errors.append(type(caught.value))
    assert errors[0] is errors[1]


def test_environment_variable_selects_the_pipeline(tmp_path: Path) -> None:
    """zarr's own switch, from the environment, in a fresh interpreter that has not imported
    icechunk before zarr asks for the class (zarr finds it through its entry point)."""
    import subprocess
    import sys

    code = (
        "import zarr, numpy as np\n"
        "from zarr.core.array import AsyncArray\n"
        "import icechunk as ic\n"
        f"repo = ic.Repository.create(ic.local_filesystem_storage({str(tmp_path)!r}))\n"
        "s = repo.writable_session('main')\n"
        "a = zarr.create_array(s.store, name='a', shape=(4,), chunks=(2,), dtype='i2')\n"
        "a[:] = 5\n"
        "print(type(a._async_array.codec_pipeline).__qualname__, a[:].tolist())\n"
    )
    env = {**os.environ, "ZARR_CODEC_PIPELINE__PATH": OURS}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["CodecPipeline", "[5,", "5,", "5,", "5]"]


def test_a_sharded_read_of_one_inner_chunk_reads_only_its_bytes(
    tmp_path: Path, fallbacks: Fallbacks
) -> None:
    """Reading one inner chunk of a shard fetches the index and that chunk, not the shard:
    bytes elsewhere in the shard are damaged, which a read of them would detect (chunk objects
    over 16 KiB carry a CRC per 16 KiB block, spec §6.4)."""
    repo_dir = tmp_path / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(repo_dir)))
    with repo.transaction("main", message="data") as store:
        a = zarr.create_array(
            store,
            name="a",
            shape=(100_000,),
            chunks=(1000,),
            shards=(100_000,),
            dtype="f8",
            compressors=None,
        )
        a[:] = np.arange(100_000)
    (shard,) = (repo_dir / "chunks").iterdir()
    data = bytearray(shard.read_bytes())
    data[100_000:600_000] = bytes(500_000)
    shard.write_bytes(bytes(data))
    with pipeline(OURS):
        fresh = ic.Repository.open(ic.local_filesystem_storage(str(repo_dir)))
        array = zarr.open_array(fresh.readonly_session(branch="main").store, path="a", mode="r")
        np.testing.assert_array_equal(array[0:1000], np.arange(1000))
        np.testing.assert_array_equal(array[99_000:], np.arange(99_000, 100_000))
        assert fallbacks.reads == 0
        with pytest.raises(Exception) as caught:
            array[20_000:21_000]
        # zarr 3.4 raises the store's error inside an exception group.
        assert any(isinstance(e, ic.IcechunkError) for e in leaf_errors(caught.value))


def leaf_errors(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaf_errors(inner)]
    return [error]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most of `spans` (start, end) that overlapped at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    at_once = most = 0
    for _, step in events:
        at_once += step
        most = max(most, at_once)
    return most


@pytest.mark.parametrize(
    ("max_concurrent_requests", "fewest", "most"),
    [
        # 100 chunks of 100 KB: a budget of 4 MiB, 132 KB a request (the chunk and its
        # connection) pays for 31; spread evenly, 25 in flight take 4 rounds. zarr's: 10.
        (None, 11, 25),
        # The repository's limit binds first: 20 in flight, 5 rounds.
        (20, 11, 20),
    ],
)
def test_reads_from_s3_keep_more_requests_in_flight_than_zarr_within_the_budget(
    moto_server: Any,
    fallbacks: Fallbacks,
    max_concurrent_requests: int | None,
    fewest: int,
    most: int,
) -> None:
    """On object storage a batch keeps as many chunk reads in flight as the repository's
    ``max_concurrent_requests`` and the pipeline's memory budget allow, not zarr's
    ``async.concurrency``. Measured at a proxy in front of moto that adds 50 ms to a request."""
    from _fault_proxy import FaultProxy

    data = sample("float32", (1000, 2500))
    direct = moto_server.storage()
    repo = ic.Repository.create(direct)
    with repo.transaction("main", message="data") as store:
        a = zarr.create_array(
            store, name="a", shape=data.shape, chunks=(100, 250), dtype="f4", compressors=None
        )
        a[...] = data
    prefix = repr(direct).split('prefix="')[1].split('"')[0]
    config = ic.RepositoryConfig(max_concurrent_requests=max_concurrent_requests)
    with FaultProxy(moto_server.port, latency=0.05) as proxy, pipeline(OURS):
        slow = moto_server.storage(prefix, endpoint_url=proxy.url)
        session = ic.Repository.open(slow, config=config).readonly_session(branch="main")
        array = zarr.open_array(session.store, path="a", mode="r")
        proxy.take_timeline()
        np.testing.assert_array_equal(array[...], data)
        chunk_reads = [(s, e) for m, p, s, e in proxy.take_timeline() if "/chunks/" in p]
    assert fallbacks.reads == 0
    assert len(chunk_reads) == 100
    assert fewest <= most_at_once(chunk_reads) <= most
