"""If-Match under concurrency: several iPads send the same stale version at once and exactly
one write wins, on every route that honours If-Match."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.floor import API, assert_invariant, create_guest, create_table, if_match
from tests.reservations.factories import RESERVATIONS, create_reservation

RACERS = 6

# (path of the row at version 1, the i-th racer's body); the rows are made by ``_row``.
Target = tuple[str, Callable[[int], dict[str, Any] | None]]


async def _row(client: AsyncClient, owner: Actor, kind: str) -> Target:
    if kind == "guest":
        guest = await create_guest(client, owner)
        return f"{API}/guests/{guest['id']}", lambda i: {"notes": f"racer {i}"}
    if kind == "guest-seat":
        guest = await create_guest(client, owner)
        tables = [await create_table(client, owner, f"S{i}") for i in range(RACERS)]
        return f"{API}/guests/{guest['id']}", lambda i: {"tableId": tables[i]["id"]}
    if kind == "table":
        table = await create_table(client, owner, "7")
        return f"{API}/tables/{table['id']}", lambda i: {"section": f"racer {i}"}
    if kind == "table-seat":
        # Every racer seats the same guest: without the lock the later ones see "already
        # here, nothing changes" and answer 200 on a version they never read.
        table = await create_table(client, owner, "8")
        guest = await create_guest(client, owner)
        return f"{API}/tables/{table['id']}", lambda i: {"currentGuestId": guest["id"]}
    if kind == "reservation":
        reservation = await create_reservation(client, owner)
        return f"{RESERVATIONS}/{reservation['id']}", lambda i: {"notes": f"racer {i}"}
    if kind == "user":
        host = await add_staff(client, owner, "host")
        return f"{API}/users/{host.user_id}", lambda i: {"fullName": f"Racer {i}"}
    if kind == "restaurant":
        return f"{API}/restaurant", lambda i: {"name": f"Racer {i}"}
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["guest", "guest-seat", "table", "table-seat", "reservation", "user", "restaurant"]
)
async def test_one_of_many_patches_with_the_same_version_wins(
    client: AsyncClient, owner: Actor, kind: str
) -> None:
    path, body = await _row(client, owner, kind)
    current = (await client.get(path, headers=owner.headers)).json()
    responses = await asyncio.gather(
        *(
            client.patch(path, headers=if_match(owner, current["version"]), json=body(i))
            for i in range(RACERS)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * (RACERS - 1), [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["version"] == current["version"] + 1
    assert (await client.get(path, headers=owner.headers)).json()["version"] == winner["version"]
    await assert_invariant(client, owner)


@pytest.mark.parametrize("kind", ["guest", "table", "reservation", "user"])
async def test_a_delete_racing_a_patch_on_the_same_version(
    client: AsyncClient, owner: Actor, kind: str
) -> None:
    """The PATCH and the DELETE both read version 1: one wins, the other is 412 (or 404 when
    the DELETE went first); never both."""
    path, body = await _row(client, owner, kind)
    version = (await client.get(path, headers=owner.headers)).json()["version"]
    patched, deleted = await asyncio.gather(
        client.patch(path, headers=if_match(owner, version), json=body(0)),
        client.delete(path, headers=if_match(owner, version)),
    )
    outcome = sorted([patched.status_code, deleted.status_code])
    assert outcome in ([200, 412], [204, 404]), (patched.text, deleted.text)
