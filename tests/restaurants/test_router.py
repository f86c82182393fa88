"""GET and PATCH /restaurant: settings, service hours, roles and If-Match."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient, Response

from app.restaurants.schemas import WEEKDAYS
from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.reservations.factories import interval

RESTAURANT = "/api/v1/restaurant"
CLOSED = {day: [] for day in WEEKDAYS}


async def current(client: AsyncClient, actor: Actor) -> dict[str, Any]:
    response = await client.get(RESTAURANT, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def patch(client: AsyncClient, actor: Actor, body: Any, **headers: str) -> Response:
    return await client.patch(RESTAURANT, headers={**actor.headers, **headers}, json=body)


async def test_get_answers_the_callers_restaurant(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    mine = await current(client, owner)
    theirs = await current(client, rival)

    assert mine["id"] == owner.restaurant_id
    assert mine["name"] == "Restaurant A"
    assert mine["timezone"] == "UTC"
    assert mine["tableAfterGuestLeaves"] == "dirty"
    assert mine["defaultReservationMinutes"] == 90
    assert mine["serviceHours"] == CLOSED
    assert theirs["id"] == rival.restaurant_id
    assert theirs["name"] == "Restaurant B"


async def test_every_role_reads_the_restaurant(client: AsyncClient, owner: Actor) -> None:
    server = await add_staff(client, owner, "server")
    assert await current(client, server) == await current(client, owner)


async def test_get_needs_a_token(client: AsyncClient) -> None:
    assert_error(await client.get(RESTAURANT), 401, "unauthorized")


async def test_patch_changes_the_settings(client: AsyncClient, owner: Actor, rival: Actor) -> None:
    before = await current(client, owner)
    rival_before = await current(client, rival)
    body = {
        "name": "  Chez Olive  ",
        "timezone": "America/New_York",
        "tableAfterGuestLeaves": "available",
        "defaultReservationMinutes": 120,
    }

    response = await patch(client, owner, body)

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["name"] == "Chez Olive"
    assert after["timezone"] == "America/New_York"
    assert after["tableAfterGuestLeaves"] == "available"
    assert after["defaultReservationMinutes"] == 120
    assert after["version"] == before["version"] + 1
    assert after["createdAt"] == before["createdAt"]
    assert await current(client, owner) == after
    assert await current(client, rival) == rival_before


async def test_snake_case_fields_are_accepted(client: AsyncClient, owner: Actor) -> None:
    response = await patch(client, owner, {"default_reservation_minutes": 60})
    assert response.status_code == 200, response.text
    assert response.json()["defaultReservationMinutes"] == 60


async def test_a_manager_may_patch(client: AsyncClient, owner: Actor) -> None:
    manager = await add_staff(client, owner, "manager")
    response = await patch(client, manager, {"name": "Managed"})
    assert response.status_code == 200, response.text
    assert (await current(client, owner))["name"] == "Managed"


@pytest.mark.parametrize("role", ["host", "server"])
async def test_hosts_and_servers_may_not_patch(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    actor = await add_staff(client, owner, role)
    before = await current(client, owner)

    assert_error(await patch(client, actor, {"name": "Mine"}), 403, "forbidden")
    assert await current(client, owner) == before


# ----- service hours --------------------------------------------------------------------------


async def test_service_hours_are_stored_with_missing_days_closed(
    client: AsyncClient, owner: Actor
) -> None:
    hours = {
        "mon": [interval("11:30", "14:30"), interval("17:00", "22:00")],
        "sat": [interval("18:00", "24:00")],
    }

    response = await patch(client, owner, {"serviceHours": hours})

    assert response.status_code == 200, response.text
    expected = {**CLOSED, **hours}
    assert response.json()["serviceHours"] == expected
    assert (await current(client, owner))["serviceHours"] == expected

    # Replacing the hours replaces every day: a day left out is closed again.
    again = await patch(client, owner, {"serviceHours": {"tue": [interval("00:00", "24:00")]}})
    assert again.json()["serviceHours"] == {**CLOSED, "tue": [interval("00:00", "24:00")]}


async def test_back_to_back_intervals_are_allowed(client: AsyncClient, owner: Actor) -> None:
    hours = {"fri": [interval("11:00", "15:00"), interval("15:00", "23:00")]}
    response = await patch(client, owner, {"serviceHours": hours})
    assert response.status_code == 200, response.text
    assert response.json()["serviceHours"]["fri"] == hours["fri"]


async def test_empty_service_hours_close_every_day(client: AsyncClient, owner: Actor) -> None:
    await patch(client, owner, {"serviceHours": {"mon": [interval("09:00", "17:00")]}})
    response = await patch(client, owner, {"serviceHours": {}})
    assert response.status_code == 200, response.text
    assert response.json()["serviceHours"] == CLOSED


@pytest.mark.parametrize(
    "hours",
    [
        {"mon": [{"open": "9:00", "close": "17:00"}]},
        {"mon": [{"open": "09:00", "close": "25:00"}]},
        {"mon": [{"open": "09:60", "close": "17:00"}]},
        {"mon": [{"open": "09:00:00", "close": "17:00"}]},
        {"mon": [{"open": "noon", "close": "17:00"}]},
        {"mon": [{"open": "09:00", "close": "24:01"}]},
        {"mon": [{"open": "24:00", "close": "24:00"}]},
        {"mon": [{"open": "17:00", "close": "17:00"}]},
        {"mon": [{"open": "18:00", "close": "17:00"}]},
        {"mon": [{"open": "11:00", "close": "15:00"}, {"open": "14:00", "close": "22:00"}]},
        {"mon": [{"open": "17:00", "close": "22:00"}, {"open": "11:00", "close": "15:00"}]},
        {"mon": [{"open": "09:00"}]},
        {"mon": [{"open": "09:00", "close": "12:00", "then": "17:00"}]},
        {"mon": [{"open": None, "close": "17:00"}]},
        # The pairs of an earlier form of the API.
        {"mon": [["09:00", "17:00"]]},
        {"mon": "09:00-17:00"},
        {"mon": [{"open": "09:00", "close": "10:00"}] * 13},
        {"funday": [{"open": "09:00", "close": "17:00"}]},
        {"mon": None},
    ],
)
async def test_bad_service_hours_are_422(
    client: AsyncClient, owner: Actor, hours: dict[str, Any]
) -> None:
    before = await current(client, owner)

    response = await patch(client, owner, {"serviceHours": hours})

    assert_validation_error(response, "serviceHours")
    assert await current(client, owner) == before


# ----- other fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [15, 720])
async def test_default_reservation_minutes_bounds_are_accepted(
    client: AsyncClient, owner: Actor, minutes: int
) -> None:
    response = await patch(client, owner, {"defaultReservationMinutes": minutes})
    assert response.status_code == 200, response.text
    assert response.json()["defaultReservationMinutes"] == minutes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("defaultReservationMinutes", 14),
        ("defaultReservationMinutes", 721),
        ("defaultReservationMinutes", 0),
        ("defaultReservationMinutes", "ninety"),
        ("tableAfterGuestLeaves", "clean"),
        ("tableAfterGuestLeaves", "occupied"),
        ("timezone", "Mars/Olympus_Mons"),
        ("name", "   "),
        ("name", "n" * 101),
    ],
)
async def test_bad_values_are_422(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    before = await current(client, owner)
    assert_validation_error(await patch(client, owner, {field: value}), field)
    assert await current(client, owner) == before


@pytest.mark.parametrize(
    "field",
    ["name", "timezone", "tableAfterGuestLeaves", "defaultReservationMinutes", "serviceHours"],
)
async def test_null_for_a_setting_is_422(client: AsyncClient, owner: Actor, field: str) -> None:
    before = await current(client, owner)
    assert_validation_error(await patch(client, owner, {field: None}), field)
    assert await current(client, owner) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 2),
        ("restaurantId", 2),
        ("version", 9),
        ("createdAt", "2020-01-01T00:00:00Z"),
        ("updatedAt", "2020-01-01T00:00:00Z"),
        ("cuisine", "French"),
    ],
)
async def test_unknown_and_server_owned_fields_are_422(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    before = await current(client, owner)
    assert_validation_error(await patch(client, owner, {"name": "X", field: value}), field)
    assert await current(client, owner) == before


@pytest.mark.parametrize("body", [[], "name", 5])
async def test_a_body_that_is_not_an_object_is_422(
    client: AsyncClient, owner: Actor, body: Any
) -> None:
    assert_error(await patch(client, owner, body), 422, "validation_error")


# ----- versions and If-Match ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Restaurant A"},
        {"timezone": "UTC", "defaultReservationMinutes": 90, "tableAfterGuestLeaves": "dirty"},
        {"serviceHours": {}},
    ],
)
async def test_a_patch_that_changes_nothing_keeps_the_version(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    before = await current(client, owner)

    response = await patch(client, owner, body)

    assert response.status_code == 200, response.text
    assert response.json() == before
    assert await current(client, owner) == before


async def test_same_service_hours_keep_the_version(client: AsyncClient, owner: Actor) -> None:
    hours = {"mon": [interval("11:30", "14:30")]}
    first = (await patch(client, owner, {"serviceHours": hours})).json()

    again = await patch(client, owner, {"serviceHours": hours})

    assert again.status_code == 200, again.text
    assert again.json() == first


async def test_if_match_guards_the_patch(client: AsyncClient, owner: Actor) -> None:
    before = await current(client, owner)
    version = before["version"]

    stale = await patch(client, owner, {"name": "Stale"}, **{"If-Match": f'"{version + 1}"'})
    assert_error(stale, 412, "precondition_failed")
    assert await current(client, owner) == before

    fresh = await patch(client, owner, {"name": "Fresh"}, **{"If-Match": f'"{version}"'})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["version"] == version + 1

    # The old version is stale now.
    stale_again = await patch(client, owner, {"name": "Late"}, **{"If-Match": f'"{version}"'})
    assert_error(stale_again, 412, "precondition_failed")
    weak = await patch(client, owner, {"name": "Weak"}, **{"If-Match": f'W/"{version + 1}"'})
    assert weak.status_code == 200, weak.text
    assert (await current(client, owner))["name"] == "Weak"
