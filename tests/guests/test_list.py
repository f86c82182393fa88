"""GET /guests: the default and repeatable status filter, limits, cursors and a stable order."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_validation_error
from tests.fixtures.floor import (
    GUEST_FIELDS,
    GUEST_STATUSES,
    GUEST_TIMESTAMPS,
    GUESTS,
    assert_utc_timestamps,
    create_guest,
    guest_in,
    list_pages,
    parse_ts,
    raw_cursor,
)


async def _one_of_each(client: AsyncClient, actor: Actor) -> dict[str, int]:
    return {s: (await guest_in(client, actor, s, name=s))["id"] for s in GUEST_STATUSES}


async def test_the_list_defaults_to_active_guests(client: AsyncClient, owner: Actor) -> None:
    ids = await _one_of_each(client, owner)
    response = await client.get(GUESTS, headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nextCursor"] is None
    assert {g["id"] for g in body["items"]} == {ids["waiting"], ids["notified"], ids["seated"]}
    for guest in body["items"]:
        assert set(guest) == GUEST_FIELDS
        assert_utc_timestamps(guest, GUEST_TIMESTAMPS)


@pytest.mark.parametrize(
    "statuses",
    [["completed"], ["left", "no_show"], ["cancelled", "waiting", "seated"], list(GUEST_STATUSES)],
)
async def test_the_status_filter_repeats(
    client: AsyncClient, owner: Actor, statuses: list[str]
) -> None:
    ids = await _one_of_each(client, owner)
    response = await client.get(GUESTS, headers=owner.headers, params={"status": statuses})
    assert response.status_code == 200, response.text
    assert {g["id"] for g in response.json()["items"]} == {ids[s] for s in statuses}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "gone"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "!!!"},
        {"cursor": "a" * 65},
        {"cursor": "abc"},
        {"cursor": raw_cursor("x", 1)},
        {"cursor": raw_cursor(1, 2, 3)},
        {"cursor": raw_cursor(10**20, 1)},
        {"cursor": raw_cursor(0, 10**20)},
        {"cursor": raw_cursor(2**62, 1)},
        {"cursor": raw_cursor(-(2**62), 1)},
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, owner: Actor, params: dict[str, Any]
) -> None:
    await create_guest(client, owner)
    response = await client.get(GUESTS, headers=owner.headers, params=params)
    assert_validation_error(response, next(iter(params)))


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 200])
async def test_pages_cover_every_guest_once_in_a_stable_order(
    client: AsyncClient, owner: Actor, limit: int
) -> None:
    for n in range(7):
        await create_guest(client, owner, f"G{n}", 1 + n % 3)
    pages = await list_pages(client, owner, GUESTS, {"limit": limit})
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    rows = [g for page in pages for g in page]
    assert len(rows) == 7 and len({g["id"] for g in rows}) == 7
    keys = [(parse_ts(g["arrivedAt"]), g["id"]) for g in rows]
    assert keys == sorted(keys)
    assert rows == (await client.get(GUESTS, headers=owner.headers)).json()["items"]


async def test_limit_bounds_are_accepted(client: AsyncClient, owner: Actor) -> None:
    for n in range(3):
        await create_guest(client, owner, f"G{n}")
    one = await client.get(GUESTS, headers=owner.headers, params={"limit": 1})
    assert len(one.json()["items"]) == 1 and one.json()["nextCursor"] is not None
    assert all(c.isalnum() or c in "-_" for c in one.json()["nextCursor"])
    most = await client.get(GUESTS, headers=owner.headers, params={"limit": 200})
    assert len(most.json()["items"]) == 3 and most.json()["nextCursor"] is None
