"""Write paths that touch two kinds of row, raced against each other many times: no answer is
ever a 5xx, every answer is one the API documents for that race, and the invariant holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from httpx import AsyncClient, Response

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.floor import (
    API,
    assert_invariant,
    create_guest,
    create_table,
    guest_url,
    seat,
    table_url,
)
from tests.reservations.factories import RESERVATIONS, at, create_reservation

ROUNDS = 12

Race = Callable[[AsyncClient, Actor, int], Awaitable[list[Response]]]


def _answers(responses: list[Response]) -> list[tuple[int, str | None]]:
    return [
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
        for r in responses
    ]


async def _checked_in(client: AsyncClient, owner: Actor, n: int) -> tuple[dict, dict, int]:
    """A reservation at its own table, checked in: its guest is seated there."""
    table = await create_table(client, owner, f"R{n}")
    reservation = await create_reservation(
        client, owner, tableId=table["id"], startsAt=at(days=1, hour=0, minute=(n % 4) * 15)
    )
    response = await client.post(
        f"{RESERVATIONS}/{reservation['id']}/check-in", headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return table, response.json(), response.json()["guestId"]


async def _complete_vs_patch_reservation(
    client: AsyncClient, owner: Actor, n: int
) -> list[Response]:
    _, reservation, guest_id = await _checked_in(client, owner, n)
    return list(
        await asyncio.gather(
            client.post(f"{guest_url(guest_id)}/complete", headers=owner.headers),
            client.patch(
                f"{RESERVATIONS}/{reservation['id']}",
                headers=owner.headers,
                json={"notes": f"window seat {n}", "partySize": 3},
            ),
        )
    )


async def _delete_guest_vs_delete_reservation(
    client: AsyncClient, owner: Actor, n: int
) -> list[Response]:
    _, reservation, guest_id = await _checked_in(client, owner, n)
    return list(
        await asyncio.gather(
            client.delete(guest_url(guest_id), headers=owner.headers),
            client.delete(f"{RESERVATIONS}/{reservation['id']}", headers=owner.headers),
        )
    )


async def _delete_table_vs_patch_reservation(
    client: AsyncClient, owner: Actor, n: int
) -> list[Response]:
    table = await create_table(client, owner, f"D{n}")
    reservation = await create_reservation(client, owner, tableId=table["id"], startsAt=at(days=2))
    return list(
        await asyncio.gather(
            client.delete(table_url(table["id"]), headers=owner.headers),
            client.patch(
                f"{RESERVATIONS}/{reservation['id']}",
                headers=owner.headers,
                json={"startsAt": at(days=2, hour=20).isoformat(), "partySize": 3},
            ),
        )
    )


async def _owners_change_each_others_roles(
    client: AsyncClient, owner: Actor, n: int
) -> list[Response]:
    first = await add_staff(client, owner, "owner")
    second = await add_staff(client, owner, "owner")
    return list(
        await asyncio.gather(
            client.patch(
                f"{API}/users/{second.user_id}", headers=first.headers, json={"role": "manager"}
            ),
            client.patch(
                f"{API}/users/{first.user_id}", headers=second.headers, json={"role": "manager"}
            ),
        )
    )


async def _one_guest_to_many_tables(client: AsyncClient, owner: Actor, n: int) -> list[Response]:
    tables = [await create_table(client, owner, f"M{n}-{i}") for i in range(5)]
    guest = await create_guest(client, owner, f"Mover {n}")
    await seat(client, owner, guest["id"], tables[0]["id"])
    return list(
        await asyncio.gather(
            *(
                client.patch(
                    guest_url(guest["id"]), headers=owner.headers, json={"tableId": t["id"]}
                )
                for t in reversed(tables[1:])
            ),
            client.patch(
                table_url(tables[0]["id"]), headers=owner.headers, json={"currentGuestId": None}
            ),
        )
    )


async def _seat_from_both_sides(client: AsyncClient, owner: Actor, n: int) -> list[Response]:
    """A guest PATCH and a table PATCH seat two guests crosswise at two tables."""
    first, second = [await create_table(client, owner, f"X{n}-{i}") for i in range(2)]
    ana = await create_guest(client, owner, "Ana")
    bo = await create_guest(client, owner, "Bo")
    return list(
        await asyncio.gather(
            client.patch(
                guest_url(ana["id"]), headers=owner.headers, json={"tableId": first["id"]}
            ),
            client.patch(
                table_url(first["id"]), headers=owner.headers, json={"currentGuestId": bo["id"]}
            ),
            client.patch(
                guest_url(bo["id"]), headers=owner.headers, json={"tableId": second["id"]}
            ),
            client.patch(
                table_url(second["id"]), headers=owner.headers, json={"currentGuestId": ana["id"]}
            ),
        )
    )


async def _check_in_vs_table_changes(client: AsyncClient, owner: Actor, n: int) -> list[Response]:
    table = await create_table(client, owner, f"C{n}")
    reservation = await create_reservation(client, owner, tableId=table["id"], startsAt=at(days=1))
    return list(
        await asyncio.gather(
            client.post(f"{RESERVATIONS}/{reservation['id']}/check-in", headers=owner.headers),
            client.patch(table_url(table["id"]), headers=owner.headers, json={"status": "dirty"}),
            client.delete(table_url(table["id"]), headers=owner.headers),
        )
    )


async def _complete_vs_delete_guest_vs_table(
    client: AsyncClient, owner: Actor, n: int
) -> list[Response]:
    table = await create_table(client, owner, f"G{n}")
    guest = await create_guest(client, owner, f"Leaver {n}")
    await seat(client, owner, guest["id"], table["id"])
    return list(
        await asyncio.gather(
            client.post(f"{guest_url(guest['id'])}/complete", headers=owner.headers),
            client.delete(guest_url(guest["id"]), headers=owner.headers),
            client.patch(
                table_url(table["id"]), headers=owner.headers, json={"currentGuestId": None}
            ),
            client.patch(guest_url(guest["id"]), headers=owner.headers, json={"status": "waiting"}),
        )
    )


# Each race and the answers it may give besides success: a lost race is a documented 4xx.
RACES: dict[str, tuple[Race, set[tuple[int, str | None]]]] = {
    "complete-vs-patch-reservation": (_complete_vs_patch_reservation, set()),
    "delete-guest-vs-delete-reservation": (
        _delete_guest_vs_delete_reservation,
        {(404, "not_found")},
    ),
    "delete-table-vs-patch-reservation": (
        _delete_table_vs_patch_reservation,
        {(404, "not_found")},
    ),
    "owners-swap-roles": (_owners_change_each_others_roles, {(401, "unauthorized")}),
    "one-guest-many-tables": (
        _one_guest_to_many_tables,
        {(409, "invalid_transition")},
    ),
    "seat-from-both-sides": (_seat_from_both_sides, {(409, "table_occupied")}),
    "check-in-vs-table-changes": (
        _check_in_vs_table_changes,
        {(409, "table_occupied"), (404, "not_found")},
    ),
    "complete-vs-delete-guest": (
        _complete_vs_delete_guest_vs_table,
        {(404, "not_found"), (409, "invalid_transition")},
    ),
}


@pytest.mark.parametrize("race", list(RACES))
async def test_racing_writers_never_answer_5xx_and_keep_the_invariant(
    client: AsyncClient, owner: Actor, race: str
) -> None:
    run, losing = RACES[race]
    allowed = {(200, None), (204, None)} | losing
    seen: list[tuple[int, str | None]] = []
    for n in range(ROUNDS):
        answers = _answers(await run(client, owner, n))
        seen.extend(answers)
        assert all(a in allowed for a in answers), (n, answers)
    assert (200, None) in seen or (204, None) in seen
    await assert_invariant(client, owner)
