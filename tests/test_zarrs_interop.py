"""zarr-python and zarrs (Rust) on one repository: what one writes and commits, the other
reads back equal. The Rust side is the example program icechunk-rs/examples/zarrs_interop.rs
(feature `zarrs`), built with cargo; it reads with zarrs's sync API through icechunk::zarrs."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo (Rust)")


def expected() -> dict[str, np.ndarray]:
    """The arrays both sides write, by path: the same formulas as the example's `write`."""
    sparse = np.full((10, 10), 7, dtype="uint16")
    sparse[0:5, 5:10] = np.arange(100, 125, dtype="uint16").reshape(5, 5)
    return {
        "group/zstd": (np.arange(600, dtype="float32") * 0.5 - 10).reshape(30, 20),
        "group/sharded": (np.arange(64 * 48, dtype="int32") * 3 - 5000).reshape(64, 48),
        "scalar": np.array(3.25, dtype="float64"),
        "sparse": sparse,
        "v2dot": np.arange(24, dtype="int64").reshape(6, 4),
        "dot": np.arange(25, dtype="uint8").reshape(5, 5),
    }


@functools.cache
def example_program() -> str:
    """Builds the example as .ci/test.sh's `cargo test --workspace --all-features` does (so
    its build is reused, not made again with other features) and returns its path."""
    command = ["cargo", "build", "--workspace", "--all-features", "--example", "zarrs_interop"]
    done = subprocess.run(
        [*command, "--message-format=json"], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("target", {}).get("name") == "zarrs_interop" and message.get("executable"):
            return str(message["executable"])
    raise AssertionError(f"cargo built no zarrs_interop: {done.stdout[-2000:]}")


def zarrs_interop(*args: str) -> Any:
    """Runs the example; its stdout is one JSON document."""
    done = subprocess.run([example_program(), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def write_with_zarr_python(path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    root = zarr.group(store=session.store, attributes={"written_by": "zarr-python"})
    group = root.create_group("group")
    want = expected()
    zstd = group.create_array(
        "zstd",
        shape=(30, 20),
        chunks=(8, 8),
        dtype="float32",
        fill_value=np.nan,
        compressors=zarr.codecs.ZstdCodec(level=3),
    )
    zstd[:] = want["group/zstd"]
    group.create_array("sharded", shape=(64, 48), chunks=(8, 8), shards=(32, 24), dtype="int32")[
        :
    ] = want["group/sharded"]
    root.create_array("scalar", shape=(), dtype="float64")[...] = 3.25
    sparse = root.create_array(
        "sparse", shape=(10, 10), chunks=(5, 5), dtype="uint16", fill_value=7
    )
    sparse[0:5, 5:10] = want["sparse"][0:5, 5:10]
    for name, encoding in [("v2dot", "v2"), ("dot", "default")]:
        array = root.create_array(
            name,
            shape=want[name].shape,
            chunks=(3, 2) if name == "v2dot" else (2, 2),
            dtype=want[name].dtype,
            chunk_key_encoding={"name": encoding, "separator": "."},
        )
        array[:] = want[name]
    session.commit("written by zarr-python")


async def listed(store: ic.IcechunkStore) -> set[str]:
    return {key async for key in store.list()}


def test_zarrs_reads_what_zarr_python_committed(tmp_path: Path) -> None:
    write_with_zarr_python(tmp_path / "repo")
    # The chunk keys really are in each encoding (zarrs must find them by its own rules).
    repo = ic.Repository.open(ic.local_filesystem_storage(str(tmp_path / "repo")))
    keys = asyncio.run(listed(repo.readonly_session(branch="main").store))
    assert {"v2dot/1.1", "dot/c.2.2", "scalar/c", "sparse/c/0/1", "group/sharded/c/1/1"} <= keys
    assert "sparse/c/0/0" not in keys
    read = zarrs_interop("read", str(tmp_path / "repo"), *expected())
    for path, want in expected().items():
        got = read[path]
        assert got["shape"] == list(want.shape), path
        assert got["data_type"] == str(want.dtype), path
        np.testing.assert_array_equal(
            np.array(got["values"], dtype=want.dtype).reshape(want.shape), want
        )
    assert read["sparse"]["fill_value"] == 7
    assert read["group/zstd"]["fill_value"] == "NaN"


def test_zarr_python_reads_what_zarrs_committed(tmp_path: Path) -> None:
    written = zarrs_interop("write", str(tmp_path / "repo"))
    repo = ic.Repository.open(ic.local_filesystem_storage(str(tmp_path / "repo")))
    assert repo.lookup_branch("main") == written["snapshot"]
    store = repo.readonly_session(branch="main").store
    root = zarr.open_group(store, mode="r")
    assert root.attrs["written_by"] == "zarrs"
    for path, want in expected().items():
        array = root[path]
        assert isinstance(array, zarr.Array)
        assert array.dtype == want.dtype, path
        np.testing.assert_array_equal(array[...], want, err_msg=path)
    assert root["sparse"].fill_value == 7
    assert root["group/sharded"].shards == (32, 24)
    # Only the chunk zarrs wrote exists (the rest of `sparse` is its fill value), and the
    # chunk keys follow each array's encoding.
    keys = asyncio.run(listed(store))
    assert {k for k in keys if k.startswith("sparse/c")} == {"sparse/c/0/1"}
    assert {"v2dot/1.1", "dot/c.2.2", "scalar/c", "group/sharded/c/1/1"} <= keys
