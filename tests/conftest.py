from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import icechunk as ic

# Worker functions for child processes live in tests/_talk.py; spawned children find it
# through the sys.path they inherit from this process.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def repo() -> ic.Repository:
    return ic.Repository.create(ic.in_memory_storage())


@pytest.fixture
def local_repo(tmp_path: Path) -> ic.Repository:
    return ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))


# ---- a real S3-compatible server: moto's, on 127.0.0.1 ------------------------------------
# Started once per test session in a child process that exits at the end of its stdin (a pipe
# from this process, closed by the OS even if pytest crashes).
_MOTO_SERVER = Path(__file__).parent / "_moto_server.py"

MOTO_ACCESS_KEY_ID = "AKIAMOTOTESTKEY00001"
# Distinctive, so that tests can search every repr and message for it.
MOTO_SECRET_ACCESS_KEY = "moto-Secret-Key+DoNotShow/1234567890abcdEFG"
MOTO_BUCKET = "icechunk-tests"


class MotoServer:
    """A running moto server; ``storage(prefix)`` is an ``s3_storage`` on it."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        """Writes an object (moto takes unsigned requests)."""
        request = urllib.request.Request(f"{self.endpoint}/{bucket}/{key}", body, method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    def obstore(self) -> Any:
        """An obstore ``S3Store`` on the test bucket: a client of our own to put and list
        objects with."""
        from obstore.store import S3Store

        return S3Store(
            MOTO_BUCKET,
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id=MOTO_ACCESS_KEY_ID,
            secret_access_key=MOTO_SECRET_ACCESS_KEY,
            client_options={"allow_http": True},
            virtual_hosted_style_request=False,
        )

    def storage(
        self,
        prefix: str | None = None,
        *,
        bucket: str = MOTO_BUCKET,
        endpoint_url: str | None = None,
        network: ic.NetworkOptions | None = None,
        **kwargs: Any,
    ) -> ic.Storage:
        return ic.s3_storage(
            bucket=bucket,
            prefix=prefix if prefix is not None else f"repo-{uuid.uuid4().hex}",
            region="us-east-1",
            endpoint_url=endpoint_url or self.endpoint,
            allow_http=True,
            access_key_id=MOTO_ACCESS_KEY_ID,
            secret_access_key=MOTO_SECRET_ACCESS_KEY,
            network=network or FAST_NETWORK,
            **kwargs,
        )


# Fail fast on a dead server; the fault tests use their own settings.
FAST_NETWORK = ic.NetworkOptions(
    max_retries=3,
    initial_backoff=0.01,
    max_backoff=0.1,
    retry_timeout=10.0,
    connect_timeout=2.0,
    request_timeout=30.0,
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    try:
        import moto.server  # noqa: F401
    except ImportError as e:  # never skip silently: the S3 tests are part of the suite
        raise RuntimeError("the S3 tests need `pip install 'moto[server]'`") from e
    process = subprocess.Popen(
        [sys.executable, str(_MOTO_SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline().strip()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"moto's server did not start: {line!r}")
    server = MotoServer(process, int(line.split()[1]))
    deadline = time.monotonic() + 30
    while True:
        try:
            server.create_bucket(MOTO_BUCKET)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    try:
        yield server
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_storage(moto_server: MotoServer) -> ic.Storage:
    """A fresh, empty S3 location on the moto server."""
    return moto_server.storage()


def make_storage(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ic.Storage:
    """An empty storage of ``kind``: memory, local or s3."""
    if kind == "memory":
        return ic.in_memory_storage()
    if kind == "local":
        return ic.local_filesystem_storage(tmp_path / "repo")
    server: MotoServer = request.getfixturevalue("moto_server")
    return server.storage()


@pytest.fixture
def static_http_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain static file server (no listing, no WebDAV) over a folder, on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            requests.append(f"{self.command} {self.path}")

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        assert not [r for r in requests if not r.startswith("GET ")], requests
