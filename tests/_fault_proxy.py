"""A small fault-injecting HTTP/1.1 proxy for the S3 tests.

It sits between the engine (whose ``endpoint_url`` points at it) and an S3-compatible server
(moto), forwards each request unchanged (headers included, so signatures stay valid), and can,
per request:

- ``"drop"``: close the connection without forwarding (the server never sees the request),
- ``"delay"``: wait ``delay`` seconds, then forward,
- ``500`` / ``503`` (any int): answer that status without forwarding,
- ``"drop_response"``: forward, let the server apply the request, then close the connection
  instead of answering (the client cannot know whether its write landed),
- ``"truncate"``: forward, then answer with the head and only part of the body, and close.

Faults are chosen by rules (``fail_next``) or at random (``random_faults``); every request is
logged with the fault applied to it. The proxy runs an asyncio loop in a daemon thread and is
controlled from the test's thread.

For benchmarks it can also add a fixed ``latency`` (seconds) to every request before it is
answered or forwarded, and keeps a ``timeline`` of every request it served: (method, path,
start, end) in ``time.time()`` seconds, start once the whole request had arrived, end once
the answer was written back (or the connection dropped), so that round trips can be counted.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Action = str | int

_REASONS = {500: "Internal Server Error", 503: "Slow Down", 429: "Too Many Requests"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    head: bytes
    body: bytes


@dataclass
class _Rule:
    action: Action
    remaining: int
    method: str | None
    path_contains: str | None
    conditional: bool | None

    def matches(self, request: Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        if self.path_contains is not None and self.path_contains not in request.path:
            return False
        if self.conditional is not None:
            is_conditional = "if-none-match" in request.headers
            if is_conditional != self.conditional:
                return False
        return True


@dataclass
class _Random:
    rate: float
    actions: list[Action]
    rng: random.Random
    methods: set[str] | None


@dataclass
class FaultProxy:
    """``FaultProxy(upstream_port).start()``; ``url`` is the endpoint to give the engine."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    delay: float = 0.5
    port: int = 0
    log: list[tuple[str, str, Action | None]] = field(default_factory=list)
    latency: float = 0.0
    timeline: list[tuple[str, str, float, float]] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _random: _Random | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.AbstractServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- control, from the test's thread ----------------------------------------------
    def fail_next(
        self,
        action: Action,
        *,
        times: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        conditional: bool | None = None,
    ) -> None:
        """Apply ``action`` to the next ``times`` requests that match (``conditional``: only
        requests with, or without, ``If-None-Match``)."""
        with self._lock:
            self._rules.append(_Rule(action, times, method, path_contains, conditional))

    def random_faults(
        self, rate: float, actions: list[Action], *, seed: int = 0, methods: set[str] | None = None
    ) -> None:
        """Apply one of ``actions`` to each request (of ``methods``) with probability ``rate``."""
        with self._lock:
            self._random = _Random(rate, actions, random.Random(seed), methods)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._random = None

    def faults(self) -> list[tuple[str, str, Action]]:
        """The requests that got a fault, in order."""
        with self._lock:
            return [(m, p, a) for m, p, a in self.log if a is not None]

    def take_timeline(self) -> list[tuple[str, str, float, float]]:
        """The (method, path, start, end) of every request served since the last call, in the
        order they finished; the timeline is emptied."""
        with self._lock:
            out, self.timeline = self.timeline, []
            return out

    def _served(self, request: Request, start: float) -> None:
        with self._lock:
            self.timeline.append((request.method, request.path, start, time.time()))

    def pending_rules(self) -> int:
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    def _choose(self, request: Request) -> Action | None:
        with self._lock:
            action: Action | None = None
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(request):
                    rule.remaining -= 1
                    action = rule.action
                    break
            self._rules = [r for r in self._rules if r.remaining > 0]
            chaos = self._random
            if (
                action is None
                and chaos is not None
                and (chaos.methods is None or request.method in chaos.methods)
                and chaos.rng.random() < chaos.rate
            ):
                action = chaos.rng.choice(chaos.actions)
            self.log.append((request.method, request.path, action))
            return action

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(serve())
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the proxy ---------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                start = time.time()
                action = self._choose(request)
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                if action == "drop":
                    self._served(request, start)
                    return
                if isinstance(action, int):
                    body = b"<Error><Code>InjectedFault</Code></Error>"
                    reason = _REASONS.get(action, "Injected")
                    writer.write(
                        f"HTTP/1.1 {action} {reason}\r\nContent-Type: application/xml\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                    self._served(request, start)
                    continue
                if action == "delay":
                    await asyncio.sleep(self.delay)
                response, keep_alive = await self._forward(request)
                if action == "drop_response":
                    self._served(request, start)
                    return
                if action == "truncate":
                    end = response.index(b"\r\n\r\n") + 4
                    writer.write(response[: end + (len(response) - end) // 2])
                    await writer.drain()
                    self._served(request, start)
                    return
                writer.write(response)
                await writer.drain()
                self._served(request, start)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _forward(self, request: Request) -> tuple[bytes, bool]:
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            writer.write(request.head + request.body)
            await writer.drain()
            return await _read_response(reader, request.method)
        finally:
            writer.close()


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    first, headers = _parse_head(head)
    method, path, _ = first.split(" ", 2)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, head, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """The raw chunked body, framing included (it is forwarded as is)."""
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            # Trailers, up to the empty line.
            while True:
                line = await reader.readuntil(b"\r\n")
                out += line
                if line == b"\r\n":
                    return bytes(out)
        out += await reader.readexactly(size + 2)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[bytes, bool]:
    """The whole raw response, and whether the client connection can stay open."""
    head = await reader.readuntil(b"\r\n\r\n")
    first, headers = _parse_head(head)
    status = int(first.split(" ", 2)[1])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return head, True
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return head + await _read_chunked(reader), True
    if "content-length" in headers:
        return head + await reader.readexactly(int(headers["content-length"])), True
    # Delimited by the end of the connection: so is the client's.
    return head + await reader.read(), False


def request_filter(
    method: str | None = None, path_contains: str | None = None
) -> Callable[[tuple[str, str, Action | None]], bool]:
    """For filtering ``FaultProxy.log``."""

    def keep(entry: tuple[str, str, Action | None]) -> bool:
        m, p, _ = entry
        return (method is None or m == method) and (path_contains is None or path_contains in p)

    return keep
