"""Workload s3, the runner's side: moto's S3 server, the latency proxy, round-trip counting.

Standard library only (``run.py`` imports it under any Python). The runner's interpreter
starts moto's ``ThreadedMotoServer`` in a child process (as ``tests/conftest.py`` does; it
needs ``moto[server]``, which ``pip install -e '.[test]'`` installs) and runs
``tests/_fault_proxy.py``'s ``FaultProxy`` in a daemon thread of its own process, in front of
moto, adding ``S3_LATENCY_S`` to every request. The benchmark workers (in the virtualenvs,
which have no moto and never import ``tests/``) get the proxy's URL as their endpoint.

Round trips: each worker reports the wall-clock window of every timed sample; the requests
the proxy served in a window are that sample's. Their number of SEQUENTIAL round trips is the
longest chain of requests each of which started after the previous one had ended (requests
that overlap count as one round).
"""

from __future__ import annotations

import importlib.util
import re
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The launcher the tests use too: moto on a free port, gone when our end of its stdin closes.
_MOTO_SERVER = REPO / "tests" / "_moto_server.py"

Timeline = list[tuple[str, str, float, float]]


class S3Unavailable(Exception):
    """moto or the proxy could not be started (the text says why)."""


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


class S3Server:
    """moto on 127.0.0.1 in a child process, and the proxy in front of it."""

    def __init__(self, bucket: str, latency: float, python: str = sys.executable) -> None:
        self.bucket = bucket
        self.latency = latency
        self.python = python
        self.process: subprocess.Popen[str] | None = None
        self.proxy: Any = None
        self.moto_version = "?"

    @property
    def url(self) -> str:
        return self.proxy.url

    def start(self) -> S3Server:
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
        self.moto_version = check.stdout.strip()
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
        deadline = time.monotonic() + 30
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/{self.bucket}", method="PUT")
                with urllib.request.urlopen(req, timeout=30) as response:
                    if response.status != 200:
                        raise S3Unavailable(f"creating the bucket: HTTP {response.status}")
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    self.stop()
                    raise S3Unavailable(f"moto's server does not answer: {e}") from e
                time.sleep(0.1)
        try:
            fault_proxy = _load_fault_proxy()
            self.proxy = fault_proxy.FaultProxy(upstream_port=port, latency=self.latency).start()
        except Exception as e:
            self.stop()
            raise S3Unavailable(f"the proxy did not start: {e}") from e
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.process is not None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
            self.process = None

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
