"""Reservation CRUD over HTTP: shapes, validation, updates, deletes and If-Match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.reservations.factories import (
    RESERVATION_FIELDS,
    RESERVATIONS,
    at,
    backdate,
    booking,
    configure,
    create_reservation,
    create_table,
    get_reservation,
    iso,
    list_ids,
    parse,
    patch_reservation,
)

# ----- create and read ------------------------------------------------------------------------


async def test_create_answers_201_with_the_full_camel_case_row(
    client: AsyncClient, owner: Actor
) -> None:
    starts = at(days=3, hour=20, minute=15)
    response = await client.post(RESERVATIONS, headers=owner.headers, json=booking(startsAt=starts))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == RESERVATION_FIELDS
    assert body["startsAt"] == iso(starts)
    assert body["status"] == "booked"
    assert body["durationMinutes"] == 90  # the restaurant's default
    assert body["tableId"] is None and body["guestId"] is None
    assert body["phone"] is None and body["email"] is None and body["notes"] is None
    assert body["version"] == 1
    for stamp in ("startsAt", "createdAt", "updatedAt"):
        assert body[stamp].endswith("Z"), body[stamp]
    assert await get_reservation(client, owner, body["id"]) == body


async def test_create_with_every_field(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "7", capacity=6)
    body = await create_reservation(
        client,
        owner,
        guestName="  Grace Hopper  ",
        partySize=5,
        durationMinutes=120,
        tableId=table["id"],
        phone="+33612345678",
        email="Grace@Example.com",
        notes="window seat",
        status="confirmed",
    )
    assert body["guestName"] == "Grace Hopper"
    assert body["partySize"] == 5
    assert body["durationMinutes"] == 120
    assert body["tableId"] == table["id"]
    assert body["phone"] == "+33612345678"
    assert body["email"] == "grace@example.com"
    assert body["notes"] == "window seat"
    assert body["status"] == "confirmed"


async def test_the_far_future_is_fine_up_to_the_calendars_end(
    client: AsyncClient, owner: Actor
) -> None:
    body = await create_reservation(
        client, owner, startsAt="9999-12-30T12:00:00Z", durationMinutes=720
    )
    assert body["startsAt"] == "9999-12-30T12:00:00Z"
    assert await list_ids(client, owner, date="9999-12-30") == [body["id"]]


async def test_a_start_with_another_offset_is_answered_in_utc(
    client: AsyncClient, owner: Actor
) -> None:
    starts = at(days=4, hour=18)
    paris = starts.astimezone(ZoneInfo("Europe/Paris")).isoformat()
    body = await create_reservation(client, owner, startsAt=paris)
    assert body["startsAt"] == iso(starts)


async def test_duration_defaults_to_the_restaurants_setting(
    client: AsyncClient, owner: Actor
) -> None:
    await configure(client, owner, defaultReservationMinutes=135)
    assert (await create_reservation(client, owner))["durationMinutes"] == 135
    assert (await create_reservation(client, owner, durationMinutes=15))["durationMinutes"] == 15


@pytest.mark.parametrize(
    ("field", "value"),
    [("guestName", "A"), ("guestName", "x" * 100), ("partySize", 1), ("partySize", 50)],
    ids=["name-1", "name-100", "party-1", "party-50"],
)
async def test_boundaries_that_are_accepted(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    assert (await create_reservation(client, owner, **{field: value}))[field] == value


@pytest.mark.parametrize("minutes", [15, 720])
async def test_duration_boundaries_are_accepted(
    client: AsyncClient, owner: Actor, minutes: int
) -> None:
    body = await create_reservation(client, owner, durationMinutes=minutes)
    assert body["durationMinutes"] == minutes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("guestName", ""),
        ("guestName", "   "),
        ("guestName", "x" * 101),
        ("guestName", None),
        ("partySize", 0),
        ("partySize", 51),
        ("partySize", "many"),
        ("durationMinutes", 14),
        ("durationMinutes", 721),
        ("startsAt", "2099-06-01T19:00:00"),
        ("startsAt", "tomorrow"),
        ("startsAt", "9999-12-31T23:00:00Z"),  # its end would not fit in the calendar
        ("startsAt", "9999-12-31T20:00:00-05:00"),
        ("startsAt", "0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
        ("phone", "0612345678"),
        ("phone", "+0612345678"),
        ("phone", "+1234567890123456"),
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("status", "checked_in"),
        ("status", "completed"),
        ("tableId", "seven"),
        ("favouriteColour", "blue"),
        ("id", 99),
        ("restaurantId", 1),
        ("version", 3),
        ("createdAt", "2030-01-01T00:00:00Z"),
        ("updatedAt", "2030-01-01T00:00:00Z"),
        ("guestId", 1),
    ],
)
async def test_invalid_create_bodies_are_422_and_create_nothing(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    response = await client.post(
        RESERVATIONS, headers=owner.headers, json=booking(**{field: value})
    )
    assert_validation_error(response, field)
    assert await list_ids(client, owner, status=["booked", "confirmed"]) == []


@pytest.mark.parametrize("missing", ["guestName", "partySize", "startsAt"])
async def test_required_fields(client: AsyncClient, owner: Actor, missing: str) -> None:
    body = booking()
    del body[missing]
    response = await client.post(RESERVATIONS, headers=owner.headers, json=body)
    assert_validation_error(response, missing)


async def test_starts_at_in_the_past_is_422(client: AsyncClient, owner: Actor) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    response = await client.post(RESERVATIONS, headers=owner.headers, json=booking(startsAt=past))
    assert_validation_error(response, "startsAt")
    assert await list_ids(client, owner, status=["booked"]) == []


async def test_unknown_id_and_unknown_table_are_404(client: AsyncClient, owner: Actor) -> None:
    assert_error(await client.get(f"{RESERVATIONS}/999", headers=owner.headers), 404, "not_found")
    response = await client.post(RESERVATIONS, headers=owner.headers, json=booking(tableId=999))
    assert_error(response, 404, "not_found")


# ----- update and delete ----------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(client: AsyncClient, owner: Actor) -> None:
    created = await create_reservation(client, owner, phone="+14155550100", notes="n")
    later = at(days=5, hour=21)
    updated = await patch_reservation(
        client, owner, created["id"], guestName=" Ada L. ", startsAt=later, phone=None
    )
    assert updated["guestName"] == "Ada L."
    assert updated["startsAt"] == iso(later)
    assert updated["phone"] is None
    assert updated["notes"] == "n"
    assert updated["partySize"] == created["partySize"]
    assert updated["version"] == created["version"] + 1
    assert await get_reservation(client, owner, created["id"]) == updated


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("guestName", None),
        ("guestName", " "),
        ("partySize", None),
        ("partySize", 51),
        ("startsAt", None),
        ("startsAt", "2099-06-01T19:00:00"),
        ("startsAt", "9999-12-31T00:00:00Z"),
        ("startsAt", "0001-01-01T00:00:00+05:00"),
        ("durationMinutes", 10),
        ("status", None),
        ("status", "seated"),
        ("version", 2),
        ("restaurantId", 2),
        ("mood", "happy"),
    ],
)
async def test_invalid_patches_are_422_and_change_nothing(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    created = await create_reservation(client, owner)
    response = await client.patch(
        f"{RESERVATIONS}/{created['id']}", headers=owner.headers, json={field: value}
    )
    assert_validation_error(response, field)
    assert await get_reservation(client, owner, created["id"]) == created


async def test_moving_a_reservation_into_the_past_is_422(client: AsyncClient, owner: Actor) -> None:
    created = await create_reservation(client, owner)
    past = datetime.now(UTC) - timedelta(hours=1)
    response = await client.patch(
        f"{RESERVATIONS}/{created['id']}", headers=owner.headers, json={"startsAt": iso(past)}
    )
    assert_validation_error(response, "startsAt")
    assert await get_reservation(client, owner, created["id"]) == created


async def test_a_patch_that_changes_nothing_keeps_the_version(
    client: AsyncClient, owner: Actor
) -> None:
    created = await create_reservation(client, owner, notes="n")
    same_instant = parse(created["startsAt"]).astimezone(ZoneInfo("Asia/Kolkata")).isoformat()
    response = await client.patch(
        f"{RESERVATIONS}/{created['id']}",
        headers=owner.headers,
        json={
            "guestName": created["guestName"],
            "startsAt": same_instant,
            "durationMinutes": created["durationMinutes"],
            "notes": "n",
            "status": "booked",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == created


async def test_a_reservation_under_way_can_still_be_edited(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    created = await create_reservation(client, owner, durationMinutes=60)
    await backdate(app, created["id"], datetime.now(UTC) - timedelta(minutes=45))
    started = await get_reservation(client, owner, created["id"])
    # Its (past) startsAt is not touched, so extending the stay is fine.
    longer = await patch_reservation(
        client, owner, created["id"], durationMinutes=120, startsAt=started["startsAt"]
    )
    assert longer["durationMinutes"] == 120
    assert longer["startsAt"] == started["startsAt"]


async def test_if_match_guards_patch_and_delete(client: AsyncClient, owner: Actor) -> None:
    created = await create_reservation(client, owner)
    url = f"{RESERVATIONS}/{created['id']}"
    stale = {**owner.headers, "If-Match": '"7"'}
    response = await client.patch(url, headers=stale, json={"partySize": 3})
    assert_error(response, 412, "precondition_failed")
    assert_error(await client.delete(url, headers=stale), 412, "precondition_failed")
    assert await get_reservation(client, owner, created["id"]) == created

    current = {**owner.headers, "If-Match": f'"{created["version"]}"'}
    response = await client.patch(url, headers=current, json={"partySize": 3})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == created["version"] + 1
    # The old version is now stale.
    assert_error(await client.delete(url, headers=current), 412, "precondition_failed")
    fresh = {**owner.headers, "If-Match": f'"{response.json()["version"]}"'}
    assert (await client.delete(url, headers=fresh)).status_code == 204


async def test_delete_answers_204_and_the_row_is_gone(client: AsyncClient, owner: Actor) -> None:
    created = await create_reservation(client, owner)
    url = f"{RESERVATIONS}/{created['id']}"
    response = await client.delete(url, headers=owner.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(url, headers=owner.headers), 404, "not_found")
    assert_error(await client.delete(url, headers=owner.headers), 404, "not_found")
    assert_error(
        await client.patch(url, headers=owner.headers, json={"partySize": 3}), 404, "not_found"
    )
