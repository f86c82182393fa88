"""GET /tables: status and section filters, limits, cursors and byte order of table numbers."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_validation_error
from tests.fixtures.floor import (
    TABLE_FIELDS,
    TABLE_TIMESTAMPS,
    TABLES,
    assert_utc_timestamps,
    create_guest,
    create_table,
    list_pages,
    raw_cursor,
    seat,
)

NUMBERS = ["10", "2", "B1", "a", "A", "1", "20", "b"]


async def test_the_list_is_ordered_by_table_number_bytes(client: AsyncClient, owner: Actor) -> None:
    for number in NUMBERS:
        await create_table(client, owner, number, 4)
    response = await client.get(TABLES, headers=owner.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [t["tableNumber"] for t in items] == sorted(NUMBERS)
    assert response.json()["nextCursor"] is None
    for table in items:
        assert set(table) == TABLE_FIELDS
        assert_utc_timestamps(table, TABLE_TIMESTAMPS)


@pytest.mark.parametrize("limit", [1, 3, 8, 200])
async def test_pages_cover_every_table_once(client: AsyncClient, owner: Actor, limit: int) -> None:
    for number in NUMBERS:
        await create_table(client, owner, number, 4)
    pages = await list_pages(client, owner, TABLES, {"limit": limit})
    assert all(len(page) == limit for page in pages[:-1]) and len(pages[-1]) <= limit
    rows = [t for page in pages for t in page]
    assert [t["tableNumber"] for t in rows] == sorted(NUMBERS)
    assert len({t["id"] for t in rows}) == len(NUMBERS)


async def test_status_and_section_filters(client: AsyncClient, owner: Actor) -> None:
    a = await create_table(client, owner, "1", 4, section="Patio")
    b = await create_table(client, owner, "2", 4, section="Patio", status="dirty")
    c = await create_table(client, owner, "3", 4, section="Bar", status="out_of_service")
    d = await create_table(client, owner, "4", 4)
    await seat(client, owner, (await create_guest(client, owner))["id"], d["id"])

    async def ids(params: dict[str, Any]) -> list[int]:
        response = await client.get(TABLES, headers=owner.headers, params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert await ids({}) == [a["id"], b["id"], c["id"], d["id"]]
    assert await ids({"section": "Patio"}) == [a["id"], b["id"]]
    assert await ids({"section": "Nowhere"}) == []
    assert await ids({"status": "occupied"}) == [d["id"]]
    assert await ids({"status": ["dirty", "out_of_service"]}) == [b["id"], c["id"]]
    assert await ids({"status": ["available", "dirty"], "section": "Patio"}) == [a["id"], b["id"]]
    assert await ids({"status": "reserved"}) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "broken"},
        {"section": "s" * 51},
        {"limit": 0},
        {"limit": 201},
        {"cursor": "%%%"},
        {"cursor": "abc"},
        {"cursor": raw_cursor(1, 1)},
        {"cursor": raw_cursor("1")},
        {"cursor": raw_cursor("1", 10**20)},
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, owner: Actor, params: dict[str, Any]
) -> None:
    await create_table(client, owner, "1", 4)
    response = await client.get(TABLES, headers=owner.headers, params=params)
    assert_validation_error(response, next(iter(params)))
