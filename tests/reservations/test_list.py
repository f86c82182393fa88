"""GET /reservations: the default list, the date and status filters, order and pages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_validation_error
from tests.reservations.factories import (
    RESERVATIONS,
    at,
    backdate,
    configure,
    create_reservation,
    list_ids,
    parse,
    patch_reservation,
)

# ----- list -----------------------------------------------------------------------------------


async def test_default_list_is_the_active_ones_not_yet_ended(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    booked = await create_reservation(client, owner, startsAt=at(days=2, hour=18))
    confirmed = await create_reservation(
        client, owner, startsAt=at(days=2, hour=19), status="confirmed"
    )
    under_way = await create_reservation(client, owner, durationMinutes=120)
    await backdate(app, under_way["id"], datetime.now(UTC) - timedelta(minutes=30))
    ended = await create_reservation(client, owner, durationMinutes=60)
    await backdate(app, ended["id"], datetime.now(UTC) - timedelta(hours=3))
    cancelled = await create_reservation(client, owner)
    await patch_reservation(client, owner, cancelled["id"], status="cancelled")
    no_show = await create_reservation(client, owner)
    await patch_reservation(client, owner, no_show["id"], status="no_show")
    checked_in = await create_reservation(client, owner, startsAt=at(days=3))
    response = await client.post(
        f"{RESERVATIONS}/{checked_in['id']}/check-in", headers=owner.headers
    )
    assert response.status_code == 200, response.text

    assert await list_ids(client, owner) == [
        under_way["id"],
        booked["id"],
        confirmed["id"],
        checked_in["id"],
    ]


async def test_status_filter_may_repeat(client: AsyncClient, owner: Actor) -> None:
    booked = await create_reservation(client, owner, startsAt=at(hour=12))
    cancelled = await create_reservation(client, owner, startsAt=at(hour=13))
    no_show = await create_reservation(client, owner, startsAt=at(hour=14))
    await patch_reservation(client, owner, cancelled["id"], status="cancelled")
    await patch_reservation(client, owner, no_show["id"], status="no_show")
    assert await list_ids(client, owner, status="cancelled") == [cancelled["id"]]
    assert await list_ids(client, owner, status=["no_show", "cancelled"]) == [
        cancelled["id"],
        no_show["id"],
    ]
    assert await list_ids(client, owner, status=["booked"]) == [booked["id"]]
    assert_validation_error(
        await client.get(RESERVATIONS, headers=owner.headers, params={"status": "seated"}),
        "status",
    )


def local(day: date, hh: int, mm: int, zone: str) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(zone))


async def test_date_filter_uses_the_restaurants_time_zone(
    client: AsyncClient, owner: Actor
) -> None:
    zone = "America/New_York"
    await configure(client, owner, timezone=zone)
    day = datetime.now(UTC).date() + timedelta(days=3)
    early = await create_reservation(client, owner, startsAt=local(day, 0, 15, zone))
    late = await create_reservation(client, owner, startsAt=local(day, 23, 30, zone))
    next_day = await create_reservation(
        client, owner, startsAt=local(day + timedelta(days=1), 0, 30, zone)
    )
    cancelled = await create_reservation(client, owner, startsAt=local(day, 12, 0, zone))
    await patch_reservation(client, owner, cancelled["id"], status="cancelled")
    # 23:30 in New York is already the next day in UTC; it still belongs to `day`.
    assert datetime.fromisoformat(late["startsAt"]).date() == day + timedelta(days=1)

    assert await list_ids(client, owner, date=day.isoformat()) == [
        early["id"],
        cancelled["id"],
        late["id"],
    ]
    assert await list_ids(client, owner, date=(day + timedelta(days=1)).isoformat()) == [
        next_day["id"]
    ]
    assert await list_ids(client, owner, date=day.isoformat(), status="booked") == [
        early["id"],
        late["id"],
    ]
    bad = await client.get(RESERVATIONS, headers=owner.headers, params={"date": "2030-02-30"})
    assert_validation_error(bad, "date")


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_dates_at_the_edge_of_the_calendar_never_fail(
    client: AsyncClient, owner: Actor, zone: str, day: str
) -> None:
    """A local day whose bounds datetime cannot hold is a 422 on `date`; one it can hold is
    simply empty."""
    await configure(client, owner, timezone=zone)
    response = await client.get(RESERVATIONS, headers=owner.headers, params={"date": day})
    # West of UTC, 0001-01-01 still fits in datetime; every other case runs off the calendar.
    if day == "0001-01-01" and zone == "America/Los_Angeles":
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "nextCursor": None}
    else:
        assert_validation_error(response, "date")


async def test_order_is_starts_at_then_id(client: AsyncClient, owner: Actor) -> None:
    late = await create_reservation(client, owner, startsAt=at(hour=21))
    first = await create_reservation(client, owner, startsAt=at(hour=19))
    early = await create_reservation(client, owner, startsAt=at(hour=18))
    second = await create_reservation(client, owner, startsAt=at(hour=19))
    assert await list_ids(client, owner) == [early["id"], first["id"], second["id"], late["id"]]


async def test_cursor_pages_return_every_row_exactly_once(
    client: AsyncClient, owner: Actor
) -> None:
    hours = [20, 18, 19, 18, 20, 18, 21, 19, 18]
    for n, hour in enumerate(hours):
        # Some share a start to the microsecond; the cursor must keep them apart by id.
        fraction = timedelta(microseconds=123457 if n % 2 else 0)
        await create_reservation(client, owner, startsAt=at(hour=hour) + fraction)
    response = await client.get(RESERVATIONS, headers=owner.headers, params={"limit": 200})
    rows = response.json()["items"]
    everything = [row["id"] for row in rows]
    assert len(everything) == len(hours)
    keys = [(parse(row["startsAt"]), row["id"]) for row in rows]
    assert keys == sorted(keys)
    assert len({row["startsAt"] for row in rows}) < len(rows)

    for limit in (1, 2, 4):
        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = await client.get(RESERVATIONS, headers=owner.headers, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert len(body["items"]) <= limit
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["nextCursor"]
            if cursor is None:
                break
            assert all(c.isalnum() or c in "-_" for c in cursor) and len(cursor) <= 64
        assert seen == everything
        assert pages == -(-len(hours) // limit)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "not a cursor!"},
        {"cursor": "e30"},
    ],
)
async def test_bad_paging_parameters_are_422(
    client: AsyncClient, owner: Actor, params: dict[str, Any]
) -> None:
    response = await client.get(RESERVATIONS, headers=owner.headers, params=params)
    assert_validation_error(response, next(iter(params)))


@pytest.mark.parametrize(
    "key", [[2**62, 1], [-(2**62), 1], [0, 2**63], [1.5, 1], [1], ["x", 1]], ids=str
)
async def test_forged_cursors_are_422(client: AsyncClient, owner: Actor, key: list[Any]) -> None:
    """A cursor the server never made is refused, even when it decodes (never a 500)."""
    await create_reservation(client, owner)
    raw = json.dumps(key, separators=(",", ":")).encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    response = await client.get(RESERVATIONS, headers=owner.headers, params={"cursor": cursor})
    assert_validation_error(response, "cursor")


async def test_limit_200_is_accepted(client: AsyncClient, owner: Actor) -> None:
    created = await create_reservation(client, owner)
    assert await list_ids(client, owner, limit=200) == [created["id"]]
