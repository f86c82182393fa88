"""A checked-in reservation ends with its party, whichever way the party leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor

API = "/api/v1"


async def _checked_in_guest(client: AsyncClient, owner: Actor) -> tuple[int, int]:
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    created = await client.post(
        f"{API}/reservations",
        headers=owner.headers,
        json={"guestName": "Ines", "partySize": 2, "startsAt": starts.isoformat()},
    )
    assert created.status_code == 201, created.text
    checked_in = await client.post(
        f"{API}/reservations/{created.json()['id']}/check-in", headers=owner.headers
    )
    assert checked_in.status_code == 200, checked_in.text
    assert checked_in.json()["status"] == "checked_in"
    return created.json()["id"], checked_in.json()["guestId"]


@pytest.mark.parametrize("status", ["left", "no_show", "cancelled"])
async def test_reservation_completes_when_its_waiting_party_leaves(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    reservation_id, guest_id = await _checked_in_guest(client, owner)
    left = await client.patch(
        f"{API}/guests/{guest_id}", headers=owner.headers, json={"status": status}
    )
    assert left.status_code == 200, left.text
    reservation = await client.get(f"{API}/reservations/{reservation_id}", headers=owner.headers)
    assert reservation.json()["status"] == "completed"
    assert reservation.json()["guestId"] == guest_id


async def test_reservation_completes_when_its_guest_is_deleted(
    client: AsyncClient, owner: Actor
) -> None:
    reservation_id, guest_id = await _checked_in_guest(client, owner)
    deleted = await client.delete(f"{API}/guests/{guest_id}", headers=owner.headers)
    assert deleted.status_code == 204
    reservation = (
        await client.get(f"{API}/reservations/{reservation_id}", headers=owner.headers)
    ).json()
    assert reservation["status"] == "completed"
    assert reservation["guestId"] is None


async def test_a_guest_back_on_the_waitlist_keeps_the_reservation_checked_in(
    client: AsyncClient, owner: Actor
) -> None:
    reservation_id, guest_id = await _checked_in_guest(client, owner)
    notified = await client.patch(
        f"{API}/guests/{guest_id}", headers=owner.headers, json={"status": "notified"}
    )
    assert notified.status_code == 200
    reservation = await client.get(f"{API}/reservations/{reservation_id}", headers=owner.headers)
    assert reservation.json()["status"] == "checked_in"
