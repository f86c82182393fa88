"""POST /batch/update (docs/contract.md, Batch): all or nothing, the single endpoints' rules,
results
with ids and clientIds, one revision, item-naming errors, limits and idempotency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select

from app.models import ChangeLog, Restaurant
from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.floor import (
    assert_invariant,
    create_guest,
    create_table,
    get_guest,
    get_table,
    guest_url,
    seat,
)
from tests.reservations.factories import RESERVATIONS, at, create_reservation, iso
from tests.sync.helpers import dashboard
from tests.sync.helpers import snapshot as dashboard_snapshot

BATCH = "/api/v1/batch/update"


async def batch(client: AsyncClient, actor: Actor, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(BATCH, json=body, headers={**actor.headers, **headers})


async def log_state(app: FastAPI, restaurant_id: int) -> tuple[int, int]:
    """The restaurant's revision and its number of change log entries."""
    async with app.state.db.engine.connect() as conn:
        revision = await conn.scalar(
            select(Restaurant.revision).where(Restaurant.id == restaurant_id)
        )
        entries = await conn.scalar(
            select(func.count())
            .select_from(ChangeLog)
            .where(ChangeLog.restaurant_id == restaurant_id)
        )
    return int(revision), int(entries)


async def test_a_batch_applies_every_item_and_answers_results_and_final_rows(
    client: AsyncClient, owner: Actor
) -> None:
    t1 = await create_table(client, owner, "1")
    t2 = await create_table(client, owner, "2", status="out_of_service")
    seated = await create_guest(client, owner, "Seated")
    await seat(client, owner, seated["id"], t1["id"])
    waiting = await create_guest(client, owner, "Waiting")
    doomed = await create_guest(client, owner, "Doomed")
    before = (await dashboard_snapshot(client, owner, minimal=True))["cursor"]

    response = await batch(
        client,
        owner,
        {
            # Listed guests first: tables are applied first all the same, so t2 is
            # available again when the move reaches it.
            "guests": [
                {"id": seated["id"], "tableId": t2["id"], "version": 2},
                {"op": "create", "clientId": "tmp-1", "name": "New", "partySize": 3},
                {"op": "delete", "id": doomed["id"]},
                {"id": waiting["id"], "status": "notified"},
            ],
            "tables": [{"id": t2["id"], "status": "available"}],
            "reservations": [
                {
                    "op": "create",
                    "clientId": "r-1",
                    "guestName": "Bo",
                    "partySize": 2,
                    "startsAt": iso(at()),
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "cursor",
        "previousCursor",
        "results",
        "guests",
        "tables",
        "reservations",
        "deleted",
    }
    created = body["results"]["guests"][1]["id"]
    assert body["results"]["tables"] == [
        {"index": 0, "id": t2["id"], "clientId": None, "op": "update"}
    ]
    assert body["results"]["guests"] == [
        {"index": 0, "id": seated["id"], "clientId": None, "op": "update"},
        {"index": 1, "id": created, "clientId": "tmp-1", "op": "create"},
        {"index": 2, "id": doomed["id"], "clientId": None, "op": "delete"},
        {"index": 3, "id": waiting["id"], "clientId": None, "op": "update"},
    ]
    [booking] = body["results"]["reservations"]
    assert booking["clientId"] == "r-1" and booking["op"] == "create"

    # The final minimal state of every row touched, the table freed by the move included.
    tables = {t["id"]: t for t in body["tables"]}
    assert tables[t1["id"]]["status"] == "dirty" and tables[t1["id"]]["currentGuestId"] is None
    assert tables[t2["id"]]["status"] == "occupied"
    assert tables[t2["id"]]["currentGuestId"] == seated["id"]
    guests = {g["id"]: g for g in body["guests"]}
    assert set(guests) == {seated["id"], created, waiting["id"]}
    assert guests[waiting["id"]]["status"] == "notified"
    assert body["deleted"] == {"guests": [doomed["id"]], "tables": [], "reservations": []}
    for row in body["guests"]:
        full = await get_guest(client, owner, row["id"])
        assert {k: full[k] for k in row} == row
    assert (await get_table(client, owner, t2["id"]))["version"] == tables[t2["id"]]["version"]
    await assert_invariant(client, owner)

    # One revision: the cursor before the batch is its previousCursor, and a delta from it
    # holds exactly what the batch answered.
    assert body["previousCursor"] == before
    delta = (await dashboard(client, owner, before, minimal=True)).json()
    assert delta["cursor"] == body["cursor"]
    for entity in ("guests", "tables", "reservations"):
        assert sorted(delta[entity], key=lambda r: r["id"]) == sorted(
            body[entity], key=lambda r: r["id"]
        )
    assert delta["deleted"] == body["deleted"]


async def test_a_batch_takes_one_revision_and_one_change_log_entry(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    tables = [await create_table(client, owner, str(n)) for n in range(1, 6)]
    guests = [await create_guest(client, owner, f"G{n}") for n in range(5)]
    revision, entries = await log_state(app, owner.restaurant_id)
    response = await batch(
        client,
        owner,
        {
            "guests": [
                {"id": g["id"], "tableId": t["id"]} for g, t in zip(guests, tables, strict=False)
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert await log_state(app, owner.restaurant_id) == (revision + 1, entries + 1)


async def test_150_seat_move_complete_and_status_changes_in_one_call(
    client: AsyncClient, owner: Actor
) -> None:
    tables = [await create_table(client, owner, str(n), capacity=8) for n in range(1, 51)]
    guests = [await create_guest(client, owner, f"G{n}") for n in range(40)]
    items: list[dict[str, Any]] = []
    free = [t["id"] for t in tables[40:]]
    for guest, table in zip(guests, tables, strict=False):  # 40 seats
        items.append({"id": guest["id"], "tableId": table["id"]})
    for n in range(10):  # 30 moves: to the free tables, back, and others to them
        items.append({"id": guests[n]["id"], "tableId": free[n]})
    for n in range(10):
        items.append({"id": guests[n]["id"], "tableId": tables[n]["id"]})
    for n in range(10):
        items.append({"id": guests[n + 10]["id"], "tableId": free[n]})
    for guest in guests[30:]:  # 30 status changes: unseated, notified, seated again
        items.append({"id": guest["id"], "status": "waiting"})
    for guest in guests[30:]:
        items.append({"id": guest["id"], "status": "notified"})
    for guest, table in zip(guests[30:], tables[30:40], strict=False):
        items.append({"id": guest["id"], "tableId": table["id"]})
    for guest in guests[:20]:  # 20 parties grow
        items.append({"id": guest["id"], "partySize": 3})
    for guest in guests[:30]:  # 30 completes
        items.append({"id": guest["id"], "status": "completed"})
    assert len(items) == 150
    response = await batch(client, owner, {"guests": items})
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]["guests"]) == 150
    state = await assert_invariant(client, owner)
    statuses = [state["guests"][g["id"]]["status"] for g in guests]
    assert statuses == ["completed"] * 30 + ["seated"] * 10
    occupied = sorted(t["id"] for t in state["tables"].values() if t["status"] == "occupied")
    assert occupied == sorted(t["id"] for t in tables[30:40])


async def test_a_batch_whose_100th_item_fails_changes_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    tables = [await create_table(client, owner, str(n)) for n in range(1, 101)]
    guests = [await create_guest(client, owner, f"G{n}") for n in range(100)]
    await seat(client, owner, guests[0]["id"], tables[0]["id"])
    before = await dashboard_snapshot(client, owner)
    logged = await log_state(app, owner.restaurant_id)
    items: list[dict[str, Any]] = [
        {"id": g["id"], "tableId": t["id"]}
        for g, t in zip(guests[1:100], tables[1:100], strict=False)
    ]
    # The 100th: a table already taken by guest 0.
    items.append({"id": guests[-1]["id"], "tableId": tables[0]["id"]})
    items[98] = {"id": guests[99]["id"], "status": "notified"}
    assert len(items) == 100
    response = await batch(client, owner, {"guests": items})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "table_occupied"
    assert error["details"]["entity"] == "guests"
    assert error["details"]["index"] == 99
    after = await dashboard_snapshot(client, owner)
    assert {k: v for k, v in after.items() if k not in ("serverTime",)} == {
        k: v for k, v in before.items() if k not in ("serverTime",)
    }
    assert await log_state(app, owner.restaurant_id) == logged
    await assert_invariant(client, owner)


async def test_an_invalid_item_is_a_422_naming_it_and_nothing_is_applied(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    response = await batch(
        client,
        owner,
        {
            "guests": [
                {"id": guest["id"], "status": "notified"},
                {"op": "create", "name": "Ana", "partySize": "4"},
            ]
        },
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["entity"] == "guests" and error["details"]["index"] == 1
    assert error["details"]["errors"][0]["loc"] == ["body", "guests", 1, "partySize"]
    assert (await get_guest(client, owner, guest["id"]))["status"] == "waiting"


@pytest.mark.parametrize(
    "item",
    [
        {"op": "upsert", "id": 1},
        {"op": None, "id": 1},
        {"op": "update"},
        {"op": "delete"},
        {"id": "1"},
        {"id": 1, "version": "2"},
        {"id": 1, "version": 0},
        {"id": 1, "restaurantId": 2},
        {"id": 1, "createdAt": "2026-01-01T00:00:00Z"},
        {"op": "create", "id": 5, "name": "Ana", "partySize": 2},
        {"op": "create", "version": 1, "name": "Ana", "partySize": 2},
        {"op": "create", "clientId": "", "name": "Ana", "partySize": 2},
        {"op": "delete", "id": 1, "name": "Ana"},
        "not an object",
        None,
    ],
)
async def test_malformed_items_are_422(client: AsyncClient, owner: Actor, item: Any) -> None:
    response = await batch(client, owner, {"guests": [item]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["index"] == 0


@pytest.mark.parametrize("body", [[], "x", {"guests": {}}, {"others": []}, {"guests": None}])
async def test_a_malformed_batch_is_422(client: AsyncClient, owner: Actor, body: Any) -> None:
    response = await client.post(BATCH, json=body, headers=owner.headers)
    assert response.status_code == 422, response.text


async def test_an_items_version_that_differs_is_409_version_conflict(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    response = await batch(
        client,
        owner,
        {
            "guests": [
                {"id": guest["id"], "notes": "a", "version": 1},
                {"id": guest["id"], "notes": "b", "version": 1},
            ]
        },
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "version_conflict" and error["details"]["index"] == 1
    assert (await get_guest(client, owner, guest["id"]))["version"] == 1


async def test_another_restaurants_ids_are_404_naming_the_item(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    theirs = await create_guest(client, rival)
    their_table = await create_table(client, rival, "9")
    mine = await create_guest(client, owner)
    for item in (
        {"id": theirs["id"], "status": "notified"},
        {"op": "delete", "id": theirs["id"]},
        {"id": mine["id"], "tableId": their_table["id"]},
    ):
        response = await batch(client, owner, {"guests": [item]})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["details"]["index"] == 0
    assert (await get_guest(client, rival, theirs["id"]))["version"] == 1


async def test_role_checks_hold_inside_a_batch(client: AsyncClient, owner: Actor) -> None:
    host = await add_staff(client, owner, "host")
    table = await create_table(client, owner, "1")
    for item in (
        {"op": "create", "tableNumber": "2", "capacity": 4},
        {"id": table["id"], "capacity": 6},
        {"op": "delete", "id": table["id"]},
    ):
        response = await batch(client, host, {"tables": [item]})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["details"] == {"entity": "tables", "index": 0}
    # What a host may do to a table, a host may do in a batch.
    response = await batch(client, host, {"tables": [{"id": table["id"], "status": "dirty"}]})
    assert response.status_code == 200, response.text


async def test_at_most_500_items(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    item = {"id": guest["id"], "notes": "x"}
    response = await batch(client, owner, {"guests": [item] * 250, "tables": [item] * 251})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    response = await batch(client, owner, {"guests": [item] * 500})
    assert response.status_code == 200, response.text


async def test_the_body_limit_admits_a_full_batch_of_the_longest_items(
    client: AsyncClient, owner: Actor
) -> None:
    wide = "\U0001f600"  # written as a 12-byte surrogate pair escape
    item = {
        "op": "create",
        "clientId": "c" * 255,
        "name": wide * 100,
        "partySize": 2,
        "phone": "+331234567890123",
        "quotedWaitMinutes": 600,
        "notes": wide * 1000,
    }
    body = json.dumps({"guests": [item] * 500}).encode()
    assert len(body) > 6 * 1024 * 1024
    response = await client.post(
        BATCH, content=body, headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["results"]["guests"]) == 500
    # The limit of other routes is unchanged.
    response = await client.post(
        "/api/v1/guests",
        content=body[: 2 * 1024 * 1024],
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_replaying_a_batch_with_its_idempotency_key_changes_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    guest = await create_guest(client, owner)
    body = {
        "guests": [
            {"id": guest["id"], "tableId": table["id"]},
            {"op": "create", "clientId": "a", "name": "Bo", "partySize": 2},
        ]
    }
    first = await batch(client, owner, body, **{"Idempotency-Key": "batch-1"})
    assert first.status_code == 200, first.text
    logged = await log_state(app, owner.restaurant_id)
    again = await batch(client, owner, body, **{"Idempotency-Key": "batch-1"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert await log_state(app, owner.restaurant_id) == logged
    other = await batch(client, owner, {"guests": []}, **{"Idempotency-Key": "batch-1"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_failed_batch_replays_its_error_and_takes_no_revision(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    logged = await log_state(app, owner.restaurant_id)
    body = {"guests": [{"id": guest["id"], "status": "completed"}]}
    first = await batch(client, owner, body, **{"Idempotency-Key": "k"})
    assert first.status_code == 409
    again = await batch(client, owner, body, **{"Idempotency-Key": "k"})
    assert again.status_code == 409 and again.content == first.content
    assert await log_state(app, owner.restaurant_id) == logged


async def test_a_batch_needs_a_token(client: AsyncClient) -> None:
    response = await client.post(BATCH, json={})
    assert response.status_code == 401


async def test_check_in_and_reservation_changes_in_a_batch(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    reservation = await create_reservation(client, owner, tableId=table["id"])
    response = await batch(
        client,
        owner,
        {
            "reservations": [
                {"id": reservation["id"], "status": "checked_in"},
                {"op": "create", "guestName": "Cy", "partySize": 2, "startsAt": iso(at(days=3))},
            ]
        },
    )
    assert response.status_code == 200, response.text
    checked = await client.get(f"{RESERVATIONS}/{reservation['id']}", headers=owner.headers)
    assert checked.json()["status"] == "checked_in"
    guest_id = checked.json()["guestId"]
    assert (await get_guest(client, owner, guest_id))["tableId"] == table["id"]
    await assert_invariant(client, owner)


@pytest.mark.postgres
async def test_concurrent_batches_and_single_requests_give_no_5xx(
    client: AsyncClient, owner: Actor, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("real concurrency needs PostgreSQL")
    tables = [await create_table(client, owner, str(n)) for n in range(1, 21)]
    guests = [await create_guest(client, owner, f"G{n}") for n in range(20)]

    async def batcher(offset: int) -> list[int]:
        codes = []
        for round_ in range(5):
            items = [
                {
                    "id": guests[(offset + round_ + n) % 20]["id"],
                    "tableId": tables[(offset * 3 + n) % 20]["id"],
                }
                for n in range(5)
            ] + [{"id": guests[(offset + n) % 20]["id"], "status": "waiting"} for n in range(2)]
            codes.append((await batch(client, owner, {"guests": items})).status_code)
        return codes

    async def single(offset: int) -> list[int]:
        codes = []
        for n in range(10):
            guest = guests[(offset + n) % 20]["id"]
            table = tables[(offset + 2 * n) % 20]["id"]
            response = await client.post(
                f"{guest_url(guest)}/seat", json={"tableId": table}, headers=owner.headers
            )
            codes.append(response.status_code)
        return codes

    results = await asyncio.gather(*(batcher(n) for n in range(4)), *(single(n) for n in range(4)))
    codes = [code for group in results for code in group]
    assert all(code < 500 for code in codes), codes
    assert any(code == 200 for code in codes)
    await assert_invariant(client, owner)


async def test_parties_swapping_tables_in_one_batch(client: AsyncClient, owner: Actor) -> None:
    """A cycle of table changes: each party ends where the other began. The rows are written
    once each at the batch's end, and one must let go of its table first."""
    t1, t2, t3 = [await create_table(client, owner, str(n)) for n in (1, 2, 3)]
    a = await create_guest(client, owner, "A")
    b = await create_guest(client, owner, "B")
    await seat(client, owner, a["id"], t1["id"])
    await seat(client, owner, b["id"], t2["id"])
    response = await batch(
        client,
        owner,
        {
            "guests": [
                {"id": a["id"], "tableId": t3["id"]},
                {"id": b["id"], "tableId": t1["id"]},
                {"id": a["id"], "tableId": t2["id"]},
            ]
        },
    )
    assert response.status_code == 200, response.text
    state = await assert_invariant(client, owner)
    assert state["guests"][a["id"]]["tableId"] == t2["id"]
    assert state["guests"][b["id"]]["tableId"] == t1["id"]
    assert state["tables"][t3["id"]]["currentGuestId"] is None
    # Each change a version, as if applied one by one: A moved twice, B once.
    assert state["guests"][a["id"]]["version"] == 2 + 2
    assert state["guests"][b["id"]]["version"] == 2 + 1


async def test_versions_in_a_batch_count_every_item(client: AsyncClient, owner: Actor) -> None:
    guest = await create_guest(client, owner)
    response = await batch(
        client,
        owner,
        {
            "guests": [
                {"id": guest["id"], "notes": "a", "version": 1},
                {"id": guest["id"], "notes": "b", "version": 2},
                {"id": guest["id"], "notes": "b", "version": 3},  # changes nothing
                {"id": guest["id"], "notes": None, "version": 3},
            ]
        },
    )
    assert response.status_code == 200, response.text
    [row] = response.json()["guests"]
    assert row["version"] == 4
    full = await get_guest(client, owner, guest["id"])
    assert full["version"] == 4 and full["notes"] is None


async def test_a_long_chain_of_moves_in_one_batch(client: AsyncClient, owner: Actor) -> None:
    tables = [await create_table(client, owner, str(n)) for n in range(1, 42)]
    guests = [await create_guest(client, owner, f"G{n}") for n in range(40)]
    for guest, table in zip(guests, tables, strict=False):
        await seat(client, owner, guest["id"], table["id"])
    # Each party moves to the table the party after it leaves; the last to the free one.
    items = [{"id": guests[-1]["id"], "tableId": tables[40]["id"]}]
    items += [{"id": guests[n]["id"], "tableId": tables[n + 1]["id"]} for n in range(38, -1, -1)]
    response = await batch(client, owner, {"guests": items})
    assert response.status_code == 200, response.text
    state = await assert_invariant(client, owner)
    for n, guest in enumerate(guests):
        assert state["guests"][guest["id"]]["tableId"] == tables[n + 1]["id"]
    assert state["tables"][tables[0]["id"]]["currentGuestId"] is None
