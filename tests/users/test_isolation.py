"""Another restaurant's staff cannot be read, changed or even detected; lists page by id."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from httpx import AsyncClient, Response

from app.core.pagination import encode_cursor
from tests.fixtures.auth import PASSWORD, Actor, add_staff, login
from tests.fixtures.errors import assert_error, assert_validation_error

USERS = "/api/v1/users"
MISSING_ID = 987_654

FOREIGN_CALLS = [
    ("GET", None, {}),
    ("PATCH", {"fullName": "Hijacked"}, {}),
    ("PATCH", {"role": "server"}, {}),
    ("PATCH", {"password": "hijacked password"}, {}),
    ("PATCH", {"fullName": "Hijacked"}, {"If-Match": '"1"'}),
    ("DELETE", None, {}),
    ("DELETE", None, {"If-Match": '"1"'}),
]


def anonymised(response: Response, user_id: int) -> dict[str, Any]:
    """The body without its requestId, and with the (client-supplied) id made generic."""
    body = response.json()
    del body["requestId"]
    return json.loads(json.dumps(body).replace(str(user_id), "<id>"))


async def rows_of(client: AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    response = await client.get(USERS, headers=actor.headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "body", "headers"), FOREIGN_CALLS)
async def test_a_foreign_user_id_answers_like_a_missing_one(
    client: AsyncClient,
    owner: Actor,
    rival: Actor,
    method: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> None:
    staff = await add_staff(client, owner, "host")
    before = await rows_of(client, owner)
    rival_before = await rows_of(client, rival)

    for target in (owner.user_id, staff.user_id):
        foreign = await client.request(
            method, f"{USERS}/{target}", headers={**rival.headers, **headers}, json=body
        )
        missing = await client.request(
            method, f"{USERS}/{MISSING_ID}", headers={**rival.headers, **headers}, json=body
        )

        assert_error(foreign, 404, "not_found")
        assert_error(missing, 404, "not_found")
        assert anonymised(foreign, target) == anonymised(missing, MISSING_ID)
        assert foreign.headers.keys() == missing.headers.keys()

    # A's rows are exactly as they were, and their owners can still use them.
    assert await rows_of(client, owner) == before
    assert await rows_of(client, rival) == rival_before
    await login(client, staff.email)
    assert (await client.get("/api/v1/auth/me", headers=staff.headers)).status_code == 200


async def test_lists_hold_only_the_callers_restaurant(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    mine = [owner.user_id]
    theirs = [rival.user_id]
    for role in ("manager", "host", "server"):
        mine.append((await add_staff(client, owner, role)).user_id)
        theirs.append((await add_staff(client, rival, role)).user_id)

    for actor, expected in ((owner, mine), (rival, theirs)):
        rows = await rows_of(client, actor)
        assert [u["id"] for u in rows] == expected
        assert {u["restaurantId"] for u in rows} == {actor.restaurant_id}


async def test_staff_cannot_be_created_in_another_restaurant(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    response = await client.post(
        USERS,
        headers=rival.headers,
        json={
            "email": "planted@example.com",
            "password": PASSWORD,
            "fullName": "Planted",
            "role": "owner",
            "restaurantId": owner.restaurant_id,
        },
    )

    assert_validation_error(response, "restaurantId")
    assert [u["id"] for u in await rows_of(client, owner)] == [owner.user_id]


# ----- pagination -----------------------------------------------------------------------------


async def page_through(client: AsyncClient, actor: Actor, limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await client.get(USERS, headers=actor.headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextCursor"}
        pages.append([u["id"] for u in body["items"]])
        if body["nextCursor"] is None:
            return pages
        assert len(body["items"]) == limit
        params["cursor"] = body["nextCursor"]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6, 200])
async def test_pages_cover_every_user_exactly_once(
    client: AsyncClient, owner: Actor, rival: Actor, limit: int
) -> None:
    expected = [owner.user_id]
    # Interleave the two restaurants' ids so every page boundary sits next to a foreign id.
    for role in ("manager", "host", "server", "host"):
        expected.append((await add_staff(client, owner, role)).user_id)
        await add_staff(client, rival, role)

    pages = await page_through(client, owner, limit)

    assert [i for page in pages for i in page] == expected
    assert len(pages) == max(1, -(-len(expected) // limit))


async def test_the_default_page_is_50(client: AsyncClient, owner: Actor) -> None:
    response = await client.get(USERS, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": response.json()["items"], "nextCursor": None}
    assert [u["id"] for u in response.json()["items"]] == [owner.user_id]


async def test_a_cursor_is_opaque_and_url_safe(client: AsyncClient, owner: Actor) -> None:
    await add_staff(client, owner, "host")
    response = await client.get(USERS, headers=owner.headers, params={"limit": 1})
    cursor = response.json()["nextCursor"]
    assert cursor and len(cursor) <= 64
    assert all(c.isalnum() or c in "-_" for c in cursor)


async def test_anothers_cursor_still_lists_only_your_staff(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    await add_staff(client, owner, "host")
    await add_staff(client, rival, "host")
    first_page = await client.get(USERS, headers=owner.headers, params={"limit": 1})
    owners_cursor = first_page.json()["nextCursor"]

    response = await client.get(USERS, headers=rival.headers, params={"cursor": owners_cursor})

    assert response.status_code == 200, response.text
    assert {u["restaurantId"] for u in response.json()["items"]} == {rival.restaurant_id}


@pytest.mark.parametrize("limit", [0, -1, 201, 10_000, "ten"])
async def test_a_limit_outside_1_to_200_is_422(
    client: AsyncClient, owner: Actor, limit: Any
) -> None:
    response = await client.get(USERS, headers=owner.headers, params={"limit": limit})
    assert_validation_error(response, "limit")


def raw_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "a" * 65,
        "abc",
        "AAAA",
        raw_cursor("1"),
        raw_cursor(["1"]),
        raw_cursor([True]),
        raw_cursor([1.5]),
        raw_cursor([1, 2]),
        raw_cursor({"id": 1}),
        raw_cursor([10**20]),
        raw_cursor([-(10**20)]),
    ],
)
async def test_a_malformed_cursor_is_422(client: AsyncClient, owner: Actor, cursor: str) -> None:
    response = await client.get(USERS, headers=owner.headers, params={"cursor": cursor})
    assert_validation_error(response, "cursor")


async def test_a_well_formed_cursor_past_the_end_gives_an_empty_page(
    client: AsyncClient, owner: Actor
) -> None:
    response = await client.get(
        USERS, headers=owner.headers, params={"cursor": encode_cursor(MISSING_ID, label="users")}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "nextCursor": None}
