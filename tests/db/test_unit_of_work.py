"""The unit of work: committed before the client hears back, rolled back on any error."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.fixtures.auth import Actor

API = "/api/v1"


def _committed_guest_names(database_url: str) -> list[str]:
    """Read through a connection of our own: only committed rows are visible to it."""
    path = database_url.removeprefix("sqlite+qtable:///")
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM guests ORDER BY id")]


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file directly")
    return database_url


async def test_the_write_is_committed_before_the_response_starts(
    app: FastAPI, owner: Actor, sqlite_url: str
) -> None:
    seen_at_response_start: list[list[str]] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def spying_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen_at_response_start.append(_committed_guest_names(sqlite_url))
            await send(message)

        await app(scope, receive, spying_send)

    async with AsyncClient(transport=ASGITransport(app=spy), base_url="http://test") as client:
        response = await client.post(
            f"{API}/guests", headers=owner.headers, json={"name": "Acked", "partySize": 2}
        )
    assert response.status_code == 201
    assert seen_at_response_start == [["Acked"]]


async def test_a_failed_request_leaves_nothing_behind(
    client: AsyncClient, owner: Actor, sqlite_url: str
) -> None:
    table = await client.post(
        f"{API}/tables", headers=owner.headers, json={"tableNumber": "1", "capacity": 2}
    )
    guest = await client.post(
        f"{API}/guests", headers=owner.headers, json={"name": "Big", "partySize": 6}
    )
    before = await client.get(f"{API}/tables/{table.json()['id']}", headers=owner.headers)
    # Seating flushes nothing until the capacity check fails; check-in creates a guest and
    # flushes it before seating fails: both must leave no trace.
    refused = await client.post(
        f"{API}/guests/{guest.json()['id']}/seat",
        headers=owner.headers,
        json={"tableId": table.json()["id"]},
    )
    assert refused.status_code == 409
    reservation = await client.post(
        f"{API}/reservations",
        headers=owner.headers,
        json={"guestName": "Res", "partySize": 6, "startsAt": "2099-01-01T19:00:00Z"},
    )
    check_in = await client.post(
        f"{API}/reservations/{reservation.json()['id']}/check-in",
        headers=owner.headers,
        json={"tableId": table.json()["id"]},
    )
    assert check_in.status_code == 409
    assert check_in.json()["error"]["code"] == "capacity_exceeded"
    assert _committed_guest_names(sqlite_url) == ["Big"]
    after = await client.get(f"{API}/tables/{table.json()['id']}", headers=owner.headers)
    assert after.json() == before.json()
    unchanged = await client.get(
        f"{API}/reservations/{reservation.json()['id']}", headers=owner.headers
    )
    assert unchanged.json() == reservation.json()
