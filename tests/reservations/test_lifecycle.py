"""Reservation status moves, check-in (which seats a guest) and completion with the guest."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.reservations.factories import (
    GUESTS,
    RESERVATIONS,
    TABLES,
    create_reservation,
    create_table,
    get_guest,
    get_reservation,
    get_table,
    list_guests,
    parse,
)

STATUSES = ["booked", "confirmed", "checked_in", "completed", "cancelled", "no_show"]
LEGAL = {
    ("booked", "confirmed"),
    ("booked", "cancelled"),
    ("booked", "no_show"),
    ("booked", "checked_in"),
    ("confirmed", "cancelled"),
    ("confirmed", "no_show"),
    ("confirmed", "checked_in"),
}
ILLEGAL = [(a, b) for a in STATUSES for b in STATUSES if a != b and (a, b) not in LEGAL]


async def check_in(
    client: AsyncClient, actor: Actor, reservation_id: int, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    url = f"{RESERVATIONS}/{reservation_id}/check-in"
    response = await client.post(url, headers=actor.headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def reach(client: AsyncClient, actor: Actor, status: str) -> dict[str, Any]:
    """A reservation in ``status``, reached through the API."""
    if status in ("booked", "confirmed"):
        return await create_reservation(client, actor, status=status)
    reservation = await create_reservation(client, actor)
    if status in ("cancelled", "no_show"):
        url = f"{RESERVATIONS}/{reservation['id']}"
        response = await client.patch(url, headers=actor.headers, json={"status": status})
        assert response.status_code == 200, response.text
        return response.json()
    table = await create_table(client, actor, f"T{reservation['id']}")
    checked_in = await check_in(client, actor, reservation["id"], {"tableId": table["id"]})
    if status == "checked_in":
        return checked_in
    response = await client.post(
        f"{GUESTS}/{checked_in['guestId']}/complete", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    return await get_reservation(client, actor, reservation["id"])


# ----- status moves by PATCH ------------------------------------------------------------------


@pytest.mark.parametrize(("start", "target"), sorted(LEGAL))
async def test_legal_moves(client: AsyncClient, owner: Actor, start: str, target: str) -> None:
    before = await reach(client, owner, start)
    url = f"{RESERVATIONS}/{before['id']}"
    response = await client.patch(url, headers=owner.headers, json={"status": target})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["status"] == target
    assert after["version"] > before["version"]
    assert await get_reservation(client, owner, before["id"]) == after
    guests = await list_guests(client, owner)
    if target == "checked_in":
        # A PATCH to checked_in is a check-in: the guest waits, as no table is named.
        assert [g["id"] for g in guests] == [after["guestId"]]
        assert guests[0]["status"] == "waiting"
        assert guests[0]["reservationId"] == before["id"]
    else:
        assert guests == []
        assert after["guestId"] is None


@pytest.mark.parametrize(("start", "target"), ILLEGAL)
async def test_illegal_moves_are_409_and_change_nothing(
    client: AsyncClient, owner: Actor, start: str, target: str
) -> None:
    before = await reach(client, owner, start)
    guests_before = await list_guests(client, owner)
    url = f"{RESERVATIONS}/{before['id']}"
    response = await client.patch(url, headers=owner.headers, json={"status": target})
    error = assert_error(response, 409, "invalid_transition")["error"]
    assert error["details"] == {"from": start, "to": target}
    assert await get_reservation(client, owner, before["id"]) == before
    assert await list_guests(client, owner) == guests_before


@pytest.mark.parametrize("status", STATUSES)
async def test_patching_the_current_status_changes_nothing(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    before = await reach(client, owner, status)
    url = f"{RESERVATIONS}/{before['id']}"
    response = await client.patch(url, headers=owner.headers, json={"status": status})
    assert response.status_code == 200, response.text
    assert response.json() == before


# ----- check-in ---------------------------------------------------------------------------------


async def test_check_in_seats_the_guest_at_the_reservations_table(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "4", capacity=4)
    reservation = await create_reservation(
        client,
        owner,
        tableId=table["id"],
        partySize=3,
        guestName="Ada",
        phone="+14155550100",
        notes="birthday",
        status="confirmed",
    )
    # No body at all.
    response = await client.post(
        f"{RESERVATIONS}/{reservation['id']}/check-in", headers=owner.headers
    )
    assert response.status_code == 200, response.text
    checked_in = response.json()
    assert checked_in["status"] == "checked_in"
    assert checked_in["version"] > reservation["version"]
    guest = await get_guest(client, owner, checked_in["guestId"])
    assert guest["reservationId"] == reservation["id"]
    assert (guest["name"], guest["partySize"], guest["phone"], guest["notes"]) == (
        "Ada",
        3,
        "+14155550100",
        "birthday",
    )
    assert guest["status"] == "seated" and guest["tableId"] == table["id"]
    assert guest["arrivedAt"] is not None and guest["seatedAt"] is not None
    assert parse(guest["seatedAt"]) >= parse(guest["arrivedAt"])
    seated_at = await get_table(client, owner, table["id"])
    assert seated_at["status"] == "occupied" and seated_at["currentGuestId"] == guest["id"]


async def test_check_in_at_the_table_named_in_the_body(client: AsyncClient, owner: Actor) -> None:
    booked = await create_table(client, owner, "1")
    chosen = await create_table(client, owner, "2")
    reservation = await create_reservation(client, owner, tableId=booked["id"])
    checked_in = await check_in(client, owner, reservation["id"], {"tableId": chosen["id"]})
    guest = await get_guest(client, owner, checked_in["guestId"])
    assert guest["tableId"] == chosen["id"]
    assert (await get_table(client, owner, chosen["id"]))["currentGuestId"] == guest["id"]
    assert (await get_table(client, owner, booked["id"]))["currentGuestId"] is None


@pytest.mark.parametrize("body", [None, {}, {"allowOverCapacity": False}])
async def test_check_in_without_any_table_leaves_the_guest_waiting(
    client: AsyncClient, owner: Actor, body: dict[str, Any] | None
) -> None:
    reservation = await create_reservation(client, owner)
    checked_in = await check_in(client, owner, reservation["id"], body)
    assert checked_in["status"] == "checked_in"
    guest = await get_guest(client, owner, checked_in["guestId"])
    assert guest["status"] == "waiting"
    assert guest["tableId"] is None and guest["seatedAt"] is None
    assert guest["arrivedAt"] is not None
    assert guest["reservationId"] == reservation["id"]


async def test_check_in_refuses_unknown_fields(client: AsyncClient, owner: Actor) -> None:
    reservation = await create_reservation(client, owner)
    url = f"{RESERVATIONS}/{reservation['id']}/check-in"
    response = await client.post(url, headers=owner.headers, json={"table": 1})
    assert_validation_error(response, "table")
    assert await get_reservation(client, owner, reservation["id"]) == reservation


async def assert_check_in_refused(
    client: AsyncClient,
    owner: Actor,
    reservation: dict[str, Any],
    body: dict[str, Any] | None,
    code: str,
) -> None:
    """Refused with ``code``: no guest created, the reservation and every table untouched."""
    guests = await list_guests(client, owner)
    tables = (await client.get(TABLES, headers=owner.headers)).json()
    url = f"{RESERVATIONS}/{reservation['id']}/check-in"
    assert_error(await client.post(url, headers=owner.headers, json=body), 409, code)
    assert await get_reservation(client, owner, reservation["id"]) == reservation
    assert await list_guests(client, owner) == guests
    assert (await client.get(TABLES, headers=owner.headers)).json() == tables


async def seat_walk_in(client: AsyncClient, owner: Actor, table_id: int) -> dict[str, Any]:
    response = await client.post(
        GUESTS, headers=owner.headers, json={"name": "Walk-in", "partySize": 2}
    )
    assert response.status_code == 201, response.text
    guest_id = response.json()["id"]
    response = await client.post(
        f"{GUESTS}/{guest_id}/seat", headers=owner.headers, json={"tableId": table_id}
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("named_in", ["reservation", "body"])
async def test_check_in_at_an_occupied_table_is_409(
    client: AsyncClient, owner: Actor, named_in: str
) -> None:
    table = await create_table(client, owner, "1")
    await seat_walk_in(client, owner, table["id"])
    fields = {"tableId": table["id"]} if named_in == "reservation" else {}
    reservation = await create_reservation(client, owner, **fields)
    body = {"tableId": table["id"]} if named_in == "body" else None
    await assert_check_in_refused(client, owner, reservation, body, "table_occupied")
    # The PATCH form is refused the same way.
    if named_in == "reservation":
        url = f"{RESERVATIONS}/{reservation['id']}"
        response = await client.patch(url, headers=owner.headers, json={"status": "checked_in"})
        assert_error(response, 409, "table_occupied")
        assert await get_reservation(client, owner, reservation["id"]) == reservation


@pytest.mark.parametrize("named_in", ["reservation", "body"])
async def test_check_in_at_an_out_of_service_table_is_409(
    client: AsyncClient, owner: Actor, named_in: str
) -> None:
    table = await create_table(client, owner, "1", status="out_of_service")
    fields = {"tableId": table["id"]} if named_in == "reservation" else {}
    reservation = await create_reservation(client, owner, **fields)
    body = {"tableId": table["id"]} if named_in == "body" else None
    await assert_check_in_refused(client, owner, reservation, body, "table_unavailable")


async def test_capacity_exceeded_unless_allowed(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1", capacity=2)
    reservation = await create_reservation(client, owner, tableId=table["id"], partySize=5)
    await assert_check_in_refused(client, owner, reservation, None, "capacity_exceeded")
    await assert_check_in_refused(
        client, owner, reservation, {"allowOverCapacity": False}, "capacity_exceeded"
    )
    checked_in = await check_in(client, owner, reservation["id"], {"allowOverCapacity": True})
    guest = await get_guest(client, owner, checked_in["guestId"])
    assert guest["status"] == "seated" and guest["tableId"] == table["id"]


async def test_the_first_failing_rule_answers(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1", capacity=2)
    await seat_walk_in(client, owner, table["id"])
    big = await create_reservation(client, owner, tableId=table["id"], partySize=6)
    # Occupied and too small: occupied wins.
    await assert_check_in_refused(client, owner, big, None, "table_occupied")
    cancelled = await reach(client, owner, "cancelled")
    body = {"tableId": table["id"]}
    await assert_check_in_refused(client, owner, cancelled, body, "invalid_transition")


async def test_check_in_twice_is_409(client: AsyncClient, owner: Actor) -> None:
    reservation = await create_reservation(client, owner)
    checked_in = await check_in(client, owner, reservation["id"])
    await assert_check_in_refused(client, owner, checked_in, None, "invalid_transition")
    assert len(await list_guests(client, owner)) == 1


async def test_concurrent_check_ins_create_one_guest(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1")
    reservation = await create_reservation(client, owner, tableId=table["id"])
    url = f"{RESERVATIONS}/{reservation['id']}/check-in"
    responses = await asyncio.gather(*(client.post(url, headers=owner.headers) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "invalid_transition")
    guests = await list_guests(client, owner)
    assert len(guests) == 1 and guests[0]["tableId"] == table["id"]
    assert (await get_reservation(client, owner, reservation["id"]))["guestId"] == guests[0]["id"]


# ----- completion follows the guest --------------------------------------------------------------


@pytest.mark.parametrize("how", ["guest-complete", "guest-patch", "table-patch"])
async def test_the_reservation_completes_with_its_guest(
    client: AsyncClient, owner: Actor, how: str
) -> None:
    table = await create_table(client, owner, "1")
    reservation = await create_reservation(client, owner, tableId=table["id"])
    guest_id = (await check_in(client, owner, reservation["id"]))["guestId"]
    if how == "guest-complete":
        response = await client.post(f"{GUESTS}/{guest_id}/complete", headers=owner.headers)
    elif how == "guest-patch":
        response = await client.patch(
            f"{GUESTS}/{guest_id}", headers=owner.headers, json={"status": "completed"}
        )
    else:
        response = await client.patch(
            f"{TABLES}/{table['id']}", headers=owner.headers, json={"currentGuestId": None}
        )
    assert response.status_code == 200, response.text
    guest = await get_guest(client, owner, guest_id)
    assert guest["status"] == "completed" and guest["completedAt"] is not None
    done = await get_reservation(client, owner, reservation["id"])
    assert done["status"] == "completed" and done["guestId"] == guest_id
    freed = await get_table(client, owner, table["id"])
    assert freed["currentGuestId"] is None and freed["status"] == "dirty"


async def test_a_waiting_guest_seated_later_completes_the_reservation(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    reservation = await create_reservation(client, owner)
    guest_id = (await check_in(client, owner, reservation["id"]))["guestId"]
    url = f"{GUESTS}/{guest_id}"
    response = await client.post(
        f"{url}/seat", headers=owner.headers, json={"tableId": table["id"]}
    )
    assert response.status_code == 200, response.text
    assert (await get_reservation(client, owner, reservation["id"]))["status"] == "checked_in"
    assert (await client.post(f"{url}/complete", headers=owner.headers)).status_code == 200
    assert (await get_reservation(client, owner, reservation["id"]))["status"] == "completed"


# ----- deletes unlink --------------------------------------------------------------------------


async def test_deleting_a_reservation_unlinks_its_guest(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1")
    reservation = await create_reservation(client, owner, tableId=table["id"])
    guest_id = (await check_in(client, owner, reservation["id"]))["guestId"]
    url = f"{RESERVATIONS}/{reservation['id']}"
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert_error(await client.get(url, headers=owner.headers), 404, "not_found")
    guest = await get_guest(client, owner, guest_id)
    assert guest["reservationId"] is None
    assert guest["status"] == "seated" and guest["tableId"] == table["id"]
    # The guest lives on and completes without its reservation.
    response = await client.post(f"{GUESTS}/{guest_id}/complete", headers=owner.headers)
    assert response.status_code == 200, response.text


async def test_deleting_a_guest_unlinks_its_reservation(client: AsyncClient, owner: Actor) -> None:
    reservation = await create_reservation(client, owner)
    guest_id = (await check_in(client, owner, reservation["id"]))["guestId"]
    response = await client.delete(f"{GUESTS}/{guest_id}", headers=owner.headers)
    assert response.status_code == 204, response.text
    assert (await get_reservation(client, owner, reservation["id"]))["guestId"] is None


async def test_deleting_a_table_unlinks_its_reservations(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1")
    other = await create_table(client, owner, "2")
    kept = await create_reservation(client, owner, tableId=table["id"])
    cancelled = await reach(client, owner, "cancelled")
    url = f"{RESERVATIONS}/{cancelled['id']}"
    response = await client.patch(url, headers=owner.headers, json={"tableId": table["id"]})
    assert response.status_code == 200, response.text
    elsewhere = await create_reservation(client, owner, tableId=other["id"])

    response = await client.delete(f"{TABLES}/{table['id']}", headers=owner.headers)
    assert response.status_code == 204, response.text
    for row in (kept, cancelled):
        after = await get_reservation(client, owner, row["id"])
        assert after["tableId"] is None
        assert after["status"] == row["status"]
    assert (await get_reservation(client, owner, elsewhere["id"]))["tableId"] == other["id"]
