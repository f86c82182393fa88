"""The load generator: its own process, one event loop (uvloop when importable), closed-loop
HTTP/1.1 keep-alive connections on raw asyncio Protocols.

A general-purpose client (httpx) spends more time per request than the servers under test
do, so it would measure itself. Here every request is prebuilt bytes, each connection keeps
exactly one request in flight, and a response is framed by its Content-Length alone: the
servers never answer these routes chunked, and if one ever does the run stops with that
message rather than guess.

``python -m bench.load SPEC.json`` prints the result as JSON on stdout. The spec::

    {"host": "127.0.0.1", "port": 8000, "warmup": 2.0, "duration": 10.0,
     "groups": [{"name": "main", "expected": 200,
                 "connections": [["<request bytes as latin-1>", ...], ...]}]}

Each connection sends its own list of requests in a cycle. Responses that complete during
the warm-up are counted apart; those that complete within the measured window give the rate
and the latency percentiles. An unexpected status or a lost connection is an error.

A group may set ``"pace": seconds``: its connections then send a request that often rather
than as soon as the last answer came (an answer later than that is followed at once), the
way a sampler watches a server others load. With ``"until_stdin_closes": true`` the measured
window also ends when this process's standard input closes (``duration`` is then the most it
lasts): the bench measures for as long as something it watches takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, cast

MAX_HEAD = 64 * 1024
ERROR_SAMPLES = 5
STOP_GRACE_SECONDS = 15.0  # in-flight requests may finish (a login under load takes a while)


class FatalError(Exception):
    """The response cannot be framed: measuring on would be measuring garbage."""


class Group:
    """Connections that share an expected status and whose numbers are reported together."""

    def __init__(self, name: str, expected: int, pace: float = 0.0) -> None:
        self.name = name
        self.expected = expected
        self.pace_ns = int(pace * 1e9)  # 0: the next request as soon as the answer came
        self.latencies: list[int] = []  # ns, responses completed in the measured window
        self.errors = 0
        self.warmup_requests = 0
        self.warmup_errors = 0
        self.samples: list[str] = []

    def summary(self, duration: float) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, max(0, math.ceil(q * len(lat)) - 1))] / 1e6

        return {
            "requests": len(lat),
            "errors": self.errors,
            "warmup_requests": self.warmup_requests,
            "warmup_errors": self.warmup_errors,
            "req_s": len(lat) / duration,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": lat[-1] / 1e6 if lat else None,
            "mean_ms": sum(lat) / len(lat) / 1e6 if lat else None,
            "error_samples": self.samples,
        }


class Run:
    """The clock and the shared state of one measurement."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        self.warmup: float = spec["warmup"]
        self.duration: float = spec["duration"]
        self.stopping = False
        self.fatal: str | None = None
        self.open: set[Connection] = set()
        self.connecting: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references
        self.all_closed = asyncio.Event()
        self.failed = asyncio.Event()
        self.ended = asyncio.Event()  # the measured window closed early (standard input)
        self.measure_from = 0
        self.measure_until = 0

    def record(self, group: Group, ok: bool, latency: int, now: int, sample: str | None) -> None:
        if now < self.measure_from:
            group.warmup_requests += 1
            if not ok:
                group.warmup_errors += 1
        elif now < self.measure_until:
            if ok:
                group.latencies.append(latency)
            else:
                group.errors += 1
        if not ok and sample is not None and len(group.samples) < ERROR_SAMPLES:
            group.samples.append(sample)

    def fail(self, message: str) -> None:
        if self.fatal is None:
            self.fatal = message
        self.failed.set()
        self.stopping = True
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()

    def end_now(self) -> None:
        """Close the measured window now (it may not have opened yet)."""
        now = time.perf_counter_ns()
        self.measure_until = max(self.measure_from, min(self.measure_until, now))
        self.ended.set()

    def closed(self, conn: Connection) -> None:
        self.open.discard(conn)
        if self.stopping and not self.open:
            self.all_closed.set()


class Connection(asyncio.Protocol):
    """One keep-alive connection with one request in flight at a time."""

    def __init__(self, run: Run, group: Group, requests: list[bytes], start: int) -> None:
        self.run = run
        self.group = group
        self.requests = requests
        self.index = start % len(requests)
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # bytes of the whole response once its head is read
        self.head_end = 0
        self.status = 0
        self.close_after = False
        self.sent = 0  # perf_counter_ns of the request in flight; 0 when none is
        self.last_sent = 0
        self.timer: asyncio.TimerHandle | None = None  # a paced connection's next request

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.open.add(self)
        self.send()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.need < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self.run.fail("a response head larger than 64 KiB")
                return
            try:
                self.need = end + 4 + self.parse_head(bytes(buffer[:end]))
            except FatalError as exc:
                self.run.fail(str(exc))
                return
            self.head_end = end + 4
        if len(buffer) < self.need:
            return
        if len(buffer) > self.need:
            self.run.fail("bytes after a complete response while one request was in flight")
            return
        now = time.perf_counter_ns()
        ok = self.status == self.group.expected
        sample = None
        if not ok:
            body = bytes(buffer[self.head_end : self.need][:300]).decode("utf-8", "replace")
            sample = f"{self.status}: {body}"
        self.run.record(self.group, ok, now - self.sent, now, sample)
        buffer.clear()
        self.need = -1
        self.sent = 0
        if self.close_after:
            self.transport.close()  # type: ignore[union-attr]
        else:
            self.send_next(now)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.sent and not self.run.stopping:
            now = time.perf_counter_ns()
            self.run.record(self.group, False, 0, now, f"connection lost: {exc!r}")
        self.transport = None
        self.run.closed(self)
        if not self.run.stopping:
            reconnect(self.run, self.group, self.requests, self.index)

    # -- the protocol --------------------------------------------------------------------

    def send_next(self, now: int) -> None:
        """The next request: now, or for a paced group when its turn comes."""
        wait = self.last_sent + self.group.pace_ns - now
        if wait <= 0:
            self.send()
        else:
            self.timer = asyncio.get_running_loop().call_later(wait / 1e9, self.send)

    def send(self) -> None:
        self.timer = None
        if self.transport is None:
            return
        if self.run.stopping:
            self.transport.close()
            return
        request = self.requests[self.index]
        self.index = (self.index + 1) % len(self.requests)
        self.sent = self.last_sent = time.perf_counter_ns()
        self.transport.write(request)

    def parse_head(self, head: bytes) -> int:
        """The status, and the body length from Content-Length (the only framing used)."""
        if not head.startswith(b"HTTP/1.1 ") and not head.startswith(b"HTTP/1.0 "):
            raise FatalError(f"not an HTTP/1.x response: {head[:80]!r}")
        self.status = int(head[9:12])
        lower = head.lower()
        self.close_after = b"\r\nconnection: close" in lower or head.startswith(b"HTTP/1.0")
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.find(b"\r\n", at + 17)
            return int(lower[at + 17 : end if end >= 0 else None])
        if b"\r\ntransfer-encoding:" in lower:
            raise FatalError(
                "a chunked response: this load generator frames responses by Content-Length "
                f"only (status {self.status})"
            )
        if self.status in (204, 304) or 100 <= self.status < 200:
            return 0
        raise FatalError(f"a response without Content-Length (status {self.status})")


def reconnect(run: Run, group: Group, requests: list[bytes], index: int) -> None:
    """Open (again) a connection of this group; a refused connect is an error, retried."""

    async def go() -> None:
        while not run.stopping:
            loop = asyncio.get_running_loop()
            try:
                await loop.create_connection(
                    lambda: Connection(run, group, requests, index), run.host, run.port
                )
                return
            except OSError as exc:
                run.record(group, False, 0, time.perf_counter_ns(), f"connect failed: {exc!r}")
                await asyncio.sleep(0.05)

    task = asyncio.get_running_loop().create_task(go())
    run.connecting.add(task)
    task.add_done_callback(run.connecting.discard)


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    run = Run(spec)
    groups = []
    for entry in spec["groups"]:
        group = Group(entry["name"], entry["expected"], entry.get("pace", 0.0))
        groups.append(group)
        for position, requests in enumerate(entry["connections"]):
            encoded = [r.encode("latin-1") for r in requests]
            reconnect(run, group, encoded, position)
    start = time.perf_counter_ns()
    cpu_start = time.process_time()
    run.measure_from = start + int(run.warmup * 1e9)
    run.measure_until = run.measure_from + int(run.duration * 1e9)
    watching = None
    if spec.get("until_stdin_closes"):
        watching = asyncio.create_task(_end_when_stdin_closes(run))
    gc.collect()
    gc.freeze()
    gc.disable()  # no collector pauses inside the client's own timing
    with contextlib.suppress(TimeoutError):
        remaining = (run.measure_until - time.perf_counter_ns()) / 1e9
        waits = [asyncio.ensure_future(event.wait()) for event in (run.failed, run.ended)]
        try:
            await asyncio.wait_for(
                asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED), remaining
            )
        finally:
            for waiting in waits:
                waiting.cancel()
    run.stopping = True
    for conn in list(run.open):
        if not conn.sent and conn.transport is not None:
            conn.transport.close()
    if run.open:
        try:
            await asyncio.wait_for(run.all_closed.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            for conn in list(run.open):
                if conn.transport is not None:
                    conn.transport.abort()
    gc.enable()
    if watching is not None:
        watching.cancel()
    wall = (time.perf_counter_ns() - start) / 1e9
    measured = max(1e-9, (run.measure_until - run.measure_from) / 1e9)
    return {
        "fatal": run.fatal,
        "loop": loop_name(),
        # Near 100 the client, not the server, would be what limits the rate.
        "client_cpu_percent": 100 * (time.process_time() - cpu_start) / wall,
        "measured_s": measured,
        "groups": {g.name: g.summary(measured) for g in groups},
    }


async def _end_when_stdin_closes(run: Run) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # nothing is written: this returns at end of file
    run.end_now()


def loop_name() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(measure(spec))
    else:
        result = uvloop.run(measure(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
