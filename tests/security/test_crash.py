"""Crash safety with the change log: a real server, killed (SIGKILL) mid-load several times
while hosts create guests, batch and seat, then restarted on the same database. Every write
acknowledged with a 2xx is stored, a client following the dashboard's cursor from before the
load sees each of them, the guest <-> table invariant holds, and SQLite's integrity check says
ok. On PostgreSQL the server process is killed, the database server is not."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from pathlib import Path

import httpx

from bench import servers
from tests.fixtures.auth import register
from tests.fixtures.floor import assert_invariant
from tests.fixtures.processes import server_env
from tests.sync.helpers import Follower

ROUNDS = 3
WRITERS = 6
ACKNOWLEDGED_PER_ROUND = 40


def _start(database_url: str, log: Path, port: int) -> servers.Server:
    env = server_env(database_url, sqlite_synchronous="FULL")
    server = servers.start(
        "crash", servers.uvicorn_command("app.main:create_app", port), env, log, port
    )
    servers.wait_ready(server)
    return server


async def _write(
    base: str,
    headers: dict[str, str],
    tables: list[int],
    acknowledged: set[int],
    enough: asyncio.Event,
    target: int,
    rng: random.Random,
) -> None:
    """Write until the server goes away; every guest id a 2xx answer names is acknowledged."""
    async with httpx.AsyncClient(base_url=base, timeout=5, headers=headers) as http:
        mine: list[int] = []
        while True:
            choice = rng.random()
            try:
                if choice < 0.5 or not mine:
                    response = await http.post(
                        "/api/v1/guests", json={"name": "Crash", "partySize": 2}
                    )
                    if response.status_code == 201:
                        mine.append(response.json()["id"])
                        acknowledged.add(response.json()["id"])
                elif choice < 0.75:
                    response = await http.post(
                        "/api/v1/batch/update",
                        json={
                            "guests": [
                                {"op": "create", "name": "Batch", "partySize": 2},
                                {"op": "create", "name": "Batch", "partySize": 3},
                            ]
                        },
                    )
                    if response.status_code == 200:
                        ids = [r["id"] for r in response.json()["results"]["guests"]]
                        mine += ids
                        acknowledged.update(ids)
                else:
                    response = await http.post(
                        f"/api/v1/guests/{rng.choice(mine)}/seat",
                        json={"tableId": rng.choice(tables), "allowOverCapacity": True},
                    )
            except httpx.TransportError:
                return  # gone mid-request: that write was never acknowledged
            assert response.status_code < 500 or response.status_code == 503, response.text
            if len(acknowledged) >= target:
                enough.set()


async def test_kill_mid_load_loses_nothing_acknowledged(database_url: str, tmp_path: Path) -> None:
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(database_url, tmp_path / "round0.log", port)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            owner = await register(http, name="Crash Test")
            tables = []
            for n in range(8):
                response = await http.post(
                    "/api/v1/tables",
                    headers=owner.headers,
                    json={"tableNumber": str(n), "capacity": 4},
                )
                tables.append(response.json()["id"])
            follower = Follower(minimal=True)
            await follower.follow(http, owner)
        acknowledged: set[int] = set()
        rng = random.Random(7)
        for round_ in range(ROUNDS):
            enough = asyncio.Event()
            target = len(acknowledged) + ACKNOWLEDGED_PER_ROUND
            writers = [
                asyncio.create_task(
                    _write(
                        base,
                        owner.headers,
                        tables,
                        acknowledged,
                        enough,
                        target,
                        random.Random(rng.random()),
                    )
                )
                for _ in range(WRITERS)
            ]
            await asyncio.wait_for(enough.wait(), 60)
            server.process.send_signal(signal.SIGKILL)  # no shutdown, no flush
            await asyncio.gather(*writers)
            assert server.process.wait(timeout=10) == -signal.SIGKILL
            server = _start(database_url, tmp_path / f"round{round_ + 1}.log", port)

        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            await follower.follow(http, owner)
            seen = set(follower.rows["guests"])
            missing = acknowledged - seen
            assert not missing, f"{len(missing)} acknowledged guests lost: {sorted(missing)[:10]}"
            await assert_invariant(http, owner)
        assert len(acknowledged) >= ROUNDS * ACKNOWLEDGED_PER_ROUND
    finally:
        servers.stop(server)
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite+qtable:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
