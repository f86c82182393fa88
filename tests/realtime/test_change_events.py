"""Change events: recorded by the unit of work, published once per committed transaction,
never for a rolled-back one or a write that changed nothing, and only to the row's own
restaurant."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from httpx import AsyncClient

from app.db.session import ChangeEvent
from tests.fixtures.auth import Actor

API = "/api/v1"


def drain(queue: asyncio.Queue[list[ChangeEvent]]) -> list[list[ChangeEvent]]:
    batches = []
    while not queue.empty():
        batches.append(queue.get_nowait())
    return batches


def summary(batch: list[ChangeEvent]) -> set[tuple[str, int, bool]]:
    return {(event.entity, event.id, event.deleted) for event in batch}


async def test_one_batch_per_commit_with_minimal_rows(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    mine = app.state.hub.subscribe(owner.restaurant_id)
    theirs = app.state.hub.subscribe(rival.restaurant_id)
    table = (
        await client.post(
            f"{API}/tables", headers=owner.headers, json={"tableNumber": "4", "capacity": 4}
        )
    ).json()
    guest = (
        await client.post(
            f"{API}/guests", headers=owner.headers, json={"name": "Ana", "partySize": 2}
        )
    ).json()
    seated = await client.post(
        f"{API}/guests/{guest['id']}/seat", headers=owner.headers, json={"tableId": table["id"]}
    )
    assert seated.status_code == 200

    batches = drain(mine)
    assert [summary(b) for b in batches] == [
        {("tables", table["id"], False)},
        {("guests", guest["id"], False)},
        {("guests", guest["id"], False), ("tables", table["id"], False)},
    ]
    seat_batch = {event.entity: event.row for event in batches[2]}
    assert seat_batch["guests"] == {
        "id": guest["id"],
        "name": "Ana",
        "status": "seated",
        "table_id": table["id"],
        "party_size": 2,
        "version": guest["version"] + 1,
    }
    assert seat_batch["tables"] == {
        "id": table["id"],
        "table_number": "4",
        "status": "occupied",
        "current_guest_id": guest["id"],
        "version": table["version"] + 1,
    }
    assert drain(theirs) == []


async def test_no_event_for_a_refused_write_or_one_that_changes_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    table = (
        await client.post(
            f"{API}/tables", headers=owner.headers, json={"tableNumber": "2", "capacity": 2}
        )
    ).json()
    guest = (
        await client.post(
            f"{API}/guests", headers=owner.headers, json={"name": "Big", "partySize": 6}
        )
    ).json()
    queue = app.state.hub.subscribe(owner.restaurant_id)

    refused = await client.post(
        f"{API}/guests/{guest['id']}/seat", headers=owner.headers, json={"tableId": table["id"]}
    )
    assert refused.status_code == 409
    same = await client.patch(
        f"{API}/guests/{guest['id']}", headers=owner.headers, json={"name": "Big", "partySize": 6}
    )
    assert same.status_code == 200 and same.json()["version"] == guest["version"]
    assert drain(queue) == []

    deleted = await client.delete(f"{API}/guests/{guest['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert [summary(b) for b in drain(queue)] == [{("guests", guest["id"], True)}]
