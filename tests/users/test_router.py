"""Staff management: roles (owner > manager > host > server), the last owner, If-Match."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import PASSWORD, USER_FIELDS, Actor, add_staff, login, unique_email
from tests.fixtures.errors import assert_error, assert_validation_error

USERS = "/api/v1/users"


def new_user(role: str, /, **overrides: Any) -> dict[str, Any]:
    body = {"email": unique_email(role), "password": PASSWORD, "fullName": f"A {role}"}
    return {**body, "role": role, **overrides}


async def user_row(client: AsyncClient, boss: Actor, user_id: int) -> dict[str, Any]:
    response = await client.get(f"{USERS}/{user_id}", headers=boss.headers)
    assert response.status_code == 200, response.text
    return response.json()


# ----- create and read ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "manager", "host", "server"])
async def test_an_owner_creates_staff_of_any_role(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    data = new_user(role, email=unique_email(role).upper())

    response = await client.post(USERS, headers=owner.headers, json=data)

    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_FIELDS  # no password hash, no token generation
    assert user["restaurantId"] == owner.restaurant_id
    assert user["email"] == data["email"].lower()
    assert user["role"] == role
    assert user["version"] == 1
    assert await user_row(client, owner, user["id"]) == user
    assert (await login(client, data["email"])).user_id == user["id"]


async def test_every_role_reads_the_staff(client: AsyncClient, owner: Actor) -> None:
    server = await add_staff(client, owner, "server")
    assert (await user_row(client, server, owner.user_id))["role"] == "owner"
    listed = await client.get(USERS, headers=server.headers)
    assert [u["id"] for u in listed.json()["items"]] == [owner.user_id, server.user_id]


async def test_an_email_taken_anywhere_is_409_duplicate(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    for email in (rival.email, rival.email.upper(), owner.email):
        response = await client.post(
            USERS, headers=owner.headers, json=new_user("host", email=email)
        )
        assert_error(response, 409, "duplicate")
    listed = await client.get(USERS, headers=owner.headers)
    assert [u["id"] for u in listed.json()["items"]] == [owner.user_id]


@pytest.mark.parametrize(
    "overrides",
    [
        {"password": "p" * 9},
        {"password": "p" * 129},
        {"role": "admin"},
        {"email": "nobody"},
        {"restaurantId": 2},
        {"id": 99},
        {"version": 3},
        {"createdAt": "2020-01-01T00:00:00Z"},
        {"nickname": "x"},
    ],
)
async def test_a_malformed_user_is_422(
    client: AsyncClient, owner: Actor, overrides: dict[str, Any]
) -> None:
    response = await client.post(USERS, headers=owner.headers, json=new_user("host", **overrides))
    assert_validation_error(response, *overrides)
    listed = await client.get(USERS, headers=owner.headers)
    assert len(listed.json()["items"]) == 1


async def test_a_missing_user_is_404(client: AsyncClient, owner: Actor) -> None:
    assert_error(await client.get(f"{USERS}/987654", headers=owner.headers), 404, "not_found")


@pytest.mark.parametrize("user_id", ["0", str(2**63), str(10**20)])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_an_integer_id_no_row_can_have_is_404(
    client: AsyncClient, owner: Actor, user_id: str, method: str
) -> None:
    """Zero or beyond 64 bits: answered like any id that does not exist."""
    response = await client.request(
        method, f"{USERS}/{user_id}", headers=owner.headers, json={"fullName": "X"}
    )
    assert_error(response, 404, "not_found")
    assert (await user_row(client, owner, owner.user_id))["fullName"] == "Olive Owner"


@pytest.mark.parametrize("user_id", ["abc", "1.5", "-1", str(-(10**20))])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_an_id_that_is_not_a_canonical_integer_is_422(
    client: AsyncClient, owner: Actor, user_id: str, method: str
) -> None:
    response = await client.request(
        method, f"{USERS}/{user_id}", headers=owner.headers, json={"fullName": "X"}
    )
    assert_validation_error(response, "user_id")
    assert (await user_row(client, owner, owner.user_id))["fullName"] == "Olive Owner"


# ----- roles ----------------------------------------------------------------------------------


async def test_a_manager_manages_up_to_manager(client: AsyncClient, owner: Actor) -> None:
    manager = await add_staff(client, owner, "manager")
    made = await client.post(USERS, headers=manager.headers, json=new_user("manager"))
    assert made.status_code == 201, made.text
    host = await add_staff(client, manager, "host")

    promoted = await client.patch(
        f"{USERS}/{host.user_id}", headers=manager.headers, json={"role": "manager"}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "manager"
    deleted = await client.delete(f"{USERS}/{made.json()['id']}", headers=manager.headers)
    assert deleted.status_code == 204, deleted.text


async def test_a_manager_cannot_make_an_owner(client: AsyncClient, owner: Actor) -> None:
    manager = await add_staff(client, owner, "manager")
    host = await add_staff(client, owner, "host")
    before = await user_row(client, owner, host.user_id)

    created = await client.post(USERS, headers=manager.headers, json=new_user("owner"))
    promoted = await client.patch(
        f"{USERS}/{host.user_id}", headers=manager.headers, json={"role": "owner"}
    )
    promoted_self = await client.patch(
        f"{USERS}/{manager.user_id}", headers=manager.headers, json={"role": "owner"}
    )

    assert_error(created, 403, "forbidden")
    assert_error(promoted, 403, "forbidden")
    assert_error(promoted_self, 403, "forbidden")
    assert await user_row(client, owner, host.user_id) == before
    assert (await user_row(client, owner, manager.user_id))["role"] == "manager"
    assert len((await client.get(USERS, headers=owner.headers)).json()["items"]) == 3


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", {"fullName": "Renamed"}), ("PATCH", {"role": "server"}), ("DELETE", None)],
)
async def test_a_manager_cannot_touch_an_owner(
    client: AsyncClient, owner: Actor, method: str, body: dict[str, Any] | None
) -> None:
    manager = await add_staff(client, owner, "manager")
    before = await user_row(client, owner, owner.user_id)

    response = await client.request(
        method, f"{USERS}/{owner.user_id}", headers=manager.headers, json=body
    )

    assert_error(response, 403, "forbidden")
    assert await user_row(client, owner, owner.user_id) == before


@pytest.mark.parametrize("role", ["host", "server"])
async def test_hosts_and_servers_cannot_manage_staff(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    actor = await add_staff(client, owner, role)
    colleague = await add_staff(client, owner, "server")
    before = await user_row(client, owner, colleague.user_id)
    url = f"{USERS}/{colleague.user_id}"

    created = await client.post(USERS, headers=actor.headers, json=new_user("server"))
    renamed = await client.patch(url, headers=actor.headers, json={"fullName": "Renamed"})
    deleted = await client.delete(url, headers=actor.headers)
    own_role = await client.patch(
        f"{USERS}/{actor.user_id}", headers=actor.headers, json={"role": "manager"}
    )
    restaurant = await client.patch(
        "/api/v1/restaurant", headers=actor.headers, json={"name": "Mine now"}
    )

    for response in (created, renamed, deleted, own_role, restaurant):
        assert_error(response, 403, "forbidden")
    assert await user_row(client, owner, colleague.user_id) == before
    assert (await user_row(client, owner, actor.user_id))["role"] == role
    assert len((await client.get(USERS, headers=owner.headers)).json()["items"]) == 3
    assert (await client.get("/api/v1/restaurant", headers=owner.headers)).json()["name"] != (
        "Mine now"
    )


@pytest.mark.parametrize("role", ["owner", "manager", "host", "server"])
async def test_anyone_changes_their_own_name_and_password(
    client: AsyncClient, owner: Actor, role: str
) -> None:
    actor = owner if role == "owner" else await add_staff(client, owner, role)

    response = await client.patch(
        f"{USERS}/{actor.user_id}",
        headers=actor.headers,
        json={
            "fullName": "  New Name  ",
            "password": "a brand new password",
            "currentPassword": PASSWORD,
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["fullName"] == "New Name"
    assert response.json()["role"] == role
    # The new password ended the caller's own session too: the app logs in again.
    me = await client.get("/api/v1/auth/me", headers=actor.headers)
    assert_error(me, 401, "unauthorized")
    await login(client, actor.email, "a brand new password")
    old = await client.post("/api/v1/auth/login", json={"email": actor.email, "password": PASSWORD})
    assert_error(old, 401, "unauthorized")


# ----- the last owner ---------------------------------------------------------------------------


async def test_the_last_owner_cannot_be_deleted_or_demoted(
    client: AsyncClient, owner: Actor
) -> None:
    url = f"{USERS}/{owner.user_id}"
    before = await user_row(client, owner, owner.user_id)

    deleted = await client.delete(url, headers=owner.headers)
    demoted = await client.patch(url, headers=owner.headers, json={"role": "manager"})

    assert_error(deleted, 409, "conflict")
    assert_error(demoted, 409, "conflict")
    assert await user_row(client, owner, owner.user_id) == before


async def test_an_owner_can_go_when_another_owner_stays(client: AsyncClient, owner: Actor) -> None:
    second = await add_staff(client, owner, "owner")

    demoted = await client.patch(
        f"{USERS}/{owner.user_id}", headers=owner.headers, json={"role": "manager"}
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "manager"

    # Now `second` is the last owner again.
    last = await client.delete(f"{USERS}/{second.user_id}", headers=second.headers)
    assert_error(last, 409, "conflict")
    third = await add_staff(client, second, "owner")
    gone = await client.delete(f"{USERS}/{second.user_id}", headers=third.headers)
    assert gone.status_code == 204, gone.text
    assert_error(
        await client.get(f"{USERS}/{second.user_id}", headers=third.headers), 404, "not_found"
    )


# ----- If-Match and versions --------------------------------------------------------------------


async def test_if_match_guards_patch_and_delete(client: AsyncClient, owner: Actor) -> None:
    host = await add_staff(client, owner, "host")
    url = f"{USERS}/{host.user_id}"
    before = await user_row(client, owner, host.user_id)
    stale = {**owner.headers, "If-Match": f'"{before["version"] + 1}"'}

    renamed_stale = await client.patch(url, headers=stale, json={"fullName": "X"})
    assert_error(renamed_stale, 412, "precondition_failed")
    assert_error(await client.delete(url, headers=stale), 412, "precondition_failed")
    assert await user_row(client, owner, host.user_id) == before

    current = {**owner.headers, "If-Match": f'"{before["version"]}"'}
    renamed = await client.patch(url, headers=current, json={"fullName": "Hal Host"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["version"] == before["version"] + 1
    assert_error(await client.delete(url, headers=current), 412, "precondition_failed")
    weak = {**owner.headers, "If-Match": f'W/"{before["version"] + 1}"'}
    assert (await client.delete(url, headers=weak)).status_code == 204


@pytest.mark.parametrize("if_match", ["abc", '"1.5"', '"-1"', ""])
async def test_a_malformed_if_match_is_422(
    client: AsyncClient, owner: Actor, if_match: str
) -> None:
    response = await client.patch(
        f"{USERS}/{owner.user_id}",
        headers={**owner.headers, "If-Match": if_match},
        json={"fullName": "X"},
    )
    assert_validation_error(response, "If-Match")


@pytest.mark.parametrize(
    "body", [{}, {"fullName": "A server"}, {"role": "server"}, {"email": "SAME"}]
)
async def test_a_patch_that_changes_nothing_keeps_the_version(
    client: AsyncClient, owner: Actor, body: dict[str, Any]
) -> None:
    server = await add_staff(client, owner, "server")
    before = await user_row(client, owner, server.user_id)
    if body.get("email") == "SAME":
        body = {"email": server.email.upper()}

    response = await client.patch(f"{USERS}/{server.user_id}", headers=owner.headers, json=body)

    assert response.status_code == 200, response.text
    assert response.json() == before
    assert await user_row(client, owner, server.user_id) == before
    # And the user's token still works: nothing about them changed.
    assert (await client.get("/api/v1/auth/me", headers=server.headers)).status_code == 200


async def test_a_real_change_bumps_the_version(client: AsyncClient, owner: Actor) -> None:
    server = await add_staff(client, owner, "server")
    before = await user_row(client, owner, server.user_id)

    response = await client.patch(
        f"{USERS}/{server.user_id}", headers=owner.headers, json={"role": "host"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["version"] == before["version"] + 1
    assert response.json()["updatedAt"] >= before["updatedAt"]


@pytest.mark.parametrize("field", ["email", "password", "fullName", "role"])
async def test_null_for_a_user_field_is_422(client: AsyncClient, owner: Actor, field: str) -> None:
    before = await user_row(client, owner, owner.user_id)
    response = await client.patch(
        f"{USERS}/{owner.user_id}", headers=owner.headers, json={field: None}
    )
    assert_validation_error(response, field)
    assert await user_row(client, owner, owner.user_id) == before
