"""Restaurant B can neither read, change, reference nor learn of restaurant A's tables and
guests: every such request answers 404 exactly as for an id that never existed, and no row
of either restaurant changes."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import assert_error, without_request_id
from tests.fixtures.floor import (
    GUESTS,
    TABLES,
    all_guests,
    all_tables,
    assert_invariant,
    create_guest,
    create_table,
    guest_url,
    if_match,
    seat,
    snapshot,
    table_url,
)

MISSING = 987_654


async def floor_of_a(client: AsyncClient, owner: Actor) -> dict[str, Any]:
    """A's floor: a seated guest at table 1, a waiting guest, a free table 2."""
    t1 = await create_table(client, owner, "1", 4)
    t2 = await create_table(client, owner, "2", 4)
    seated = await seat(
        client, owner, (await create_guest(client, owner, "Ana", 2))["id"], t1["id"]
    )
    waiting = await create_guest(client, owner, "Bo", 2)
    return {"t1": t1, "t2": t2, "seated": seated, "waiting": waiting}


def assert_same_as_missing(response: Response, missing: Response, row_id: int) -> None:
    """The same 404 body as for an id that does not exist, once the ids are blanked out."""
    assert_error(response, 404, "not_found")
    assert_error(missing, 404, "not_found")

    def blank(body: dict[str, Any], value: int) -> str:
        return repr(body).replace(str(value), "<id>")

    assert blank(without_request_id(response), row_id) == blank(
        without_request_id(missing), MISSING
    )
    assert set(response.headers) == set(missing.headers)


# (method, path template, body) for every tables/guests route that takes an id in the path.
TABLE_ROUTES = [
    ("GET", "{table}", None),
    ("PATCH", "{table}", {"status": "dirty"}),
    ("PATCH", "{table}", {"currentGuestId": None}),
    ("PATCH", "{table}", {"tableNumber": "99", "capacity": 2}),
    ("DELETE", "{table}", None),
]
GUEST_ROUTES = [
    ("GET", "{guest}", None),
    ("PATCH", "{guest}", {"name": "Mallory"}),
    ("PATCH", "{guest}", {"status": "completed"}),
    ("PATCH", "{guest}", {"tableId": None}),
    ("DELETE", "{guest}", None),
    ("POST", "{guest}/seat", {"tableId": 0}),
    ("POST", "{guest}/complete", None),
]


PATH_CASES = [(*route, row) for route in TABLE_ROUTES for row in ("t1", "t2")] + [
    (*route, row) for route in GUEST_ROUTES for row in ("seated", "waiting")
]


@pytest.mark.parametrize(("method", "template", "body", "which"), PATH_CASES)
async def test_a_foreign_id_in_the_path_is_a_plain_404(
    client: AsyncClient,
    owner: Actor,
    rival: Actor,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    which: str,
) -> None:
    floor = await floor_of_a(client, owner)
    is_table_route = template.startswith("{table}")
    b_table = await create_table(client, rival, "1", 4)
    if body is not None and "tableId" in body and body["tableId"] == 0:
        body = {"tableId": b_table["id"]}  # B's own table: only the path is foreign
    row_id = floor[which]["id"]
    base = TABLES if is_table_route else GUESTS
    suffix = template.split("}", 1)[1]
    before_a, before_b = await snapshot(client, owner), await snapshot(client, rival)

    response = await client.request(
        method, f"{base}/{row_id}{suffix}", headers=rival.headers, json=body
    )
    missing = await client.request(
        method, f"{base}/{MISSING}{suffix}", headers=rival.headers, json=body
    )
    assert_same_as_missing(response, missing, row_id)
    assert await assert_invariant(client, owner) == before_a
    assert await assert_invariant(client, rival) == before_b


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_if_match_on_a_foreign_row_is_404_not_412(
    client: AsyncClient, owner: Actor, rival: Actor, method: str
) -> None:
    floor = await floor_of_a(client, owner)
    before = await snapshot(client, owner)
    for url in (table_url(floor["t2"]["id"]), guest_url(floor["waiting"]["id"])):
        for version in (1, 99):
            response = await client.request(
                method,
                url,
                headers=if_match(rival, version),
                json={} if method == "PATCH" else None,
            )
            assert_error(response, 404, "not_found")
    assert await assert_invariant(client, owner) == before


async def test_lists_show_only_the_callers_rows(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    floor = await floor_of_a(client, owner)
    b_table = await create_table(client, rival, "1", 4)
    b_guest = await create_guest(client, rival, "Zoe", 2)
    assert [t["id"] for t in await all_tables(client, rival)] == [b_table["id"]]
    assert [g["id"] for g in await all_guests(client, rival)] == [b_guest["id"]]
    assert {t["id"] for t in await all_tables(client, owner)} == {
        floor["t1"]["id"],
        floor["t2"]["id"],
    }
    for params, expected in (
        ({"status": "occupied"}, []),
        ({"status": "available"}, [b_table["id"]]),
        ({"section": ""}, []),
    ):
        response = await client.get(TABLES, headers=rival.headers, params=params)
        assert response.status_code == 200, response.text
        assert [t["id"] for t in response.json()["items"]] == expected, params
    for status in ("seated", "waiting"):
        response = await client.get(GUESTS, headers=rival.headers, params={"status": status})
        assert [g["id"] for g in response.json()["items"]] == (
            [b_guest["id"]] if status == "waiting" else []
        )


async def test_a_cursor_from_a_does_not_reveal_a_to_b(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    await floor_of_a(client, owner)
    await create_table(client, rival, "0", 4)
    await create_table(client, rival, "5", 4)
    for path in (TABLES, GUESTS):
        a_page = await client.get(path, headers=owner.headers, params={"limit": 1})
        cursor = a_page.json()["nextCursor"]
        assert cursor is not None
        response = await client.get(path, headers=rival.headers, params={"cursor": cursor})
        assert response.status_code == 200, response.text
        a_ids = {
            row["id"] for row in (await client.get(path, headers=owner.headers)).json()["items"]
        }
        assert not a_ids & {row["id"] for row in response.json()["items"]}


# ----- A's ids inside B's bodies ------------------------------------------------------------


async def _b_floor(client: AsyncClient, rival: Actor) -> dict[str, Any]:
    b_table = await create_table(client, rival, "7", 4)
    b_other = await create_table(client, rival, "8", 4)
    b_waiting = await create_guest(client, rival, "Zoe", 2)
    b_seated = await seat(
        client, rival, (await create_guest(client, rival, "Yan", 2))["id"], b_other["id"]
    )
    return {"table": b_table, "other": b_other, "waiting": b_waiting, "seated": b_seated}


@pytest.mark.parametrize("a_table", ["t1", "t2"])
@pytest.mark.parametrize("b_guest", ["waiting", "seated"])
@pytest.mark.parametrize("route", ["guest_patch", "seat_action"])
async def test_a_foreign_table_in_a_guest_body_is_404(
    client: AsyncClient, owner: Actor, rival: Actor, a_table: str, b_guest: str, route: str
) -> None:
    floor = await floor_of_a(client, owner)
    mine = await _b_floor(client, rival)
    guest_id = mine[b_guest]["id"]
    before_a, before_b = await snapshot(client, owner), await snapshot(client, rival)

    async def attempt(table_id: int) -> Response:
        if route == "guest_patch":
            return await client.patch(
                guest_url(guest_id), headers=rival.headers, json={"tableId": table_id}
            )
        return await client.post(
            f"{guest_url(guest_id)}/seat", headers=rival.headers, json={"tableId": table_id}
        )

    table_id = floor[a_table]["id"]
    assert_same_as_missing(await attempt(table_id), await attempt(MISSING), table_id)
    assert await assert_invariant(client, owner) == before_a
    assert await assert_invariant(client, rival) == before_b


@pytest.mark.parametrize("a_guest", ["seated", "waiting"])
@pytest.mark.parametrize("b_table", ["table", "other"])
async def test_a_foreign_guest_in_a_table_body_is_404(
    client: AsyncClient, owner: Actor, rival: Actor, a_guest: str, b_table: str
) -> None:
    floor = await floor_of_a(client, owner)
    mine = await _b_floor(client, rival)
    table_id = mine[b_table]["id"]
    before_a, before_b = await snapshot(client, owner), await snapshot(client, rival)

    async def attempt(guest_id: int) -> Response:
        return await client.patch(
            table_url(table_id), headers=rival.headers, json={"currentGuestId": guest_id}
        )

    guest_id = floor[a_guest]["id"]
    assert_same_as_missing(await attempt(guest_id), await attempt(MISSING), guest_id)
    assert await assert_invariant(client, owner) == before_a
    assert await assert_invariant(client, rival) == before_b


async def test_b_staff_of_every_role_gets_the_same_404(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    floor = await floor_of_a(client, owner)
    before = await snapshot(client, owner)
    for role in ("manager", "host", "server"):
        staff = await add_staff(client, rival, role)
        for url in (table_url(floor["t1"]["id"]), guest_url(floor["seated"]["id"])):
            assert_error(await client.get(url, headers=staff.headers), 404, "not_found")
        response = await client.patch(
            table_url(floor["t2"]["id"]), headers=staff.headers, json={"status": "dirty"}
        )
        assert_error(response, 404, "not_found")
        response = await client.post(
            f"{guest_url(floor['seated']['id'])}/complete", headers=staff.headers
        )
        assert_error(response, 404, "not_found")
    assert await assert_invariant(client, owner) == before
