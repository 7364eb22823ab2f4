"""The ``icechunk`` console script on repositories written by zarr-python and xarray: on local
disk, on moto's S3 server and over HTTP. (icechunk-cli/tests/cli.rs covers each command and
the table of bad inputs on the binary itself.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zstandard
from conftest import MOTO_ACCESS_KEY_ID, MOTO_BUCKET, MOTO_SECRET_ACCESS_KEY, MotoServer

import icechunk as ic

# The console script `pip install .` made for this interpreter (in its scripts folder, or
# the user's for `pip install --user`). The Python 3.12 leg of the test command finds the
# checkout through a `.pth` file instead, without scripts: the same entry point through `-m`.
SCRIPTS = [
    Path(sysconfig.get_path("scripts", scheme)) / "icechunk"
    for scheme in (sysconfig.get_default_scheme(), f"{os.name}_user")
]
COMMAND = next(([str(s)] for s in SCRIPTS if s.exists()), [sys.executable, "-m", "icechunk._cli"])


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*COMMAND, *args], capture_output=True, env=env, timeout=120, check=False)


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    done = run(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def write_history(repo: ic.Repository) -> tuple[str, str]:
    """Two commits on main (an array, then a chunk changed and an array added), a branch."""
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    temps = root.create_array(
        "weather/temperature", shape=(100, 100), chunks=(50, 50), dtype="float32", fill_value=-1
    )
    # Random values: 10 KB chunks that zstd cannot shrink below the inline threshold.
    temps[:] = np.random.default_rng(0).random((100, 100), dtype="float32")
    first = session.commit("temperatures")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store)
    root["weather/temperature"][0, 0] = 1000
    root.create_array("weather/wind", shape=(4,), chunks=(2,), dtype="int16")[:] = 7
    second = session.commit("wind, and one fix")
    repo.create_branch("dev", first)
    repo.create_tag("v1", first)
    return first, second


@pytest.fixture
def history(tmp_path: Path) -> tuple[str, str, str]:
    path = tmp_path / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    first, second = write_history(repo)
    return str(path), first, second


def test_log_diff_ls_info_of_a_repository_written_by_zarr(history: tuple[str, str, str]) -> None:
    path, first, second = history
    log = run_json("log", path)
    assert [s["id"] for s in log[:2]] == [second, first]
    assert [s["message"] for s in log] == [
        "wind, and one fix",
        "temperatures",
        "Repository initialized",
    ]
    assert [s["id"] for s in run_json("log", path, "--branch", "dev")] == [first, log[2]["id"]]

    diff = run_json("diff", path, "v1", "main")
    assert diff["new_arrays"] == ["/weather/wind"]
    assert diff["updated_chunks"]["/weather/temperature"] == [[0, 0]]
    assert diff["updated_chunks"]["/weather/wind"] == [[0], [1]]
    python_diff = ic.Repository.open(ic.local_filesystem_storage(path)).diff(
        from_tag="v1", to_branch="main"
    )
    assert set(diff["new_arrays"]) == python_diff.new_arrays

    nodes = {n["path"]: n for n in run_json("ls", path)}
    assert set(nodes) == {"/", "/weather", "/weather/temperature", "/weather/wind"}
    temperature = nodes["/weather/temperature"]
    assert temperature["node_type"] == "array"
    assert temperature["shape"] == [100, 100] and temperature["chunk_shape"] == [50, 50]
    assert temperature["data_type"] == "float32" and temperature["fill_value"] == -1
    assert temperature["codecs"] == ["bytes", "zstd"]
    assert {n["path"] for n in run_json("ls", path, "/weather", "--at", "v1")} == {
        "/weather",
        "/weather/temperature",
    }
    table = run("ls", path).stdout.decode().splitlines()
    assert table[0].split() == ["PATH", "TYPE", "SHAPE", "CHUNKS", "DTYPE", "CODECS"]
    assert table[3].split()[:5] == ["/weather/temperature", "array", "100x100", "50x50", "float32"]

    info = run_json("info", path)
    assert info["branches"] == {"main": second, "dev": first}
    assert info["tags"] == {"v1": first}
    assert info["snapshot_count"] == 3
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    assert info["chunk_bytes"]["native"] == repo.total_chunks_storage() > 40_000
    assert info["chunk_bytes"]["inline"] > 0, "the wind chunks are inline"


def test_cat_chunk_gives_the_stored_bytes(history: tuple[str, str, str], tmp_path: Path) -> None:
    path, _, _ = history
    out = tmp_path / "chunk.bin"
    done = run("cat-chunk", path, "/weather/temperature", "1,0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    array = zarr.open_array(
        ic.Repository.open(ic.local_filesystem_storage(path)).readonly_session("main").store,
        path="weather/temperature",
    )
    # zarr's default codecs for float32: little-endian bytes, then zstd.
    assert [type(c).__name__ for c in array.metadata.codecs] == ["BytesCodec", "ZstdCodec"]
    raw = zstandard.ZstdDecompressor().decompress(out.read_bytes())
    assert np.array_equal(np.frombuffer(raw, "<f4").reshape(50, 50), array[50:100, 0:50])
    assert run("cat-chunk", path, "/weather/temperature", "0,0").stdout != out.read_bytes()


def test_fsck_finds_a_deleted_chunk_and_a_flipped_snapshot_byte(
    history: tuple[str, str, str],
) -> None:
    path, first, _ = history
    report = run_json("fsck", path)
    assert report["clean"] is True
    assert report["report"]["snapshots_checked"] == 3
    chunks = sorted((Path(path) / "chunks").iterdir())
    assert chunks, "the temperature chunks are objects of their own"
    chunks[0].unlink()
    done = run("fsck", path, "--json")
    assert done.returncode == 1
    problems = json.loads(done.stdout)["report"]["problems"]
    assert [p["object"] for p in problems] == [f"chunks/{chunks[0].name}"]
    assert problems[0]["problem"].startswith("missing")

    snapshot = Path(path) / "snapshots" / first
    stored = bytearray(snapshot.read_bytes())
    stored[len(stored) // 2] ^= 0x01
    snapshot.write_bytes(bytes(stored))
    done = run("fsck", path, "--json")
    assert done.returncode == 1
    objects = [p["object"] for p in json.loads(done.stdout)["report"]["problems"]]
    assert f"snapshots/{first}" in objects
    human = run("fsck", path)
    assert human.returncode == 1
    assert f"snapshots/{first}" in human.stdout.decode()


def test_writes_through_the_cli_are_seen_by_python(history: tuple[str, str, str]) -> None:
    path, first, second = history
    assert run("branch", "create", path, "exp", "--from", "v1").returncode == 0
    assert run("tag", "create", path, "v2").returncode == 0
    assert run("config", "set", path, "inline_chunk_threshold_bytes", "0").returncode == 0
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    assert repo.lookup_branch("exp") == first
    assert repo.lookup_tag("v2") == second
    assert repo.config.inline_chunk_threshold_bytes == 0
    assert run("branch", "reset", path, "exp", "main").returncode == 0
    assert repo.lookup_branch("exp") == second


def s3_env(moto_server: MotoServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    # No instance metadata to fall back on, here or anywhere else the tests run.
    env["AWS_METADATA_ENDPOINT"] = "http://127.0.0.1:9"
    return env


def test_s3_repository_with_credentials_from_the_environment(moto_server: MotoServer) -> None:
    prefix = "cli-repo"
    write_history(ic.Repository.create(moto_server.storage(prefix)))
    url = f"s3://{MOTO_BUCKET}/{prefix}"
    flags = ["--endpoint-url", moto_server.endpoint, "--allow-http", "--region", "us-east-1"]
    env = s3_env(
        moto_server,
        AWS_ACCESS_KEY_ID=MOTO_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=MOTO_SECRET_ACCESS_KEY,
    )
    log = run_json("log", url, *flags, env=env)
    assert [s["message"] for s in log][:2] == ["wind, and one fix", "temperatures"]
    assert run_json("fsck", url, *flags, env=env)["clean"] is True

    missing = run("log", url, *flags, env=s3_env(moto_server))
    assert missing.returncode == 1
    err = missing.stderr.decode()
    assert len(err.splitlines()) == 1 and err.startswith("icechunk: error: "), err
    assert "credential" in err.lower(), err
    absent = run("log", f"s3://{MOTO_BUCKET}/nothing-here", *flags, env=env)
    assert absent.returncode == 1 and "no repository at" in absent.stderr.decode()


def test_http_repository_reads_and_refuses_writes(
    static_http_server: tuple[Path, str],
) -> None:
    folder, base = static_http_server
    repo = ic.Repository.create(ic.local_filesystem_storage(str(folder / "repo")))
    _, second = write_history(repo)
    log = run_json("log", f"{base}/repo")
    assert log[0]["id"] == second
    assert {n["path"] for n in run_json("ls", f"{base}/repo")} >= {"/weather/wind"}
    refused = run("tag", "create", f"{base}/repo", "v9")
    assert refused.returncode == 1
    assert len(refused.stderr.decode().splitlines()) == 1
