"""The guest endpoints: shape, validation, versions and If-Match, 404s, roles."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.fixtures.floor import (
    GUEST_FIELDS,
    GUEST_TIMESTAMPS,
    GUESTS,
    assert_invariant,
    assert_utc_timestamps,
    create_guest,
    create_table,
    get_guest,
    guest_in,
    guest_url,
    if_match,
    parse_ts,
    patch_guest,
    snapshot,
)

VALID = {"name": "Ana", "partySize": 2}


# ----- create and read ----------------------------------------------------------------------


async def test_create_answers_201_with_a_waiting_guest(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(
        GUESTS,
        headers=owner.headers,
        json={
            "name": "  Ana Lima  ",
            "partySize": 3,
            "phone": "+14155552671",
            "quotedWaitMinutes": 15,
            "notes": "window",
        },
    )
    assert response.status_code == 201, response.text
    guest = response.json()
    assert set(guest) == GUEST_FIELDS
    assert guest["name"] == "Ana Lima"
    assert guest["partySize"] == 3 and guest["phone"] == "+14155552671"
    assert guest["quotedWaitMinutes"] == 15 and guest["notes"] == "window"
    assert guest["status"] == "waiting" and guest["tableId"] is None
    assert guest["reservationId"] is None
    assert guest["arrivedAt"] is not None
    assert guest["seatedAt"] is None and guest["completedAt"] is None
    assert isinstance(guest["id"], int) and isinstance(guest["version"], int)
    assert_utc_timestamps(guest, GUEST_TIMESTAMPS)
    assert await get_guest(client, owner, guest["id"]) == guest


async def test_optional_fields_default_to_null(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner, "Bo", 1)
    assert guest["phone"] is None and guest["quotedWaitMinutes"] is None
    assert guest["notes"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 101),
        ("name", None),
        ("name", 5),
        ("partySize", 0),
        ("partySize", 51),
        ("partySize", None),
        ("partySize", 2.5),
        ("phone", "4155552671"),
        ("phone", "+04155552671"),
        ("phone", "+1 415 555 2671"),
        ("phone", "+1234567890123456"),
        ("phone", "+1"),
        ("phone", ""),
        ("quotedWaitMinutes", -1),
        ("quotedWaitMinutes", 601),
        ("notes", "n" * 1001),
        ("id", 5),
        ("restaurantId", 1),
        ("version", 3),
        ("createdAt", "2026-01-01T00:00:00Z"),
        ("updatedAt", "2026-01-01T00:00:00Z"),
        ("status", "seated"),
        ("tableId", 1),
        ("bogus", 1),
    ],
)
async def test_create_refuses_invalid_fields(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    response = await client.post(GUESTS, headers=owner.headers, json={**VALID, field: value})
    assert_validation_error(response, field)
    assert await snapshot(client, owner) == {"tables": {}, "guests": {}}


@pytest.mark.parametrize("field", ["name", "partySize"])
async def test_create_needs_name_and_party_size(
    client: AsyncClient, owner: Actor, field: str
) -> None:
    body = {k: v for k, v in VALID.items() if k != field}
    assert_validation_error(await client.post(GUESTS, headers=owner.headers, json=body), field)


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("name", "  " + "x" * 100 + "  ", "x" * 100),
        ("name", "A", "A"),
        ("partySize", 1, 1),
        ("partySize", 50, 50),
        ("phone", "+442071838750", "+442071838750"),
        ("phone", "+123456789012345", "+123456789012345"),
        ("quotedWaitMinutes", 0, 0),
        ("quotedWaitMinutes", 600, 600),
        ("notes", "n" * 1000, "n" * 1000),
        ("notes", "", ""),
    ],
)
async def test_create_accepts_the_boundaries(
    client: AsyncClient, owner: Actor, field: str, value: Any, stored: Any
) -> None:
    response = await client.post(GUESTS, headers=owner.headers, json={**VALID, field: value})
    assert response.status_code == 201, response.text
    assert response.json()[field] == stored


@pytest.mark.parametrize("guest_id", ["987654", "9223372036854775807", "9223372036854775808"])
async def test_an_unknown_guest_is_404(client: AsyncClient, owner: Actor, guest_id: str) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "X"}),
        ("DELETE", "", None),
        ("POST", "/seat", {"tableId": 1}),
        ("POST", "/complete", None),
    ]:
        response = await client.request(
            method, f"{GUESTS}/{guest_id}{suffix}", headers=owner.headers, json=body
        )
        assert_error(response, 404, "not_found")


async def test_the_seat_action_needs_an_existing_table(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    for table_id in (987654, 9223372036854775808):
        before = await snapshot(client, owner)
        response = await client.post(
            f"{guest_url(guest['id'])}/seat", headers=owner.headers, json={"tableId": table_id}
        )
        assert_error(response, 404, "not_found")
        assert await snapshot(client, owner) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"tableId": None}, {"tableId": "one"}, {"tableId": 1, "bogus": True}],
    ids=["missing", "null", "string", "unknown"],
)
async def test_the_seat_action_validates_its_body(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    guest = await create_guest(client, owner)
    response = await client.post(f"{guest_url(guest['id'])}/seat", headers=owner.headers, json=body)
    assert_validation_error(response)
    assert await get_guest(client, owner, guest["id"]) == guest


# ----- PATCH --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", None),
        ("name", "  "),
        ("name", "x" * 101),
        ("partySize", None),
        ("partySize", 0),
        ("partySize", 51),
        ("status", None),
        ("status", "gone"),
        ("phone", "555"),
        ("quotedWaitMinutes", 601),
        ("notes", "n" * 1001),
        ("allowOverCapacity", None),
        ("id", 1),
        ("restaurantId", 1),
        ("version", 9),
        ("createdAt", "2026-01-01T00:00:00Z"),
        ("updatedAt", "2026-01-01T00:00:00Z"),
        ("arrivedAt", "2026-01-01T00:00:00Z"),
        ("bogus", 1),
    ],
)
async def test_patch_refuses_invalid_fields(
    client: AsyncClient, owner: Actor, field: str, value: Any
) -> None:
    guest = await create_guest(client, owner)
    assert_validation_error(await patch_guest(client, owner, guest["id"], {field: value}), field)
    assert await get_guest(client, owner, guest["id"]) == guest


async def test_patch_may_null_the_nullable_fields(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner, phone="+14155552671", quotedWaitMinutes=5, notes="x")
    body = {"phone": None, "quotedWaitMinutes": None, "notes": None}
    response = await patch_guest(client, owner, guest["id"], body)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in body} == body
    assert response.json()["version"] > guest["version"]


async def test_every_change_increases_the_version(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    for body in (
        {"name": "Bea"},
        {"partySize": 3},
        {"phone": "+14155552671"},
        {"quotedWaitMinutes": 20},
        {"notes": "high chair"},
        {"status": "notified"},
    ):
        response = await patch_guest(client, owner, guest["id"], body)
        assert response.status_code == 200, response.text
        changed = response.json()
        assert changed["version"] > guest["version"], body
        assert parse_ts(changed["updatedAt"]) >= parse_ts(guest["updatedAt"])
        assert all(changed[k] == v for k, v in body.items())
        guest = changed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Ana"},
        {"name": "  Ana "},
        {"partySize": 2},
        {"phone": None},
        {"status": "waiting"},
        {"tableId": None},
        {"allowOverCapacity": True},
    ],
)
async def test_a_patch_that_changes_nothing_keeps_version_and_updated_at(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    guest = await create_guest(client, owner, "Ana", 2)
    response = await patch_guest(client, owner, guest["id"], body)
    assert response.status_code == 200, response.text
    assert response.json() == guest
    assert await get_guest(client, owner, guest["id"]) == guest


async def test_a_seated_party_cannot_grow_past_the_table(client: AsyncClient, owner: Actor) -> None:
    guest = await guest_in(client, owner, "seated", party_size=2)  # table of 2
    before = await snapshot(client, owner)
    for body in ({"partySize": 3}, {"partySize": 3, "tableId": guest["tableId"]}):
        response = await patch_guest(client, owner, guest["id"], body)
        assert_error(response, 409, "capacity_exceeded")
        assert await assert_invariant(client, owner) == before
    grown = await patch_guest(
        client, owner, guest["id"], {"partySize": 3, "allowOverCapacity": True}
    )
    assert grown.status_code == 200, grown.text
    assert grown.json()["partySize"] == 3 and grown.json()["tableId"] == guest["tableId"]


async def test_resending_the_party_size_of_an_over_capacity_party_is_fine(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1", 2)
    guest = await create_guest(client, owner, "Big", 4)
    guest = (
        await client.post(
            f"{guest_url(guest['id'])}/seat",
            headers=owner.headers,
            json={"tableId": table["id"], "allowOverCapacity": True},
        )
    ).json()
    same = await patch_guest(client, owner, guest["id"], {"partySize": 4})
    assert same.status_code == 200, same.text
    assert same.json() == guest
    noted = await patch_guest(client, owner, guest["id"], {"partySize": 4, "notes": "cake"})
    assert noted.status_code == 200, noted.text
    assert noted.json()["notes"] == "cake" and noted.json()["version"] > guest["version"]
    smaller = await patch_guest(client, owner, guest["id"], {"partySize": 3})
    assert_error(smaller, 409, "capacity_exceeded")
    await assert_invariant(client, owner)


async def test_if_match(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    url = guest_url(guest["id"])
    stale = await client.patch(
        url, headers=if_match(owner, guest["version"] + 1), json={"name": "X"}
    )
    body = assert_error(stale, 412, "precondition_failed")
    assert await get_guest(client, owner, guest["id"]) == guest
    assert body["error"]["details"] == {"currentVersion": guest["version"]}
    for bad in ("abc", '"v1"', '"-1"', ""):
        response = await client.patch(url, headers=if_match(owner, bad), json={"name": "X"})
        assert_validation_error(response, "If-Match")
    assert await get_guest(client, owner, guest["id"]) == guest
    ok = await client.patch(url, headers=if_match(owner, guest["version"]), json={"name": "Y"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Y"
    stale_delete = await client.delete(url, headers=if_match(owner, guest["version"]))
    assert_error(stale_delete, 412, "precondition_failed")
    assert (await get_guest(client, owner, guest["id"]))["name"] == "Y"
    gone = await client.delete(url, headers=if_match(owner, ok.json()["version"]))
    assert gone.status_code == 204, gone.text
    assert gone.content == b""
    assert_error(await client.get(url, headers=owner.headers), 404, "not_found")
    assert_error(await client.delete(url, headers=owner.headers), 404, "not_found")


async def test_if_match_star_matches_any_version(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    response = await client.patch(
        guest_url(guest["id"]), headers=if_match(owner, "*"), json={"name": "Star"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Star"


# ----- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["host", "server", "manager"])
async def test_every_role_runs_the_waitlist(client: AsyncClient, owner: Actor, role: str) -> None:
    staff = await add_staff(client, owner, role)
    t1 = await create_table(client, owner, "1", 4)
    t2 = await create_table(client, owner, "2", 4)
    guest = await create_guest(client, staff, "Ana", 2)
    assert (
        await patch_guest(client, staff, guest["id"], {"status": "notified"})
    ).status_code == 200
    seated = await client.post(
        f"{guest_url(guest['id'])}/seat", headers=staff.headers, json={"tableId": t1["id"]}
    )
    assert seated.status_code == 200, seated.text
    assert (await patch_guest(client, staff, guest["id"], {"tableId": t2["id"]})).status_code == 200
    done = await client.post(f"{guest_url(guest['id'])}/complete", headers=staff.headers)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    other = await create_guest(client, staff, "Bo", 2)
    assert (await client.delete(guest_url(other["id"]), headers=staff.headers)).status_code == 204
    await assert_invariant(client, owner)


async def test_without_a_token_everything_is_401(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    for method, path in [
        ("GET", GUESTS),
        ("POST", GUESTS),
        ("GET", guest_url(guest["id"])),
        ("PATCH", guest_url(guest["id"])),
        ("DELETE", guest_url(guest["id"])),
        ("POST", f"{guest_url(guest['id'])}/seat"),
        ("POST", f"{guest_url(guest['id'])}/complete"),
    ]:
        assert_error(await client.request(method, path, json={}), 401, "unauthorized")
    assert await get_guest(client, owner, guest["id"]) == guest
