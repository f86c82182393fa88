"""Restaurant B can neither see, change nor reference restaurant A's reservations and tables."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response

from app.restaurants.schemas import WEEKDAYS
from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import assert_error, without_request_id
from tests.reservations.factories import (
    RESERVATIONS,
    at,
    availability,
    booking,
    configure,
    create_reservation,
    create_table,
    get_reservation,
    get_table,
    interval,
    list_guests,
)

ALL = ["booked", "confirmed", "checked_in", "completed", "cancelled", "no_show"]


async def everything(client: AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    response = await client.get(
        RESERVATIONS, headers=actor.headers, params={"status": ALL, "limit": 200}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def attempt(client: AsyncClient, actor: Actor, how: str, reservation_id: int) -> Response:
    url = f"{RESERVATIONS}/{reservation_id}"
    headers = actor.headers
    if how == "get":
        return await client.get(url, headers=headers)
    if how == "patch":
        return await client.patch(url, headers=headers, json={"guestName": "Mallory"})
    if how == "patch-status":
        return await client.patch(url, headers=headers, json={"status": "cancelled"})
    if how == "patch-if-match":
        stale = {**headers, "If-Match": '"999"'}
        return await client.patch(url, headers=stale, json={"partySize": 9})
    if how == "delete":
        return await client.delete(url, headers=headers)
    if how == "delete-if-match":
        return await client.delete(url, headers={**headers, "If-Match": '"999"'})
    if how == "check-in":
        return await client.post(f"{url}/check-in", headers=headers)
    assert how == "check-in-body"
    return await client.post(f"{url}/check-in", headers=headers, json={"allowOverCapacity": True})


@pytest.mark.parametrize(
    "how",
    [
        "get",
        "patch",
        "patch-status",
        "patch-if-match",
        "delete",
        "delete-if-match",
        "check-in",
        "check-in-body",
    ],
)
async def test_a_foreign_reservation_is_answered_like_a_missing_one(
    client: AsyncClient, owner: Actor, rival: Actor, how: str
) -> None:
    table = await create_table(client, owner, "1")
    theirs = await create_reservation(client, owner, tableId=table["id"])
    foreign = await attempt(client, rival, how, theirs["id"])
    assert_error(foreign, 404, "not_found")
    # Nothing of A's changed.
    assert await get_reservation(client, owner, theirs["id"]) == theirs
    assert await list_guests(client, owner) == []
    assert await list_guests(client, rival) == []
    assert (await get_table(client, owner, table["id"]))["currentGuestId"] is None

    # Once the row really is gone, B gets the very same answer.
    response = await client.delete(f"{RESERVATIONS}/{theirs['id']}", headers=owner.headers)
    assert response.status_code == 204
    missing = await attempt(client, rival, how, theirs["id"])
    assert without_request_id(foreign) == without_request_id(missing)
    assert foreign.headers["content-type"] == missing.headers["content-type"]


async def test_lists_and_availability_show_only_the_callers_rows(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    starts = at(days=3, hour=19)
    table = await create_table(client, owner, "1")
    mine = await create_reservation(client, owner, tableId=table["id"], startsAt=starts)
    cancelled = await create_reservation(client, owner, startsAt=starts)
    response = await client.patch(
        f"{RESERVATIONS}/{cancelled['id']}", headers=owner.headers, json={"status": "cancelled"}
    )
    assert response.status_code == 200

    assert await everything(client, rival) == []
    for params in ({}, {"date": starts.date().isoformat()}, {"status": "cancelled"}):
        response = await client.get(RESERVATIONS, headers=rival.headers, params=params)
        assert response.json() == {"items": [], "nextCursor": None}, params
    assert [r["id"] for r in await everything(client, owner)] == [mine["id"], cancelled["id"]]

    # B's own table at the same time is free; A's table never shows up in B's slots.
    theirs = await create_table(client, rival, "1")
    hours = {day: [interval("18:00", "20:00")] for day in WEEKDAYS}
    await configure(client, rival, serviceHours=hours)
    slots = (await availability(client, rival, starts.date()))["slots"]
    assert len(slots) == 8
    assert all(slot["tableIds"] == [theirs["id"]] for slot in slots)


async def test_a_foreign_table_cannot_be_booked(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    table = await create_table(client, owner, "1")
    for status in ("booked", "confirmed"):
        body = booking(tableId=table["id"], status=status)
        response = await client.post(RESERVATIONS, headers=rival.headers, json=body)
        assert_error(response, 404, "not_found")
    assert await everything(client, rival) == []
    assert await everything(client, owner) == []

    own = await create_reservation(client, rival)
    url = f"{RESERVATIONS}/{own['id']}"
    response = await client.patch(url, headers=rival.headers, json={"tableId": table["id"]})
    assert_error(response, 404, "not_found")
    assert await get_reservation(client, rival, own["id"]) == own


@pytest.mark.parametrize("via", ["check-in", "patch"])
async def test_a_foreign_table_cannot_be_used_for_check_in(
    client: AsyncClient, owner: Actor, rival: Actor, via: str
) -> None:
    table = await create_table(client, owner, "1")
    before_table = await get_table(client, owner, table["id"])
    own = await create_reservation(client, rival)
    url = f"{RESERVATIONS}/{own['id']}"
    if via == "check-in":
        response = await client.post(
            f"{url}/check-in", headers=rival.headers, json={"tableId": table["id"]}
        )
    else:
        response = await client.patch(
            url, headers=rival.headers, json={"status": "checked_in", "tableId": table["id"]}
        )
    assert_error(response, 404, "not_found")
    assert await get_reservation(client, rival, own["id"]) == own
    assert await list_guests(client, rival) == []
    assert await list_guests(client, owner) == []
    assert await get_table(client, owner, table["id"]) == before_table


async def test_staff_of_the_same_restaurant_share_its_reservations(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    server = await add_staff(client, owner, "server")
    mine = await create_reservation(client, owner)
    assert await get_reservation(client, server, mine["id"]) == mine
    by_server = await create_reservation(client, server, startsAt=at(days=4))
    assert [r["id"] for r in await everything(client, owner)] == [mine["id"], by_server["id"]]
    assert_error(
        await client.get(f"{RESERVATIONS}/{by_server['id']}", headers=rival.headers),
        404,
        "not_found",
    )


async def test_reservations_need_a_token(client: AsyncClient, owner: Actor) -> None:
    mine = await create_reservation(client, owner)
    url = f"{RESERVATIONS}/{mine['id']}"
    for response in (
        await client.get(RESERVATIONS),
        await client.post(RESERVATIONS, json=booking()),
        await client.get(url),
        await client.patch(url, json={"partySize": 3}),
        await client.delete(url),
        await client.post(f"{url}/check-in"),
        await client.get(
            f"{RESERVATIONS}/availability", params={"date": "2030-01-01", "partySize": 2}
        ),
    ):
        assert_error(response, 401, "unauthorized")
    assert await get_reservation(client, owner, mine["id"]) == mine
