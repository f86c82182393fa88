"""Small factories for the reservation tests: tables, reservations and restaurant settings,
all made through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update

from app.models import Reservation
from tests.fixtures.auth import Actor

API = "/api/v1"
RESERVATIONS = f"{API}/reservations"
AVAILABILITY = f"{RESERVATIONS}/availability"
TABLES = f"{API}/tables"
GUESTS = f"{API}/guests"
RESTAURANT = f"{API}/restaurant"

RESERVATION_FIELDS = {
    "id",
    "guestName",
    "phone",
    "email",
    "partySize",
    "startsAt",
    "durationMinutes",
    "tableId",
    "status",
    "notes",
    "guestId",
    "version",
    "createdAt",
    "updatedAt",
}


def at(days: int = 2, hour: int = 19, minute: int = 0) -> datetime:
    """A UTC instant ``days`` from today at hour:minute: in the future for days >= 1."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def iso(value: datetime) -> str:
    """The wire form the API emits: UTC with ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create_table(
    client: AsyncClient, actor: Actor, number: str = "1", capacity: int = 4, **fields: Any
) -> dict[str, Any]:
    body = {"tableNumber": number, "capacity": capacity, **fields}
    response = await client.post(TABLES, headers=actor.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def get_table(client: AsyncClient, actor: Actor, table_id: int) -> dict[str, Any]:
    response = await client.get(f"{TABLES}/{table_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def list_ids(client: AsyncClient, actor: Actor, **params: Any) -> list[int]:
    response = await client.get(RESERVATIONS, headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "nextCursor"}
    return [item["id"] for item in body["items"]]


def booking(**fields: Any) -> dict[str, Any]:
    """A valid create body; ``starts_at`` may be given as a datetime."""
    body: dict[str, Any] = {"guestName": "Ada Lovelace", "partySize": 2, "startsAt": iso(at())}
    for key, value in fields.items():
        body[key] = iso(value) if isinstance(value, datetime) else value
    return body


async def create_reservation(client: AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    response = await client.post(RESERVATIONS, headers=actor.headers, json=booking(**fields))
    assert response.status_code == 201, response.text
    return response.json()


async def get_reservation(client: AsyncClient, actor: Actor, reservation_id: int) -> dict[str, Any]:
    response = await client.get(f"{RESERVATIONS}/{reservation_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def patch_reservation(
    client: AsyncClient, actor: Actor, reservation_id: int, **fields: Any
) -> dict[str, Any]:
    body = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    response = await client.patch(
        f"{RESERVATIONS}/{reservation_id}", headers=actor.headers, json=body
    )
    assert response.status_code == 200, response.text
    return response.json()


async def list_guests(client: AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    """Every guest of the restaurant, whatever its status."""
    statuses = ["waiting", "notified", "seated", "completed", "left", "no_show", "cancelled"]
    response = await client.get(
        GUESTS, headers=actor.headers, params={"status": statuses, "limit": 200}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def get_guest(client: AsyncClient, actor: Actor, guest_id: int) -> dict[str, Any]:
    response = await client.get(f"{GUESTS}/{guest_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def interval(open_: str, close: str) -> dict[str, str]:
    """An opening interval of `serviceHours`, as the wire writes it."""
    return {"open": open_, "close": close}


async def configure(client: AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    """PATCH the caller's restaurant (timezone, serviceHours, defaultReservationMinutes…)."""
    response = await client.patch(RESTAURANT, headers=actor.headers, json=fields)
    assert response.status_code == 200, response.text
    return response.json()


async def availability(
    client: AsyncClient, actor: Actor, day: date, party_size: int = 2
) -> dict[str, Any]:
    response = await client.get(
        AVAILABILITY,
        headers=actor.headers,
        params={"date": day.isoformat(), "partySize": party_size},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def backdate(app: FastAPI, reservation_id: int, starts_at: datetime) -> None:
    """Move a reservation's interval to ``starts_at`` behind the API's back: the only way
    to have a reservation in the past, since the API refuses to book one."""
    table = Reservation.__table__
    async with app.state.db.engine.begin() as conn:
        duration = await conn.scalar(
            select(table.c.duration_minutes).where(table.c.id == reservation_id)
        )
        await conn.execute(
            update(table)
            .where(table.c.id == reservation_id)
            .values(starts_at=starts_at, ends_at=starts_at + timedelta(minutes=duration))
        )
