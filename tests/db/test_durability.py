"""A killed server loses no acknowledged write: a real uvicorn process on SQLite, SIGKILLed
while hosts keep adding guests, then restarted on the same file."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fixtures.auth import PASSWORD
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.processes import server_env

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 6
ACKNOWLEDGED_BEFORE_KILL = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, **server_env(database_url, sqlite_synchronous="FULL")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.kill()
            pytest.fail(f"server did not start: {process.stderr.read() if process.stderr else ''}")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def _add_guests(
    base: str, token: str, acknowledged: list[int], enough: asyncio.Event, writer: int
) -> None:
    """Add guests until the server goes away; record every 201."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=5, headers=headers) as client:
        for n in range(100_000):
            try:
                response = await client.post(
                    "/api/v1/guests", json={"name": f"W{writer}-{n}", "partySize": 2}
                )
            except httpx.TransportError:
                return  # the server is gone: this write was never acknowledged
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()


def test_sigkill_loses_no_acknowledged_write(
    sqlite_template: SQLiteTemplate, tmp_path: Path
) -> None:
    url = sqlite_template.fresh(tmp_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[int] = []

    with _server(url, port) as server:
        registered = httpx.post(
            f"{base}/api/v1/auth/register",
            json={
                "restaurantName": "Durable",
                "email": "durable@example.com",
                "password": PASSWORD,
                "fullName": "Dora Durable",
            },
        )
        assert registered.status_code == 201, registered.text
        token = registered.json()["accessToken"]

        async def write_then_kill() -> None:
            enough = asyncio.Event()
            writers = [
                asyncio.create_task(_add_guests(base, token, acknowledged, enough, w))
                for w in range(WRITERS)
            ]
            await asyncio.wait_for(enough.wait(), timeout=60)
            server.send_signal(signal.SIGKILL)  # no shutdown, no flush: gone mid-request
            await asyncio.gather(*writers)

        asyncio.run(write_then_kill())
        assert server.wait(timeout=10) == -signal.SIGKILL

    with _server(url, port):
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "durable@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        stored: set[int] = set()
        cursor = None
        while True:
            page = httpx.get(
                f"{base}/api/v1/guests",
                headers=headers,
                params={"limit": 200, **({"cursor": cursor} if cursor else {})},
            )
            assert page.status_code == 200, page.text
            stored |= {g["id"] for g in page.json()["items"]}
            cursor = page.json()["nextCursor"]
            if cursor is None:
                break

    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged guests lost: {sorted(missing)[:10]}"
