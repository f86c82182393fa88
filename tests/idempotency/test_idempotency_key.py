"""Idempotency-Key on authenticated POSTs: the first answer, stored with its write, replayed."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select

from app.idempotency import service
from app.models import IdempotencyKey
from tests.fixtures.auth import PASSWORD, Actor, add_staff, unique_email
from tests.fixtures.errors import assert_error

API = "/api/v1"


def keyed(actor: Actor, key: str) -> dict[str, str]:
    return {**actor.headers, "Idempotency-Key": key}


async def guests_of(client: AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    response = await client.get(
        f"{API}/guests",
        headers=actor.headers,
        params={"limit": 200, "status": ["waiting", "seated"]},
    )
    return list(response.json()["items"])


async def test_a_retry_gets_the_first_answer_and_changes_nothing(
    client: AsyncClient, owner: Actor
) -> None:
    body = {"name": "Ana", "partySize": 2}
    first = await client.post(f"{API}/guests", headers=keyed(owner, "k-1"), json=body)
    again = await client.post(f"{API}/guests", headers=keyed(owner, "k-1"), json=body)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [g["id"] for g in await guests_of(client, owner)] == [first.json()["id"]]


async def test_the_same_key_with_another_request_is_422(client: AsyncClient, owner: Actor) -> None:
    await client.post(
        f"{API}/guests", headers=keyed(owner, "k-2"), json={"name": "A", "partySize": 2}
    )
    other_body = await client.post(
        f"{API}/guests", headers=keyed(owner, "k-2"), json={"name": "B", "partySize": 2}
    )
    other_path = await client.post(
        f"{API}/tables", headers=keyed(owner, "k-2"), json={"tableNumber": "1", "capacity": 2}
    )
    for response in (other_body, other_path):
        assert_error(response, 422, "idempotency_key_reused")
    assert [g["name"] for g in await guests_of(client, owner)] == ["A"]
    tables = await client.get(f"{API}/tables", headers=owner.headers)
    assert tables.json()["items"] == []


async def test_keys_belong_to_one_restaurant(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    body = {"name": "Same", "partySize": 2}
    mine = await client.post(f"{API}/guests", headers=keyed(owner, "shared"), json=body)
    theirs = await client.post(f"{API}/guests", headers=keyed(rival, "shared"), json=body)
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert len(await guests_of(client, rival)) == 1


async def test_a_colleagues_refusal_never_answers_you(client: AsyncClient, owner: Actor) -> None:
    """A server refused with key K; the owner sending K with the same body is served."""
    server = await add_staff(client, owner, "server")
    body = {"tableNumber": "12", "capacity": 4}
    refused = await client.post(f"{API}/tables", headers=keyed(server, "K"), json=body)
    assert_error(refused, 403, "forbidden")

    created = await client.post(f"{API}/tables", headers=keyed(owner, "K"), json=body)

    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers
    tables = await client.get(f"{API}/tables", headers=owner.headers)
    assert [t["id"] for t in tables.json()["items"]] == [created.json()["id"]]


async def test_two_staff_members_may_send_one_key_with_different_requests(
    client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    by_host = await client.post(
        f"{API}/guests", headers=keyed(host, "K"), json={"name": "Hal", "partySize": 2}
    )
    by_owner = await client.post(
        f"{API}/guests", headers=keyed(owner, "K"), json={"name": "Oda", "partySize": 3}
    )
    assert by_host.status_code == by_owner.status_code == 201, by_owner.text
    assert "idempotent-replayed" not in by_owner.headers
    assert sorted(g["name"] for g in await guests_of(client, owner)) == ["Hal", "Oda"]


async def test_each_staff_member_replays_their_own_answer_to_a_shared_key(
    client: AsyncClient, owner: Actor
) -> None:
    server = await add_staff(client, owner, "server")
    body = {"tableNumber": "7", "capacity": 2}
    refused = await client.post(f"{API}/tables", headers=keyed(server, "K"), json=body)
    created = await client.post(f"{API}/tables", headers=keyed(owner, "K"), json=body)

    owner_again = await client.post(f"{API}/tables", headers=keyed(owner, "K"), json=body)
    server_again = await client.post(f"{API}/tables", headers=keyed(server, "K"), json=body)

    assert (owner_again.status_code, owner_again.json()) == (201, created.json())
    assert (server_again.status_code, server_again.json()) == (403, refused.json())
    for again in (owner_again, server_again):
        assert again.headers["idempotent-replayed"] == "true"
    tables = await client.get(f"{API}/tables", headers=owner.headers)
    assert len(tables.json()["items"]) == 1


async def test_a_deleted_users_answers_go_with_them(
    app: Any, client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    for actor in (host, owner):
        await client.post(
            f"{API}/guests", headers=keyed(actor, "mine"), json={"name": "X", "partySize": 2}
        )
    deleted = await client.delete(f"{API}/users/{host.user_id}", headers=owner.headers)
    assert deleted.status_code == 204
    async with app.state.db.engine.connect() as conn:
        users = (await conn.execute(select(IdempotencyKey.user_id))).scalars().all()
    assert users == [owner.user_id]


async def test_a_refusal_is_stored_and_its_partial_work_undone(
    client: AsyncClient, owner: Actor
) -> None:
    table = (
        await client.post(
            f"{API}/tables", headers=owner.headers, json={"tableNumber": "9", "capacity": 2}
        )
    ).json()
    reservation = (
        await client.post(
            f"{API}/reservations",
            headers=owner.headers,
            json={"guestName": "Six", "partySize": 6, "startsAt": "2099-05-01T19:00:00Z"},
        )
    ).json()
    url = f"{API}/reservations/{reservation['id']}/check-in"
    # Check-in creates the guest, then seating refuses: a party of 6 at a table for 2.
    first = await client.post(url, headers=keyed(owner, "ci"), json={"tableId": table["id"]})
    assert_error(first, 409, "capacity_exceeded")
    await client.patch(f"{API}/tables/{table['id']}", headers=owner.headers, json={"capacity": 8})

    again = await client.post(url, headers=keyed(owner, "ci"), json={"tableId": table["id"]})
    assert again.status_code == 409 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await guests_of(client, owner) == []
    unchanged = await client.get(f"{API}/reservations/{reservation['id']}", headers=owner.headers)
    assert unchanged.json()["status"] == "booked"
    fresh = await client.post(url, headers=keyed(owner, "ci-2"), json={"tableId": table["id"]})
    assert fresh.status_code == 200 and fresh.json()["status"] == "checked_in"


async def test_an_expired_key_runs_the_request_again(
    client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "KEEP_FOR", timedelta(seconds=-1))
    body = {"name": "Twice", "partySize": 2}
    first = await client.post(f"{API}/guests", headers=keyed(owner, "old"), json=body)
    again = await client.post(f"{API}/guests", headers=keyed(owner, "old"), json=body)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]


async def test_expired_answers_are_purged_when_new_ones_are_stored(
    app: Any, client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "KEEP_FOR", timedelta(seconds=-1))
    for n in range(3):
        await client.post(
            f"{API}/guests", headers=keyed(owner, f"gone-{n}"), json={"name": "X", "partySize": 2}
        )
    monkeypatch.setattr(service, "KEEP_FOR", timedelta(hours=24))
    await client.post(
        f"{API}/guests", headers=keyed(owner, "kept"), json={"name": "Y", "partySize": 2}
    )
    async with app.state.db.engine.connect() as conn:
        keys = (await conn.execute(select(IdempotencyKey.key))).scalars().all()
    assert keys == ["kept"]


async def test_without_a_key_every_post_runs(client: AsyncClient, owner: Actor) -> None:
    body = {"name": "Walk-in", "partySize": 2}
    for _ in range(2):
        assert (
            await client.post(f"{API}/guests", headers=owner.headers, json=body)
        ).status_code == 201
    assert len(await guests_of(client, owner)) == 2


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_a_key_outside_1_to_255_characters_is_422(
    client: AsyncClient, owner: Actor, key: str
) -> None:
    response = await client.post(
        f"{API}/guests", headers=keyed(owner, key), json={"name": "A", "partySize": 2}
    )
    assert_error(response, 422, "validation_error")
    assert await guests_of(client, owner) == []


async def test_unauthenticated_posts_ignore_the_header(client: AsyncClient) -> None:
    answers = []
    for _ in range(2):
        answers.append(
            await client.post(
                f"{API}/auth/register",
                headers={"Idempotency-Key": "reg"},
                json={
                    "restaurantName": "Twin",
                    "email": unique_email("twin"),
                    "password": PASSWORD,
                    "fullName": "Tia Twin",
                },
            )
        )
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["restaurant"]["id"] != answers[1].json()["restaurant"]["id"]


async def test_simultaneous_retries_create_one_row(client: AsyncClient, owner: Actor) -> None:
    body = {"name": "Rush", "partySize": 2}
    answers = await asyncio.gather(
        *(client.post(f"{API}/guests", headers=keyed(owner, "rush"), json=body) for _ in range(6))
    )
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.json() == created[0].json() for a in created)
    for answer in answers:
        if answer.status_code != 201:
            # PostgreSQL runs them side by side: the losers are told to retry.
            assert_error(answer, 409, "conflict")
            assert answer.headers["retry-after"] == "1"
    assert [g["id"] for g in await guests_of(client, owner)] == [created[0].json()["id"]]


def raw(actor: Actor, key: str) -> dict[str, str]:
    return {**keyed(actor, key), "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "first", "again"),
    [
        (
            "guests",
            b'{"name":"Ana","partySize":2,"notes":"caf\xc3\xa9"}',
            # Other spacing, key order and escapes of the same values.
            b'{ "notes" : "caf\\u00e9",\n\t"partySize": 2 , "name":"\\u0041na" }',
        ),
        (
            "batch/update",
            b'{"guests":[{"op":"create","name":"Ana","partySize":2}],"tables":[]}',
            b'{"tables":[ ],"guests":[{"partySize":2,"name":"\\u0041n\\u0061","op":"create"}]}',
        ),
        # A duplicate key means what FastAPI reads: the last one.
        (
            "guests",
            b'{"name":"Ana","partySize":2}',
            b'{"name":"Bo","partySize":2,"name":"Ana"}',
        ),
    ],
    ids=["spacing-order-escapes", "nested", "duplicate-key"],
)
async def test_the_same_json_written_otherwise_replays(
    client: AsyncClient, owner: Actor, path: str, first: bytes, again: bytes
) -> None:
    answer = await client.post(f"{API}/{path}", headers=raw(owner, "same"), content=first)
    assert answer.status_code in (200, 201), answer.text
    before = await guests_of(client, owner)
    replay = await client.post(f"{API}/{path}", headers=raw(owner, "same"), content=again)
    assert replay.status_code == answer.status_code, replay.text
    assert replay.json() == answer.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await guests_of(client, owner) == before and len(before) == 1


@pytest.mark.parametrize(
    "again",
    [
        b'{"name":"Ana","partySize":4.0}',
        b'{"name":"Ana","partySize":5}',
        b'{"name":"Ana ","partySize":4}',
        b'{"name":"Ana","partySize":4,"notes":null}',
        b'{"name":"Ana","partySize":"4"}',
    ],
    ids=["float", "other-value", "other-text", "one-more-field", "string"],
)
async def test_the_same_key_with_another_meaning_is_422(
    client: AsyncClient, owner: Actor, again: bytes
) -> None:
    first = b'{"name":"Ana","partySize":4}'
    answer = await client.post(f"{API}/guests", headers=raw(owner, "meaning"), content=first)
    assert answer.status_code == 201, answer.text
    other = await client.post(f"{API}/guests", headers=raw(owner, "meaning"), content=again)
    assert_error(other, 422, "idempotency_key_reused")
    assert [g["id"] for g in await guests_of(client, owner)] == [answer.json()["id"]]


async def test_a_lone_surrogate_in_a_keyed_body_is_refused_and_replayed(
    client: AsyncClient, owner: Actor
) -> None:
    body = b'{"name":"\\ud800","partySize":2}'
    first = await client.post(f"{API}/guests", headers=raw(owner, "lone"), content=body)
    assert_error(first, 422, "validation_error")
    again = await client.post(
        f"{API}/guests", headers=raw(owner, "lone"), content=b'{"partySize":2,"name":"\\uD800"}'
    )
    assert again.status_code == 422 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


def test_a_body_that_is_not_json_never_takes_a_json_bodys_fingerprint() -> None:
    canonical = b'{"a":1}'
    as_json = service.fingerprint("POST", "/p", canonical, json.loads(canonical))
    for body in (canonical, b"j" + canonical, b"b" + canonical):
        assert service.fingerprint("POST", "/p", body, service.NOT_JSON) != as_json
    assert service.fingerprint("POST", "/p", b"", service.NOT_JSON) == service.fingerprint(
        "POST", "/p", b"", service.NOT_JSON
    )
