"""docs/contract.md, "The guest and table invariant": one test per row of the write table, through
every
route that performs the write, then the order in which combined failures answer."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.fixtures.floor import (
    assert_invariant,
    create_guest,
    create_table,
    get_guest,
    get_table,
    guest_in,
    guest_url,
    patch_guest,
    patch_table,
    seat,
    set_table_after_guest_leaves,
    snapshot,
    table_url,
)

# The three ways to seat guest G at table T: guest PATCH, the seat action, table PATCH.
ROUTES = ("guest_patch", "seat_action", "table_patch")
AFTER_LEAVING = ("dirty", "available")


async def seat_via(
    client: AsyncClient, actor: Actor, route: str, guest_id: int, table_id: int, **kw: Any
) -> Response:
    if route == "guest_patch":
        return await patch_guest(client, actor, guest_id, {"tableId": table_id, **kw})
    if route == "seat_action":
        return await client.post(
            f"{guest_url(guest_id)}/seat", headers=actor.headers, json={"tableId": table_id, **kw}
        )
    return await patch_table(client, actor, table_id, {"currentGuestId": guest_id, **kw})


async def assert_refused_unchanged(
    client: AsyncClient, actor: Actor, request: Any, status: int, code: str
) -> dict[str, Any]:
    """``request`` (a coroutine factory) answers ``status``/``code`` and no row changes."""
    before = await snapshot(client, actor)
    body = assert_error(await request(), status, code)
    assert await assert_invariant(client, actor) == before
    return body


# ----- seating ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("table_status", ["available", "reserved", "dirty"])
async def test_seating_at_a_free_table_seats_and_occupies(
    client: AsyncClient, owner: Actor, route: str, table_status: str
) -> None:
    table = await create_table(client, owner, "1", 4, status=table_status)
    guest = await create_guest(client, owner, "Ana", 4)
    response = await seat_via(client, owner, route, guest["id"], table["id"])
    assert response.status_code == 200, response.text
    seated, occupied = (
        await get_guest(client, owner, guest["id"]),
        await get_table(client, owner, table["id"]),
    )
    assert response.json() == (occupied if route == "table_patch" else seated)
    assert seated["status"] == "seated" and seated["tableId"] == table["id"]
    assert seated["seatedAt"] is not None and seated["completedAt"] is None
    assert seated["version"] > guest["version"]
    assert occupied["status"] == "occupied" and occupied["currentGuestId"] == guest["id"]
    assert occupied["version"] > table["version"]
    await assert_invariant(client, owner)


@pytest.mark.parametrize("route", ROUTES)
async def test_seating_at_an_out_of_service_table_is_table_unavailable(
    client: AsyncClient, owner: Actor, route: str
) -> None:
    table = await create_table(client, owner, "1", 4, status="out_of_service")
    guest = await create_guest(client, owner, "Ana", 2)
    await assert_refused_unchanged(
        client,
        owner,
        lambda: seat_via(client, owner, route, guest["id"], table["id"]),
        409,
        "table_unavailable",
    )


@pytest.mark.parametrize("route", ROUTES)
async def test_seating_at_a_table_occupied_by_another_is_table_occupied(
    client: AsyncClient, owner: Actor, route: str
) -> None:
    table = await create_table(client, owner, "1", 4)
    first = await create_guest(client, owner, "First", 2)
    await seat(client, owner, first["id"], table["id"])
    second = await create_guest(client, owner, "Second", 2)
    body = await assert_refused_unchanged(
        client,
        owner,
        lambda: seat_via(client, owner, route, second["id"], table["id"]),
        409,
        "table_occupied",
    )
    assert body["error"]["details"]["currentGuestId"] == first["id"]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_party_larger_than_the_table_needs_allow_over_capacity(
    client: AsyncClient, owner: Actor, route: str
) -> None:
    table = await create_table(client, owner, "1", 4)
    guest = await create_guest(client, owner, "Big", 5)
    await assert_refused_unchanged(
        client,
        owner,
        lambda: seat_via(client, owner, route, guest["id"], table["id"]),
        409,
        "capacity_exceeded",
    )
    response = await seat_via(
        client, owner, route, guest["id"], table["id"], allowOverCapacity=True
    )
    assert response.status_code == 200, response.text
    assert "allowOverCapacity" not in response.json()  # accepted, not stored
    assert (await get_guest(client, owner, guest["id"]))["tableId"] == table["id"]
    await assert_invariant(client, owner)


@pytest.mark.parametrize("route", ROUTES)
async def test_seating_a_guest_already_at_that_table_changes_nothing(
    client: AsyncClient, owner: Actor, route: str
) -> None:
    table = await create_table(client, owner, "1", 2)
    guest = await create_guest(client, owner, "Big", 3)
    await seat(client, owner, guest["id"], table["id"], allowOverCapacity=True)
    before = await snapshot(client, owner)
    # Not even the capacity is checked again: the guest is already there.
    response = await seat_via(client, owner, route, guest["id"], table["id"])
    assert response.status_code == 200, response.text
    assert await assert_invariant(client, owner) == before


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("after", AFTER_LEAVING)
async def test_moving_frees_the_old_table_and_keeps_seated_at(
    client: AsyncClient, owner: Actor, route: str, after: str
) -> None:
    await set_table_after_guest_leaves(client, owner, after)
    t1 = await create_table(client, owner, "1", 4)
    t2 = await create_table(client, owner, "2", 4)
    guest = await seat(client, owner, (await create_guest(client, owner))["id"], t1["id"])
    old_t1 = await get_table(client, owner, t1["id"])
    response = await seat_via(client, owner, route, guest["id"], t2["id"])
    assert response.status_code == 200, response.text
    moved = await get_guest(client, owner, guest["id"])
    assert moved["status"] == "seated" and moved["tableId"] == t2["id"]
    assert moved["seatedAt"] == guest["seatedAt"]
    freed, taken = (
        await get_table(client, owner, t1["id"]),
        await get_table(client, owner, t2["id"]),
    )
    assert freed["status"] == after and freed["currentGuestId"] is None
    assert freed["version"] > old_t1["version"]
    assert taken["status"] == "occupied" and taken["currentGuestId"] == guest["id"]
    await assert_invariant(client, owner)


@pytest.mark.parametrize("route", ROUTES)
async def test_a_move_that_fails_leaves_the_guest_where_it_was(
    client: AsyncClient, owner: Actor, route: str
) -> None:
    t1 = await create_table(client, owner, "1", 4)
    t2 = await create_table(client, owner, "2", 2)
    guest = await seat(client, owner, (await create_guest(client, owner, "Ana", 3))["id"], t1["id"])
    await assert_refused_unchanged(
        client,
        owner,
        lambda: seat_via(client, owner, route, guest["id"], t2["id"]),
        409,
        "capacity_exceeded",
    )


@pytest.mark.parametrize("start", ["waiting", "notified"])
@pytest.mark.parametrize(
    "body", [{"status": "seated"}, {"status": "seated", "tableId": None}], ids=["absent", "null"]
)
async def test_status_seated_without_a_table_is_422(
    client: AsyncClient, owner: Actor, start: str, body: dict[str, Any]
) -> None:
    guest = await guest_in(client, owner, start)
    before = await snapshot(client, owner)
    assert_validation_error(await patch_guest(client, owner, guest["id"], body))
    assert await assert_invariant(client, owner) == before


async def test_status_seated_with_tableid_null_on_a_seated_guest_is_422(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await guest_in(client, owner, "seated")
    before = await snapshot(client, owner)
    response = await patch_guest(client, owner, guest["id"], {"status": "seated", "tableId": None})
    assert_validation_error(response, "tableId")
    assert await assert_invariant(client, owner) == before


async def test_status_seated_with_the_table_already_set_is_a_no_op(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await guest_in(client, owner, "seated")
    before = await snapshot(client, owner)
    response = await patch_guest(client, owner, guest["id"], {"status": "seated"})
    assert response.status_code == 200, response.text
    assert response.json() == guest
    assert await assert_invariant(client, owner) == before


# ----- leaving the table --------------------------------------------------------------------


@pytest.mark.parametrize("after", AFTER_LEAVING)
@pytest.mark.parametrize("how", ["patch_status", "complete_action", "patch_status_and_null"])
async def test_completing_sets_completed_at_and_frees_the_table(
    client: AsyncClient, owner: Actor, after: str, how: str
) -> None:
    await set_table_after_guest_leaves(client, owner, after)
    table = await create_table(client, owner, "1", 4)
    guest = await seat(client, owner, (await create_guest(client, owner))["id"], table["id"])
    if how == "complete_action":
        response = await client.post(f"{guest_url(guest['id'])}/complete", headers=owner.headers)
    else:
        body: dict[str, Any] = {"status": "completed"}
        if how == "patch_status_and_null":
            body["tableId"] = None
        response = await patch_guest(client, owner, guest["id"], body)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done == await get_guest(client, owner, guest["id"])
    assert done["status"] == "completed" and done["tableId"] is None
    assert done["completedAt"] is not None and done["seatedAt"] == guest["seatedAt"]
    freed = await get_table(client, owner, table["id"])
    assert freed["status"] == after and freed["currentGuestId"] is None
    await assert_invariant(client, owner)


@pytest.mark.parametrize(
    "body",
    [{"status": "waiting"}, {"tableId": None}, {"status": "waiting", "tableId": None}],
    ids=["status", "null_table", "both"],
)
async def test_unseating_makes_the_table_available_at_once(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    await set_table_after_guest_leaves(client, owner, "dirty")  # unseating ignores it
    table = await create_table(client, owner, "1", 4)
    guest = await seat(client, owner, (await create_guest(client, owner))["id"], table["id"])
    response = await patch_guest(client, owner, guest["id"], body)
    assert response.status_code == 200, response.text
    back = response.json()
    assert back["status"] == "waiting" and back["tableId"] is None
    assert back["seatedAt"] is None and back["completedAt"] is None
    assert back["arrivedAt"] == guest["arrivedAt"]
    freed = await get_table(client, owner, table["id"])
    assert freed["status"] == "available" and freed["currentGuestId"] is None
    await assert_invariant(client, owner)


@pytest.mark.parametrize("after", AFTER_LEAVING)
async def test_table_patch_current_guest_null_completes_the_guest(
    client: AsyncClient, owner: Actor, after: str
) -> None:
    await set_table_after_guest_leaves(client, owner, after)
    table = await create_table(client, owner, "1", 4)
    guest = await seat(client, owner, (await create_guest(client, owner))["id"], table["id"])
    response = await patch_table(client, owner, table["id"], {"currentGuestId": None})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == after and response.json()["currentGuestId"] is None
    done = await get_guest(client, owner, guest["id"])
    assert done["status"] == "completed" and done["tableId"] is None
    assert done["completedAt"] is not None
    await assert_invariant(client, owner)


async def test_table_patch_current_guest_null_on_a_free_table_changes_nothing(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1", 4, status="dirty")
    response = await patch_table(client, owner, table["id"], {"currentGuestId": None})
    assert response.status_code == 200, response.text
    assert response.json() == table


@pytest.mark.parametrize("status", ["available", "reserved", "dirty", "out_of_service"])
async def test_table_status_while_occupied_is_table_occupied(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    guest = await guest_in(client, owner, "seated")
    await assert_refused_unchanged(
        client,
        owner,
        lambda: patch_table(client, owner, guest["tableId"], {"status": status}),
        409,
        "table_occupied",
    )


@pytest.mark.parametrize("after", AFTER_LEAVING)
async def test_deleting_a_seated_guest_frees_its_table(
    client: AsyncClient, owner: Actor, after: str
) -> None:
    await set_table_after_guest_leaves(client, owner, after)
    guest = await guest_in(client, owner, "seated")
    response = await client.delete(guest_url(guest["id"]), headers=owner.headers)
    assert response.status_code == 204, response.text
    assert (await client.get(guest_url(guest["id"]), headers=owner.headers)).status_code == 404
    freed = await get_table(client, owner, guest["tableId"])
    assert freed["status"] == after and freed["currentGuestId"] is None
    await assert_invariant(client, owner)


# ----- which error answers first ------------------------------------------------------------


async def _final_guest(client: AsyncClient, actor: Actor, party: int) -> dict[str, Any]:
    guest = await create_guest(client, actor, "Gone", party)
    response = await patch_guest(client, actor, guest["id"], {"status": "left"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("final", "table_state", "party", "code"),
    [
        (True, "out_of_service", 9, "invalid_transition"),
        (True, "occupied", 9, "invalid_transition"),
        (True, "available", 9, "invalid_transition"),
        (False, "out_of_service", 9, "table_unavailable"),
        (False, "occupied", 9, "table_occupied"),
    ],
    ids=["final+oos+big", "final+occupied+big", "final+big", "oos+big", "occupied+big"],
)
async def test_combined_failures_answer_in_the_documented_order(
    client: AsyncClient,
    owner: Actor,
    route: str,
    final: bool,
    table_state: str,
    party: int,
    code: str,
) -> None:
    if table_state == "occupied":
        table = await create_table(client, owner, "1", 2)
        await seat(
            client, owner, (await create_guest(client, owner, "Other", 2))["id"], table["id"]
        )
    else:
        table = await create_table(client, owner, "1", 2, status=table_state)
    if final:
        guest = await _final_guest(client, owner, party)
    else:
        guest = await create_guest(client, owner, "Big", party)
    await assert_refused_unchanged(
        client, owner, lambda: seat_via(client, owner, route, guest["id"], table["id"]), 409, code
    )


async def test_table_patch_naming_a_missing_guest_is_404_and_changes_nothing(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1", 4)
    await assert_refused_unchanged(
        client,
        owner,
        lambda: client.patch(
            table_url(table["id"]), headers=owner.headers, json={"currentGuestId": 987654}
        ),
        404,
        "not_found",
    )
