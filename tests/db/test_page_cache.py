"""The restaurant revision and the list page cache it keeps honest.

A list page (guests, tables) is answered from a per-process cache while the restaurant's
revision is the one the page was read at; every committed write of the restaurant adds one
to the revision before it commits (app.db.revision). So a page can never be older than the
last write a reader could have seen, whichever process wrote it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from app.db.session import PageCache
from app.models import Restaurant
from tests.fixtures.auth import PASSWORD, Actor, register
from tests.fixtures.floor import (
    GUESTS,
    TABLES,
    create_guest,
    create_table,
    guest_url,
    patch_guest,
    patch_table,
    seat,
    table_url,
)
from tests.reservations.factories import RESERVATIONS, create_reservation

ROOT = Path(__file__).resolve().parents[2]
LISTS = (
    f"{GUESTS}?limit=200",
    f"{TABLES}?limit=200",
    f"{GUESTS}?status=completed&limit=200",
    f"{TABLES}?status=available&limit=200",
)


async def revision_of(app: FastAPI, actor: Actor) -> int:
    async with app.state.db.engine.connect() as conn:
        value = await conn.scalar(
            select(Restaurant.__table__.c.revision).where(
                Restaurant.__table__.c.id == actor.restaurant_id
            )
        )
    assert value is not None
    return int(value)


async def lists(client: AsyncClient, actor: Actor) -> dict[str, Any]:
    found = {}
    for path in LISTS:
        response = await client.get(path, headers=actor.headers)
        assert response.status_code == 200, response.text
        found[path] = response.json()
    return found


async def test_each_committed_write_adds_one_and_reads_or_refusals_none(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    start = await revision_of(app, owner)
    table = await create_table(client, owner, "R1")
    guest = await create_guest(client, owner)
    assert await revision_of(app, owner) == start + 2

    await lists(client, owner)
    await client.get(guest_url(guest["id"]), headers=owner.headers)
    assert await revision_of(app, owner) == start + 2

    refused = await patch_guest(client, owner, guest["id"], {"status": "completed"})
    assert refused.status_code == 409, refused.text  # waiting -> completed is not a move
    missing = await patch_table(client, owner, 10**9, {"status": "dirty"})
    assert missing.status_code == 404
    assert await revision_of(app, owner) == start + 2

    await seat(client, owner, guest["id"], table["id"])  # one transaction, two rows
    assert await revision_of(app, owner) == start + 3


async def test_the_revision_does_not_touch_the_restaurant_row(
    client: AsyncClient, owner: Actor
) -> None:
    """The restaurant's updatedAt and version are its own row's: writes of its guests and
    tables leave them as they are."""
    before = (await client.get("/api/v1/restaurant", headers=owner.headers)).json()
    await create_table(client, owner, "U1")
    await create_guest(client, owner)
    after = (await client.get("/api/v1/restaurant", headers=owner.headers)).json()
    assert after == before


async def test_every_kind_of_write_shows_in_the_next_page(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """After each write the lists answered through the warm cache equal the lists read
    afresh (the cache emptied), for every kind of write a floor sees."""
    table = await create_table(client, owner, "W1")
    other = await create_table(client, owner, "W2")
    guest = await create_guest(client, owner, "Iris")

    async def check(step: int) -> None:
        await lists(client, owner)  # warm, or answered from the cache
        cached = await lists(client, owner)
        app.state.db.pages = PageCache()
        fresh = await lists(client, owner)
        for path in LISTS:
            assert cached[path] == fresh[path], (step, path)

    steps: list[Callable[[], Awaitable[Any]]] = [
        lambda: create_guest(client, owner, "Jun"),
        lambda: seat(client, owner, guest["id"], table["id"]),
        lambda: seat(client, owner, guest["id"], other["id"]),
        lambda: patch_guest(client, owner, guest["id"], {"notes": "window"}),
        lambda: patch_table(client, owner, table["id"], {"status": "out_of_service"}),
        lambda: client.post(f"{guest_url(guest['id'])}/complete", headers=owner.headers),
        lambda: patch_table(client, owner, other["id"], {"tableNumber": "W9"}),
        lambda: create_reservation(client, owner, tableId=None),
        lambda: client.delete(table_url(table["id"]), headers=owner.headers),
        lambda: client.delete(guest_url(guest["id"]), headers=owner.headers),
    ]
    await check(-1)
    for number, step in enumerate(steps):
        before = await lists(client, owner)
        result = await step()
        if isinstance(result, httpx.Response):
            assert result.status_code < 300, result.text
        await check(number)
        if step is not steps[7]:  # a booking alone changes no guest or table
            assert await lists(client, owner) != before, number


async def test_a_check_in_shows_the_seated_party(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "C1")
    booking = await create_reservation(client, owner, tableId=table["id"])
    await lists(client, owner)
    response = await client.post(
        f"{RESERVATIONS}/{booking['id']}/check-in", headers=owner.headers, json={}
    )
    assert response.status_code == 200, response.text
    page = (await client.get(TABLES, headers=owner.headers)).json()["items"]
    assert [t["status"] for t in page if t["id"] == table["id"]] == ["occupied"]


async def test_a_page_of_one_restaurant_never_answers_another(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    await create_table(client, owner, "A1")
    await create_table(client, rival, "B1")
    for _ in range(2):
        mine = (await client.get(TABLES, headers=owner.headers)).json()["items"]
        theirs = (await client.get(TABLES, headers=rival.headers)).json()["items"]
        assert [t["tableNumber"] for t in mine] == ["A1"]
        assert [t["tableNumber"] for t in theirs] == ["B1"]


def test_the_cache_keeps_to_its_size() -> None:
    cache = PageCache(max_bytes=10)
    cache.put(("a",), 1, b"12345")
    cache.put(("b",), 1, b"12345")
    assert cache.get(("a",), 1) == b"12345"  # now the most recently used
    cache.put(("c",), 1, b"123")
    assert cache.get(("b",), 1) is None
    assert cache.get(("a",), 1) == b"12345" and cache.get(("c",), 1) == b"123"
    assert cache.get(("a",), 2) is None  # another revision: not this page
    cache.put(("d",), 1, b"x" * 11)
    assert cache.get(("d",), 1) is None


# ----- two server processes on one database --------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[str, str]]:
    """Two uvicorn processes of QTable on the same (migrated, empty) database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QTABLE_")}
    env.update(
        QTABLE_ENV="test",
        QTABLE_DATABASE_URL=database_url,
        QTABLE_JWT_SECRET="p" * 48,
        QTABLE_ARGON2_TIME_COST="1",
        QTABLE_ARGON2_MEMORY_KIB="64",
        QTABLE_LOG_LEVEL="WARNING",
    )
    servers = []
    urls = []
    try:
        for _ in range(2):
            port = _free_port()
            servers.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"),
                        *("--port", str(port), "--no-access-log", "--log-level", "warning"),
                    ],
                    cwd=ROOT,
                    env=env,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a server did not start"
                time.sleep(0.1)
        yield urls[0], urls[1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


async def test_a_write_in_one_process_shows_in_the_others_cached_pages(
    two_servers: tuple[str, str],
) -> None:
    first, second = two_servers
    async with AsyncClient(base_url=first) as one, AsyncClient(base_url=second) as two:
        owner = await register(one, name="Two processes")
        assert (await login_works(two, owner)).status_code == 200
        for path in LISTS:  # warm the second process's cache
            assert (await two.get(path, headers=owner.headers)).status_code == 200
            assert (await two.get(path, headers=owner.headers)).status_code == 200
        table = await create_table(one, owner, "P1")
        guest = await create_guest(one, owner, "Noor")
        seen = (await two.get(TABLES, headers=owner.headers)).json()["items"]
        assert [t["id"] for t in seen] == [table["id"]]
        waiting = (await two.get(GUESTS, headers=owner.headers)).json()["items"]
        assert [g["id"] for g in waiting] == [guest["id"]]

        await seat(one, owner, guest["id"], table["id"])
        seen = (await two.get(TABLES, headers=owner.headers)).json()["items"]
        assert seen[0]["status"] == "occupied" and seen[0]["currentGuestId"] == guest["id"]
        seated = (await two.get(GUESTS, headers=owner.headers)).json()["items"]
        assert seated[0]["status"] == "seated"


async def login_works(client: AsyncClient, actor: Actor) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": actor.email, "password": PASSWORD}
    )
