"""Two server processes sharing revisions through Redis behave as one: a change written
through either reaches the sockets of both, and a Redis that goes away and comes back loses
nothing for good (the change log fills the gap). Real uvicorn processes, a real Redis server
of the test's own (so it can be stopped), one SQLite database file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import servers
from tests.fixtures.auth import register
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.processes import server_env
from tests.fixtures.realtime import Feed, feed

REDIS_URL_ENV = "QTABLE_TEST_REDIS_URL"
REDIS_SERVER = shutil.which("redis-server") or "redis-server"

pytestmark = pytest.mark.slow


class RedisServer:
    """A redis-server on a free port that the test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = servers.free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not os.environ.get(REDIS_URL_ENV):
        pytest.skip(f"the Redis tests need {REDIS_URL_ENV} (and redis-server)")
    if not os.path.isabs(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    redis = RedisServer(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def two_processes(
    tmp_path: Path, sqlite_template: SQLiteTemplate, redis_server: RedisServer
) -> Iterator[list[servers.Server]]:
    url = sqlite_template.fresh(tmp_path)
    # No poll within the test: only Redis, or the gap fill when it comes back, delivers.
    env = server_env(url, redis_url=redis_server.url, realtime_poll_seconds="600")
    started = []
    try:
        for name in ("a", "b"):
            port = servers.free_port()
            server = servers.start(
                name,
                servers.uvicorn_command("app.main:create_app", port),
                env,
                tmp_path / f"{name}.log",
                port,
            )
            started.append(server)
            servers.wait_ready(server)
        yield started
    finally:
        for server in started:
            servers.stop(server)


def _http(server: servers.Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10)


async def _changes(socket: Feed, count: int, within: float = 10.0) -> list[dict[str, Any]]:
    return [await socket.next(within) for _ in range(count)]


async def test_a_change_through_either_process_reaches_both_and_survives_a_redis_restart(
    two_processes: list[servers.Server], redis_server: RedisServer
) -> None:
    a, b = two_processes
    async with _http(a) as http_a, _http(b) as http_b:
        owner = await register(http_a, name="Two Hosts")
        auth = owner.headers
        token = auth["Authorization"].split(" ", 1)[1]

        async def new_guest(http: httpx.AsyncClient, name: str) -> int:
            response = await http.post(
                "/api/v1/guests", headers=auth, json={"name": name, "partySize": 2}
            )
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

        ws_a, ws_b = f"ws://127.0.0.1:{a.port}", f"ws://127.0.0.1:{b.port}"
        async with feed(ws_a, token) as on_a, feed(ws_b, token) as on_b:
            for process in (on_a, on_b):
                await _wait_subscribed(process)
            sent = [await new_guest(http_a, "Through A"), await new_guest(http_b, "Through B")]
            for socket in (on_a, on_b):
                got = await _changes(socket, 2)
                assert [m["guests"][0]["id"] for m in got] == sent

            redis_server.stop()
            missed = await new_guest(http_a, "While Redis is away")
            assert (await on_a.next())["guests"][0]["id"] == missed
            await on_b.nothing(1.0)  # nobody told B: no poll within the test
            redis_server.start()
            # B's subscriber reconnects and reads what it missed from the change log.
            assert (await on_b.next(15.0))["guests"][0]["id"] == missed
            last = await new_guest(http_b, "After")
            for socket in (on_a, on_b):
                assert (await socket.next())["guests"][0]["id"] == last
            for socket in (on_a, on_b):
                await socket.nothing(0.5)


async def _wait_subscribed(socket: Feed) -> None:
    """Both processes subscribe to Redis when they start; give B a moment to be ready."""
    await socket.send({"type": "ping"})
    assert (await socket.next())["type"] == "pong"


async def test_a_server_told_to_stop_closes_its_sockets_with_1001(
    tmp_path: Path, sqlite_template: SQLiteTemplate
) -> None:
    """SIGTERM, as a deployment stops a process: the sockets get 1001 (going away), not the
    1012 uvicorn itself would send."""
    port = servers.free_port()
    env = server_env(sqlite_template.fresh(tmp_path))
    server = servers.start(
        "one", servers.uvicorn_command("app.main:create_app", port), env, tmp_path / "one.log", port
    )
    try:
        servers.wait_ready(server)
        async with _http(server) as http:
            owner = await register(http, name="Closing Time")
        token = owner.headers["Authorization"].split(" ", 1)[1]
        async with feed(f"ws://127.0.0.1:{port}", token) as socket_:
            server.process.send_signal(signal.SIGTERM)
            assert await socket_.closed_with(10.0) == 1001
        # uvicorn shuts down gracefully, then ends by the signal it caught (its own rule).
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in server.log.read_text()
    finally:
        servers.stop(server)
