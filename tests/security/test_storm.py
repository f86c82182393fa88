"""The storm: 50 concurrent clients seat, move, complete, create and batch on one restaurant
while WebSocket listeners follow it: no 5xx, no "database is locked", the guest <-> table
invariant holds, and every listener's floor, rebuilt from its messages alone (after the hello,
from the dashboard at that cursor), equals the final snapshot."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.floor import GUESTS, assert_invariant, create_guest, create_table
from tests.fixtures.realtime import Feed, feed, serve
from tests.sync.helpers import ENTITIES, Follower, by_id, dashboard, snapshot

BATCH = "/api/v1/batch/update"
CLIENTS = 50
OPERATIONS = 8  # each client's


async def _storm_client(
    client: AsyncClient, owner: Actor, rng: random.Random, tables: list[int], codes: list[int]
) -> None:
    for _ in range(OPERATIONS):
        guests = [
            g["id"]
            for g in (
                await client.get(GUESTS, params={"limit": 200}, headers=owner.headers)
            ).json()["items"]
        ]
        choice = rng.random()
        if choice < 0.25 or not guests:
            response = await client.post(
                GUESTS, headers=owner.headers, json={"name": "Storm", "partySize": 2}
            )
        elif choice < 0.5:
            response = await client.post(
                f"{GUESTS}/{rng.choice(guests)}/seat",
                headers=owner.headers,
                json={"tableId": rng.choice(tables), "allowOverCapacity": True},
            )
        elif choice < 0.65:
            response = await client.patch(
                f"{GUESTS}/{rng.choice(guests)}",
                headers=owner.headers,
                json={"tableId": rng.choice(tables), "allowOverCapacity": True},
            )
        elif choice < 0.8:
            response = await client.post(
                f"{GUESTS}/{rng.choice(guests)}/complete", headers=owner.headers
            )
        else:
            items: list[dict[str, Any]] = [
                {
                    "id": rng.choice(guests),
                    "tableId": rng.choice(tables),
                    "allowOverCapacity": True,
                },
                {"id": rng.choice(guests), "status": "completed"},
                {"op": "create", "name": "Batch", "partySize": 3},
            ]
            response = await client.post(BATCH, headers=owner.headers, json={"guests": items})
        codes.append(response.status_code)
        if response.status_code >= 500:
            raise AssertionError(response.text)
        await asyncio.sleep(0)


async def _listen(socket: Feed, follower: Follower, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            message = await socket.next(0.3)
        except TimeoutError:
            continue
        assert message["type"] == "changes", message
        assert message["previousCursor"] == follower.cursor
        follower.apply({**message, "fullSync": False})


async def test_the_storm(app: FastAPI, client: AsyncClient, owner: Actor) -> None:
    tables = [(await create_table(client, owner, str(n)))["id"] for n in range(1, 16)]
    for n in range(10):
        await create_guest(client, owner, f"G{n}")
    codes: list[int] = []
    async with (
        serve(app) as base,
        feed(base, owner.access_token) as first,
        feed(base, owner.access_token) as second,
    ):
        followers = []
        for socket in (first, second):
            follower = Follower(minimal=True)
            # The floor at the hello's cursor: what the socket's changes start from.
            body = (await dashboard(client, owner, minimal=True)).json()
            assert body["cursor"] == socket.hello["cursor"]  # type: ignore[attr-defined]
            follower.apply(body)
            followers.append(follower)
        stop = asyncio.Event()
        listening = [
            asyncio.create_task(_listen(s, f, stop))
            for s, f in zip((first, second), followers, strict=True)
        ]
        rng = random.Random(20261128)
        await asyncio.gather(
            *(
                _storm_client(client, owner, random.Random(rng.random()), tables, codes)
                for _ in range(CLIENTS)
            )
        )
        final = await snapshot(client, owner, minimal=True)
        while any(f.cursor != final["cursor"] for f in followers):
            await asyncio.sleep(0.05)
            for task in listening:
                if task.done():
                    task.result()
        stop.set()
        await asyncio.gather(*listening)
    assert len(codes) == CLIENTS * OPERATIONS
    assert all(code < 500 for code in codes), codes
    assert sum(code in (200, 201) for code in codes) > CLIENTS, codes
    await assert_invariant(client, owner)
    expected = by_id(final)
    for follower in followers:
        rebuilt = follower.as_snapshot("UTC")
        for entity in ENTITIES:
            assert rebuilt[entity] == expected[entity], entity
