"""One table, one holding reservation per instant: the half-open interval rule."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_error
from tests.reservations.factories import (
    GUESTS,
    RESERVATIONS,
    at,
    booking,
    create_reservation,
    create_table,
    get_reservation,
    iso,
    patch_reservation,
)

# Every reservation here lasts 90 minutes unless it says otherwise: 19:00 holds [19:00, 20:30).
SEVEN = at(hour=19)


async def ids_on(client: AsyncClient, actor: Actor, table_id: int) -> list[int]:
    statuses = ["booked", "confirmed", "checked_in", "completed", "cancelled", "no_show"]
    response = await client.get(
        RESERVATIONS, headers=actor.headers, params={"status": statuses, "limit": 200}
    )
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"] if r["tableId"] == table_id]


@pytest.fixture
async def table(client: AsyncClient, owner: Actor) -> dict[str, Any]:
    return await create_table(client, owner, "1", capacity=4)


@pytest.fixture
async def held(client: AsyncClient, owner: Actor, table: dict[str, Any]) -> dict[str, Any]:
    """Table 1 is booked 19:00-20:30."""
    return await create_reservation(
        client, owner, tableId=table["id"], startsAt=SEVEN, durationMinutes=90
    )


@pytest.mark.parametrize(
    ("offset", "minutes"),
    [
        (0, 90),  # the same interval
        (0, 15),  # same start, shorter
        (89, 30),  # starts one minute before the end
        (-60, 61),  # ends one minute after the start
        (-60, 240),  # contains it
        (30, 15),  # inside it
    ],
    ids=["same", "same-start", "tail", "head", "contains", "inside"],
)
async def test_overlapping_create_is_409_and_creates_nothing(
    client: AsyncClient,
    owner: Actor,
    table: dict[str, Any],
    held: dict[str, Any],
    offset: int,
    minutes: int,
) -> None:
    starts = SEVEN + timedelta(minutes=offset)
    for status in ("booked", "confirmed"):
        body = booking(tableId=table["id"], startsAt=starts, durationMinutes=minutes, status=status)
        response = await client.post(RESERVATIONS, headers=owner.headers, json=body)
        error = assert_error(response, 409, "reservation_conflict")["error"]
        assert error["details"]["conflictingReservationId"] == held["id"]
    assert await ids_on(client, owner, table["id"]) == [held["id"]]


@pytest.mark.parametrize(
    ("offset", "minutes"),
    [(90, 60), (-30, 30), (-120, 120)],
    ids=["after", "before", "long-before"],
)
async def test_back_to_back_is_fine(
    client: AsyncClient,
    owner: Actor,
    table: dict[str, Any],
    held: dict[str, Any],
    offset: int,
    minutes: int,
) -> None:
    starts = SEVEN + timedelta(minutes=offset)
    body = await create_reservation(
        client, owner, tableId=table["id"], startsAt=starts, durationMinutes=minutes
    )
    assert body["tableId"] == table["id"]


async def test_other_tables_and_no_table_never_conflict(
    client: AsyncClient, owner: Actor, held: dict[str, Any]
) -> None:
    other = await create_table(client, owner, "2")
    await create_reservation(client, owner, tableId=other["id"], startsAt=SEVEN)
    await create_reservation(client, owner, startsAt=SEVEN)
    await create_reservation(client, owner, startsAt=SEVEN)


async def test_rival_restaurants_do_not_share_tables(
    client: AsyncClient, owner: Actor, rival: Actor, held: dict[str, Any]
) -> None:
    theirs = await create_table(client, rival, "1")
    body = await create_reservation(client, rival, tableId=theirs["id"], startsAt=SEVEN)
    assert body["tableId"] == theirs["id"]


async def test_patch_into_an_overlap_is_409_and_changes_nothing(
    client: AsyncClient, owner: Actor, table: dict[str, Any], held: dict[str, Any]
) -> None:
    other = await create_table(client, owner, "2")
    later = await create_reservation(
        client, owner, tableId=table["id"], startsAt=SEVEN + timedelta(hours=3)
    )
    elsewhere = await create_reservation(client, owner, tableId=other["id"], startsAt=SEVEN)
    unplaced = await create_reservation(client, owner, startsAt=SEVEN)
    url = f"{RESERVATIONS}/{{}}"
    moves = [
        (later, {"startsAt": iso(SEVEN + timedelta(minutes=60))}),
        (later, {"startsAt": iso(SEVEN + timedelta(minutes=-30)), "durationMinutes": 45}),
        (held, {"durationMinutes": 181}),  # reaches into `later` at 22:00
        (elsewhere, {"tableId": table["id"]}),
        (unplaced, {"tableId": table["id"]}),
    ]
    for row, change in moves:
        response = await client.patch(url.format(row["id"]), headers=owner.headers, json=change)
        assert_error(response, 409, "reservation_conflict")
        assert await get_reservation(client, owner, row["id"]) == row


async def test_patches_that_keep_clear_are_fine(
    client: AsyncClient, owner: Actor, table: dict[str, Any], held: dict[str, Any]
) -> None:
    later = await create_reservation(
        client, owner, tableId=table["id"], startsAt=SEVEN + timedelta(hours=3)
    )
    # A reservation never conflicts with itself.
    moved = await patch_reservation(
        client, owner, held["id"], startsAt=SEVEN + timedelta(minutes=30), notes="moved"
    )
    assert moved["startsAt"] == iso(SEVEN + timedelta(minutes=30))
    # 19:30 + 150 min ends exactly where `later` begins.
    assert (await patch_reservation(client, owner, held["id"], durationMinutes=150))[
        "durationMinutes"
    ] == 150
    assert (await patch_reservation(client, owner, later["id"], tableId=None))["tableId"] is None
    assert (await patch_reservation(client, owner, held["id"], durationMinutes=300))[
        "durationMinutes"
    ] == 300


@pytest.mark.parametrize("final", ["cancelled", "no_show"])
async def test_cancelled_and_no_show_release_the_table(
    client: AsyncClient, owner: Actor, table: dict[str, Any], held: dict[str, Any], final: str
) -> None:
    other = await create_reservation(client, owner, tableId=table["id"], startsAt=at(days=4))
    await patch_reservation(client, owner, held["id"], status=final)
    # Moving another booking onto the released interval is fine…
    moved = await patch_reservation(client, owner, other["id"], startsAt=SEVEN)
    assert moved["startsAt"] == iso(SEVEN)
    # …and what conflicts now is that booking, never the released one.
    response = await client.post(
        RESERVATIONS, headers=owner.headers, json=booking(tableId=table["id"], startsAt=SEVEN)
    )
    error = assert_error(response, 409, "reservation_conflict")["error"]
    assert error["details"]["conflictingReservationId"] == other["id"]
    await patch_reservation(client, owner, other["id"], status="cancelled")
    body = await create_reservation(client, owner, tableId=table["id"], startsAt=SEVEN)
    assert body["status"] == "booked"


async def test_checked_in_holds_and_completed_releases(
    client: AsyncClient, owner: Actor, table: dict[str, Any], held: dict[str, Any]
) -> None:
    response = await client.post(f"{RESERVATIONS}/{held['id']}/check-in", headers=owner.headers)
    assert response.status_code == 200, response.text
    guest_id = response.json()["guestId"]
    response = await client.post(
        RESERVATIONS, headers=owner.headers, json=booking(tableId=table["id"], startsAt=SEVEN)
    )
    assert_error(response, 409, "reservation_conflict")

    response = await client.post(f"{GUESTS}/{guest_id}/complete", headers=owner.headers)
    assert response.status_code == 200, response.text
    assert (await get_reservation(client, owner, held["id"]))["status"] == "completed"
    await create_reservation(client, owner, tableId=table["id"], startsAt=SEVEN)


@pytest.mark.parametrize("final", ["cancelled", "no_show"])
@pytest.mark.parametrize("back_to", ["booked", "confirmed", "checked_in"])
async def test_a_released_reservation_cannot_come_back(
    client: AsyncClient,
    owner: Actor,
    table: dict[str, Any],
    held: dict[str, Any],
    final: str,
    back_to: str,
) -> None:
    released = await patch_reservation(client, owner, held["id"], status=final)
    newcomer = await create_reservation(client, owner, tableId=table["id"], startsAt=SEVEN)
    url = f"{RESERVATIONS}/{held['id']}"
    response = await client.patch(url, headers=owner.headers, json={"status": back_to})
    assert_error(response, 409, "invalid_transition")
    response = await client.post(f"{url}/check-in", headers=owner.headers)
    assert_error(response, 409, "invalid_transition")
    assert await get_reservation(client, owner, held["id"]) == released
    assert (await get_reservation(client, owner, newcomer["id"]))["status"] == "booked"


async def test_concurrent_bookings_of_one_slot_let_exactly_one_through(
    client: AsyncClient, owner: Actor, table: dict[str, Any]
) -> None:
    bodies = [
        booking(guestName=f"Party {n}", tableId=table["id"], startsAt=SEVEN + timedelta(minutes=n))
        for n in range(6)
    ]
    responses = await asyncio.gather(
        *(client.post(RESERVATIONS, headers=owner.headers, json=body) for body in bodies)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "reservation_conflict")
    assert len(await ids_on(client, owner, table["id"])) == 1


async def test_concurrent_moves_onto_one_table_let_exactly_one_through(
    client: AsyncClient, owner: Actor, table: dict[str, Any]
) -> None:
    rows = []
    for n in range(4):
        elsewhere = await create_table(client, owner, f"x{n}")
        rows.append(await create_reservation(client, owner, tableId=elsewhere["id"]))
    responses = await asyncio.gather(
        *(
            client.patch(
                f"{RESERVATIONS}/{row['id']}", headers=owner.headers, json={"tableId": table["id"]}
            )
            for row in rows
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    assert len(await ids_on(client, owner, table["id"])) == 1
