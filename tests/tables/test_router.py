"""The table endpoints: shape, validation, duplicates, versions and If-Match, 404s,
and which roles may change the layout."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.fixtures.floor import (
    SETTABLE_TABLE_STATUSES,
    TABLE_FIELDS,
    TABLE_TIMESTAMPS,
    TABLES,
    assert_invariant,
    assert_utc_timestamps,
    create_guest,
    create_table,
    get_table,
    guest_in,
    if_match,
    patch_table,
    snapshot,
    table_url,
)

VALID = {"tableNumber": "12", "capacity": 4}


# ----- create and read ----------------------------------------------------------------------


async def test_create_answers_201_with_the_table(client: AsyncClient, owner: Actor) -> None:
    body = {
        "tableNumber": " 12A ",
        "capacity": 6,
        "minCapacity": 2,
        "section": "Patio",
        "status": "reserved",
        "posX": 10.5,
        "posY": -3,
    }
    response = await client.post(TABLES, headers=owner.headers, json=body)
    assert response.status_code == 201, response.text
    table = response.json()
    assert set(table) == TABLE_FIELDS
    assert table["tableNumber"] == "12A"
    assert (table["capacity"], table["minCapacity"], table["section"]) == (6, 2, "Patio")
    assert table["status"] == "reserved" and table["currentGuestId"] is None
    assert (table["posX"], table["posY"]) == (10.5, -3)
    assert_utc_timestamps(table, TABLE_TIMESTAMPS)
    assert await get_table(client, owner, table["id"]) == table


async def test_create_defaults(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1", 2)
    assert table["minCapacity"] == 1 and table["status"] == "available"
    assert table["section"] is None and table["posX"] is None and table["posY"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tableNumber", ""),
        ("tableNumber", "   "),
        ("tableNumber", "x" * 21),
        ("tableNumber", None),
        ("capacity", 0),
        ("capacity", 51),
        ("capacity", None),
        ("minCapacity", 0),
        ("minCapacity", None),
        ("section", "s" * 51),
        ("status", "occupied"),
        ("status", "broken"),
        ("status", None),
        ("posX", "left"),
        ("currentGuestId", 1),
        ("id", 1),
        ("restaurantId", 1),
        ("version", 1),
        ("createdAt", "2026-01-01T00:00:00Z"),
        ("updatedAt", "2026-01-01T00:00:00Z"),
        ("bogus", 1),
    ],
)
async def test_create_refuses_invalid_fields(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    response = await client.post(TABLES, headers=owner.headers, json={**VALID, field: value})
    assert_validation_error(response, field)
    assert await snapshot(client, owner) == {"tables": {}, "guests": {}}


async def test_min_capacity_may_not_exceed_capacity(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(
        TABLES, headers=owner.headers, json={**VALID, "capacity": 4, "minCapacity": 5}
    )
    assert_validation_error(response)
    assert await snapshot(client, owner) == {"tables": {}, "guests": {}}
    table = await create_table(client, owner, "1", 4, minCapacity=4)
    too_small = await patch_table(client, owner, table["id"], {"capacity": 3})
    assert_validation_error(too_small, "minCapacity")
    too_big = await patch_table(client, owner, table["id"], {"minCapacity": 5})
    assert_validation_error(too_big, "minCapacity")
    assert await get_table(client, owner, table["id"]) == table
    both = await patch_table(client, owner, table["id"], {"capacity": 3, "minCapacity": 3})
    assert both.status_code == 200, both.text


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("tableNumber", "x" * 20, "x" * 20),
        ("tableNumber", "  7 ", "7"),
        ("capacity", 1, 1),
        ("capacity", 50, 50),
        ("section", "s" * 50, "s" * 50),
        ("section", None, None),
    ],
)
async def test_create_accepts_the_boundaries(
    client: AsyncClient, owner: Actor, field: str, value: Any, stored: Any
) -> None:
    response = await client.post(TABLES, headers=owner.headers, json={**VALID, field: value})
    assert response.status_code == 201, response.text
    assert response.json()[field] == stored


async def test_a_duplicate_number_is_409(client: AsyncClient, owner: Actor, rival: Actor) -> None:
    first = await create_table(client, owner, "12", 4)
    other = await create_table(client, owner, "13", 4)
    for number in ("12", " 12 "):
        response = await client.post(
            TABLES, headers=owner.headers, json={"tableNumber": number, "capacity": 2}
        )
        assert_error(response, 409, "duplicate")
    renumber = await patch_table(client, owner, other["id"], {"tableNumber": "12"})
    assert_error(renumber, 409, "duplicate")
    assert await snapshot(client, owner) == {
        "tables": {first["id"]: first, other["id"]: other},
        "guests": {},
    }
    await create_table(client, rival, "12", 4)  # numbers are unique per restaurant only
    free = await patch_table(client, owner, other["id"], {"tableNumber": "14"})
    assert free.status_code == 200 and free.json()["tableNumber"] == "14"
    reused = await patch_table(client, owner, first["id"], {"tableNumber": "13"})
    assert reused.status_code == 200, reused.text


@pytest.mark.parametrize("table_id", ["987654", "9223372036854775808"])
async def test_an_unknown_table_is_404(client: AsyncClient, owner: Actor, table_id: str) -> None:
    for method, body in [("GET", None), ("PATCH", {"status": "dirty"}), ("DELETE", None)]:
        response = await client.request(
            method, f"{TABLES}/{table_id}", headers=owner.headers, json=body
        )
        assert_error(response, 404, "not_found")


# ----- PATCH and DELETE ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "occupied"),
        ("status", None),
        ("tableNumber", None),
        ("tableNumber", "x" * 21),
        ("capacity", None),
        ("capacity", 51),
        ("minCapacity", None),
        ("allowOverCapacity", None),
        ("currentGuestId", "me"),
        ("id", 1),
        ("restaurantId", 1),
        ("version", 1),
        ("createdAt", "2026-01-01T00:00:00Z"),
        ("updatedAt", "2026-01-01T00:00:00Z"),
        ("bogus", 1),
    ],
)
async def test_patch_refuses_invalid_fields(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    table = await create_table(client, owner, "1", 4)
    assert_validation_error(await patch_table(client, owner, table["id"], {field: value}), field)
    assert await get_table(client, owner, table["id"]) == table


@pytest.mark.parametrize("status", SETTABLE_TABLE_STATUSES)
async def test_every_settable_status(client: AsyncClient, owner: Actor, status: str) -> None:
    start = "available" if status == "dirty" else "dirty"
    table = await create_table(client, owner, "1", 4, status=start)
    response = await patch_table(client, owner, table["id"], {"status": status})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    assert response.json()["version"] > table["version"]


async def test_every_change_increases_the_version(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1", 4)
    for body in (
        {"tableNumber": "2"},
        {"capacity": 6},
        {"minCapacity": 2},
        {"section": "Bar"},
        {"section": None},
        {"posX": 1.5, "posY": 2.5},
        {"posX": None},
        {"status": "out_of_service"},
    ):
        response = await patch_table(client, owner, table["id"], body)
        assert response.status_code == 200, response.text
        changed = response.json()
        assert changed["version"] > table["version"], body
        assert all(changed[k] == v for k, v in body.items())
        table = changed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"tableNumber": "1"},
        {"tableNumber": " 1 "},
        {"capacity": 4},
        {"status": "available"},
        {"section": None},
        {"currentGuestId": None},
        {"allowOverCapacity": True},
    ],
)
async def test_a_patch_that_changes_nothing_keeps_version_and_updated_at(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    table = await create_table(client, owner, "1", 4)
    response = await patch_table(client, owner, table["id"], body)
    assert response.status_code == 200, response.text
    assert response.json() == table
    assert await get_table(client, owner, table["id"]) == table


async def test_an_occupied_table_cannot_be_deleted(client: AsyncClient, owner: Actor) -> None:
    guest = await guest_in(client, owner, "seated")
    before = await snapshot(client, owner)
    response = await client.delete(table_url(guest["tableId"]), headers=owner.headers)
    assert_error(response, 409, "table_occupied")
    assert await assert_invariant(client, owner) == before


async def test_delete_and_if_match(client: AsyncClient, owner: Actor) -> None:
    table = await create_table(client, owner, "1", 4)
    url = table_url(table["id"])
    stale = await client.patch(
        url, headers=if_match(owner, table["version"] + 1), json={"capacity": 2}
    )
    assert_error(stale, 412, "precondition_failed")
    for bad in ("x", '"1.0"'):
        response = await client.patch(url, headers=if_match(owner, bad), json={"capacity": 2})
        assert_validation_error(response, "If-Match")
    assert await get_table(client, owner, table["id"]) == table
    ok = await client.patch(url, headers=if_match(owner, table["version"]), json={"capacity": 2})
    assert ok.status_code == 200 and ok.json()["capacity"] == 2
    assert_error(
        await client.delete(url, headers=if_match(owner, table["version"])),
        412,
        "precondition_failed",
    )
    assert (await get_table(client, owner, table["id"]))["capacity"] == 2
    gone = await client.delete(url, headers=if_match(owner, ok.json()["version"]))
    assert gone.status_code == 204 and gone.content == b""
    assert_error(await client.get(url, headers=owner.headers), 404, "not_found")


# ----- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["host", "server"])
async def test_floor_staff_may_not_change_the_layout(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    staff = await add_staff(client, owner, role)
    table = await create_table(client, owner, "1", 4)
    response = await client.post(TABLES, headers=staff.headers, json=VALID)
    assert_error(response, 403, "forbidden")
    for body in (
        {"tableNumber": "9"},
        {"capacity": 8},
        {"minCapacity": 2},
        {"section": "Bar"},
        {"posX": 1.0},
        {"status": "dirty", "capacity": 8},
    ):
        assert_error(await patch_table(client, staff, table["id"], body), 403, "forbidden")
    assert_error(
        await client.delete(table_url(table["id"]), headers=staff.headers), 403, "forbidden"
    )
    assert await snapshot(client, owner) == {"tables": {table["id"]: table}, "guests": {}}


@pytest.mark.parametrize("role", ["host", "server"])
async def test_floor_staff_may_change_status_and_seat(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    staff = await add_staff(client, owner, role)
    table = await create_table(client, owner, "1", 4)
    dirty = await patch_table(client, staff, table["id"], {"status": "dirty"})
    assert dirty.status_code == 200 and dirty.json()["status"] == "dirty"
    guest = await create_guest(client, staff)
    seated = await patch_table(client, staff, table["id"], {"currentGuestId": guest["id"]})
    assert seated.status_code == 200 and seated.json()["currentGuestId"] == guest["id"]
    freed = await patch_table(client, staff, table["id"], {"currentGuestId": None})
    assert freed.status_code == 200 and freed.json()["currentGuestId"] is None
    await assert_invariant(client, owner)


@pytest.mark.parametrize("role", ["manager", "owner"])
async def test_owners_and_managers_shape_the_floor(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    boss = owner if role == "owner" else await add_staff(client, owner, role)
    table = await create_table(client, boss, "1", 4)
    changed = await patch_table(
        client, boss, table["id"], {"tableNumber": "9", "capacity": 8, "section": "Bar"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["tableNumber"], changed.json()["capacity"]) == ("9", 8)
    assert (await client.delete(table_url(table["id"]), headers=boss.headers)).status_code == 204
    assert await snapshot(client, owner) == {"tables": {}, "guests": {}}
