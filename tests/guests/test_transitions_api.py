"""Every guest status pair through PATCH /guests/{id}: illegal moves are 409 invalid_transition
and change nothing; legal moves answer 200 and set the timestamps docs/contract.md documents."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_error
from tests.fixtures.floor import (
    FINAL_GUEST_STATUSES,
    GUEST_STATUSES,
    GUEST_TIMESTAMPS,
    LEGAL_GUEST_MOVES,
    assert_invariant,
    assert_utc_timestamps,
    create_table,
    get_table,
    guest_in,
    guest_url,
    parse_ts,
    patch_guest,
    snapshot,
)

PAIRS = [(a, b) for a, b in itertools.product(GUEST_STATUSES, repeat=2) if a != b]
ILLEGAL = [pair for pair in PAIRS if pair not in LEGAL_GUEST_MOVES]


async def _move_body(client: AsyncClient, actor: Actor, target: str) -> dict[str, Any]:
    """The PATCH body asking for ``target``; seating names a free table big enough."""
    if target == "seated":
        table = await create_table(client, actor, "free", 50)
        return {"status": "seated", "tableId": table["id"]}
    return {"status": target}


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
async def test_an_illegal_move_is_invalid_transition_and_changes_nothing(
    client: AsyncClient, owner: Actor, current: str, target: str
) -> None:
    guest = await guest_in(client, owner, current)
    body = await _move_body(client, owner, target)
    before = await snapshot(client, owner)
    response = await patch_guest(client, owner, guest["id"], body)
    error = assert_error(response, 409, "invalid_transition")["error"]
    assert error["details"] == {"from": current, "to": target}
    assert await assert_invariant(client, owner) == before


@pytest.mark.parametrize("current", FINAL_GUEST_STATUSES)
async def test_status_seated_without_a_table_on_a_final_guest_is_invalid_transition(
    client: AsyncClient, owner: Actor, current: str
) -> None:
    """invalid_transition comes before the 422 for a missing tableId."""
    guest = await guest_in(client, owner, current)
    before = await snapshot(client, owner)
    response = await patch_guest(client, owner, guest["id"], {"status": "seated"})
    assert_error(response, 409, "invalid_transition")
    assert await assert_invariant(client, owner) == before


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL_GUEST_MOVES))
async def test_a_legal_move_answers_200_with_the_documented_timestamps(
    client: AsyncClient, owner: Actor, current: str, target: str
) -> None:
    guest = await guest_in(client, owner, current)
    body = await _move_body(client, owner, target)
    response = await patch_guest(client, owner, guest["id"], body)
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved == (await snapshot(client, owner))["guests"][guest["id"]]
    assert moved["status"] == target
    assert moved["version"] > guest["version"]
    assert moved["arrivedAt"] == guest["arrivedAt"]
    assert moved["createdAt"] == guest["createdAt"]
    assert_utc_timestamps(moved, GUEST_TIMESTAMPS)

    if target == "seated":
        assert moved["tableId"] == body["tableId"]
        assert moved["seatedAt"] is not None and moved["completedAt"] is None
    elif target == "completed":
        assert moved["tableId"] is None
        assert moved["completedAt"] is not None
        assert moved["seatedAt"] == guest["seatedAt"]
    elif current == "seated":  # seated -> waiting: unseated by mistake
        assert moved["tableId"] is None
        assert moved["seatedAt"] is None and moved["completedAt"] is None
        assert (await get_table(client, owner, guest["tableId"]))["status"] == "available"
    else:
        assert moved["tableId"] is None
        assert moved["seatedAt"] is None and moved["completedAt"] is None
    await assert_invariant(client, owner)


@pytest.mark.parametrize("status", GUEST_STATUSES)
async def test_asking_for_the_current_status_changes_nothing(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    guest = await guest_in(client, owner, status)
    before = await snapshot(client, owner)
    response = await patch_guest(client, owner, guest["id"], {"status": status})
    assert response.status_code == 200, response.text
    assert response.json() == guest
    assert await assert_invariant(client, owner) == before


@pytest.mark.parametrize("status", ["waiting", "notified", "left", "no_show", "cancelled"])
async def test_the_complete_action_needs_a_seated_guest(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    guest = await guest_in(client, owner, status)
    before = await snapshot(client, owner)
    response = await client.post(f"{guest_url(guest['id'])}/complete", headers=owner.headers)
    assert_error(response, 409, "invalid_transition")
    assert await assert_invariant(client, owner) == before


async def test_completing_a_completed_guest_again_changes_nothing(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await guest_in(client, owner, "completed")
    before = await snapshot(client, owner)
    response = await client.post(f"{guest_url(guest['id'])}/complete", headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == guest
    assert await assert_invariant(client, owner) == before


@pytest.mark.parametrize("status", FINAL_GUEST_STATUSES)
async def test_the_seat_action_refuses_a_final_guest(
    client: AsyncClient, owner: Actor, status: str
) -> None:
    guest = await guest_in(client, owner, status)
    table = await create_table(client, owner, "free", 50)
    before = await snapshot(client, owner)
    response = await client.post(
        f"{guest_url(guest['id'])}/seat", headers=owner.headers, json={"tableId": table["id"]}
    )
    assert_error(response, 409, "invalid_transition")
    assert await assert_invariant(client, owner) == before


async def test_reseating_after_an_unseat_sets_a_new_seated_at(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await guest_in(client, owner, "seated")
    unseated = await patch_guest(client, owner, guest["id"], {"status": "waiting"})
    assert unseated.status_code == 200, unseated.text
    assert unseated.json()["seatedAt"] is None
    again = await patch_guest(client, owner, guest["id"], {"tableId": guest["tableId"]})
    assert again.status_code == 200, again.text
    reseated = again.json()
    assert reseated["status"] == "seated" and reseated["seatedAt"] is not None
    assert parse_ts(reseated["seatedAt"]) >= parse_ts(guest["seatedAt"])
    assert reseated["version"] > unseated.json()["version"]
    await assert_invariant(client, owner)
