"""Several iPads at once: simultaneous writes keep the invariants, exactly one winner each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from tests.fixtures.auth import Actor, add_staff

API = "/api/v1"
RACERS = 12


async def _table(client: AsyncClient, actor: Actor, number: str, capacity: int = 4) -> int:
    response = await client.post(
        f"{API}/tables", headers=actor.headers, json={"tableNumber": number, "capacity": capacity}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _guest(client: AsyncClient, actor: Actor, name: str) -> int:
    response = await client.post(
        f"{API}/guests", headers=actor.headers, json={"name": name, "partySize": 2}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _codes(responses: list) -> list[tuple[int, str | None]]:
    return sorted(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
        for r in responses
    )


async def test_many_hosts_seat_different_guests_at_one_table(
    client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    table_id = await _table(client, owner, "12")
    guest_ids = [await _guest(client, owner, f"Party {i}") for i in range(RACERS)]

    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/guests/{gid}/seat",
                headers=(host if i % 2 else owner).headers,
                json={"tableId": table_id},
            )
            for i, gid in enumerate(guest_ids)
        )
    )

    assert _codes(responses) == [(200, None)] + [(409, "table_occupied")] * (RACERS - 1)
    winner = next(r.json() for r in responses if r.status_code == 200)
    table = (await client.get(f"{API}/tables/{table_id}", headers=owner.headers)).json()
    assert table["status"] == "occupied"
    assert table["currentGuestId"] == winner["id"]
    guests = (
        await client.get(f"{API}/guests", headers=owner.headers, params={"limit": 200})
    ).json()["items"]
    seated = [g for g in guests if g["status"] == "seated"]
    assert [g["id"] for g in seated] == [winner["id"]]
    assert all(g["tableId"] is None for g in guests if g["status"] != "seated")


async def test_one_guest_raced_to_many_tables_sits_at_exactly_one(
    client: AsyncClient, owner: Actor
) -> None:
    table_ids = [await _table(client, owner, f"T{i:02d}") for i in range(RACERS)]
    guest_id = await _guest(client, owner, "Ana")

    responses = await asyncio.gather(
        *(
            client.patch(f"{API}/guests/{guest_id}", headers=owner.headers, json={"tableId": tid})
            for tid in table_ids
        )
    )

    # Every request succeeds (later ones move the guest), but the end state is one table.
    assert all(r.status_code == 200 for r in responses), _codes(responses)
    guest = (await client.get(f"{API}/guests/{guest_id}", headers=owner.headers)).json()
    tables = (
        await client.get(f"{API}/tables", headers=owner.headers, params={"limit": 200})
    ).json()["items"]
    occupied = [t for t in tables if t["status"] == "occupied"]
    assert [t["id"] for t in occupied] == [guest["tableId"]]
    assert occupied[0]["currentGuestId"] == guest_id
    assert all(t["currentGuestId"] is None for t in tables if t["status"] != "occupied")


async def test_simultaneous_reservations_for_one_table_and_time(
    client: AsyncClient, owner: Actor
) -> None:
    table_id = await _table(client, owner, "7")
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/reservations",
                headers=owner.headers,
                json={
                    "guestName": f"Booker {i}",
                    "partySize": 2,
                    "tableId": table_id,
                    "startsAt": (starts + timedelta(minutes=i)).isoformat(),
                },
            )
            for i in range(RACERS)
        )
    )

    assert _codes(responses) == [(201, None)] + [(409, "reservation_conflict")] * (RACERS - 1)
    listed = (await client.get(f"{API}/reservations", headers=owner.headers)).json()["items"]
    assert len(listed) == 1


async def test_simultaneous_completion_and_reseat_keep_the_invariant(
    client: AsyncClient, owner: Actor
) -> None:
    """Completing a party while other hosts race to seat the next one at that table."""
    table_id = await _table(client, owner, "3")
    first = await _guest(client, owner, "First")
    seated = await client.post(
        f"{API}/guests/{first}/seat", headers=owner.headers, json={"tableId": table_id}
    )
    assert seated.status_code == 200
    await client.patch(
        f"{API}/restaurant", headers=owner.headers, json={"tableAfterGuestLeaves": "available"}
    )
    waiting = [await _guest(client, owner, f"Next {i}") for i in range(RACERS)]

    await asyncio.gather(
        client.post(f"{API}/guests/{first}/complete", headers=owner.headers),
        *(
            client.post(
                f"{API}/guests/{gid}/seat", headers=owner.headers, json={"tableId": table_id}
            )
            for gid in waiting
        ),
    )

    table = (await client.get(f"{API}/tables/{table_id}", headers=owner.headers)).json()
    guests = (
        await client.get(
            f"{API}/guests",
            headers=owner.headers,
            params={"limit": 200, "status": ["waiting", "seated", "completed"]},
        )
    ).json()["items"]
    at_table = [g for g in guests if g["tableId"] == table_id]
    assert len(at_table) <= 1
    if at_table:
        assert at_table[0]["status"] == "seated"
        assert table == table | {"status": "occupied", "currentGuestId": at_table[0]["id"]}
    else:
        assert table["currentGuestId"] is None and table["status"] != "occupied"
