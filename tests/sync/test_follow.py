"""Following the dashboard's cursors never misses a change: a client that keeps only what the
dashboard sent it, through a long random series of creates, updates, deletes and batches, some
committed concurrently by several devices, ends with exactly the server's full snapshot."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.floor import GUESTS, RESTAURANT, TABLES, assert_invariant
from tests.reservations.factories import RESERVATIONS, iso
from tests.sync.helpers import Follower, by_id, midday_zone, snapshot

BATCH = "/api/v1/batch/update"


class Device:
    """One iPad making random changes; it knows ids only from what it created or read."""

    def __init__(self, client: AsyncClient, actor: Actor, rng: random.Random) -> None:
        self.client, self.actor, self.rng = client, actor, rng
        self.codes: list[int] = []

    async def _ids(self, path: str, **params: Any) -> list[int]:
        response = await self.client.get(
            path, params={"limit": 200, **params}, headers=self.actor.headers
        )
        return [row["id"] for row in response.json().get("items", [])]

    async def _send(self, method: str, path: str, body: Any = None) -> None:
        response = await self.client.request(method, path, json=body, headers=self.actor.headers)
        self.codes.append(response.status_code)

    async def step(self) -> None:
        rng = self.rng
        tables = await self._ids(TABLES)
        guests = await self._ids(GUESTS)
        reservations = await self._ids(RESERVATIONS, date=datetime.now(UTC).date().isoformat())
        choice = rng.random()
        now = datetime.now(UTC)
        if choice < 0.15 or not guests:
            await self._send("POST", GUESTS, {"name": f"G{rng.randrange(999)}", "partySize": 2})
        elif choice < 0.20 or not tables:
            await self._send(
                "POST", TABLES, {"tableNumber": f"T{rng.randrange(10**6)}", "capacity": 4}
            )
        elif choice < 0.35:
            await self._send(
                "POST", f"{GUESTS}/{rng.choice(guests)}/seat", {"tableId": rng.choice(tables)}
            )
        elif choice < 0.45:
            await self._send(
                "PATCH", f"{GUESTS}/{rng.choice(guests)}", {"tableId": rng.choice(tables)}
            )
        elif choice < 0.52:
            await self._send("POST", f"{GUESTS}/{rng.choice(guests)}/complete")
        elif choice < 0.58:
            await self._send(
                "PATCH",
                f"{GUESTS}/{rng.choice(guests)}",
                {"status": rng.choice(["waiting", "notified", "left"])},
            )
        elif choice < 0.62:
            await self._send("DELETE", f"{GUESTS}/{rng.choice(guests)}")
        elif choice < 0.67:
            await self._send(
                "PATCH",
                f"{TABLES}/{rng.choice(tables)}",
                {"status": rng.choice(["available", "dirty", "reserved"])},
            )
        elif choice < 0.69:
            await self._send("DELETE", f"{TABLES}/{rng.choice(tables)}")
        elif choice < 0.77:
            starts = now + timedelta(hours=rng.choice([1, 2, 26, 50]), minutes=rng.randrange(60))
            await self._send(
                "POST", RESERVATIONS, {"guestName": "R", "partySize": 2, "startsAt": iso(starts)}
            )
        elif choice < 0.82 and reservations:
            await self._send(
                "PATCH",
                f"{RESERVATIONS}/{rng.choice(reservations)}",
                {"partySize": rng.randrange(1, 6)},
            )
        elif choice < 0.85 and reservations:
            await self._send("DELETE", f"{RESERVATIONS}/{rng.choice(reservations)}")
        else:
            items: list[dict[str, Any]] = []
            for _ in range(rng.randrange(1, 8)):
                kind = rng.random()
                if kind < 0.4:
                    items.append({"id": rng.choice(guests), "tableId": rng.choice(tables)})
                elif kind < 0.6:
                    items.append({"id": rng.choice(guests), "status": "completed"})
                elif kind < 0.8:
                    items.append({"op": "create", "clientId": "c", "name": "B", "partySize": 3})
                else:
                    items.append({"op": "delete", "id": rng.choice(guests)})
            await self._send("POST", BATCH, {"guests": items})


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_client_following_cursors_rebuilds_the_restaurant(
    client: AsyncClient, owner: Actor, seed: int
) -> None:
    zone = midday_zone()
    response = await client.patch(RESTAURANT, headers=owner.headers, json={"timezone": zone})
    assert response.status_code == 200
    rng = random.Random(seed)
    followers = [Follower(minimal=True), Follower(minimal=False)]
    for follower in followers:
        await follower.follow(client, owner)
    devices = [Device(client, owner, random.Random(seed * 100 + n)) for n in range(4)]

    async def run(device: Device) -> None:
        for _ in range(30):
            await device.step()
            await asyncio.sleep(0.001)  # a host between two taps

    writing = asyncio.gather(*(run(d) for d in devices))
    while not writing.done():
        await rng.choice(followers).follow(client, owner)
        await asyncio.sleep(rng.choice([0.001, 0.003, 0.005]))
    await writing
    codes = [code for device in devices for code in device.codes]
    assert all(code < 500 for code in codes), codes
    assert sum(200 <= code < 300 for code in codes) >= 40, codes

    for follower in followers:
        await follower.follow(client, owner)
        assert follower.deltas > 5 and follower.full_syncs == 1
        expected = by_id(await snapshot(client, owner, minimal=follower.minimal))
        assert follower.as_snapshot(zone) == expected
        # Every row it holds, of any status or date, is the row as it is now.
        for entity, path in (
            ("guests", GUESTS),
            ("tables", TABLES),
            ("reservations", RESERVATIONS),
        ):
            for row_id, row in follower.rows[entity].items():
                response = await client.get(f"{path}/{row_id}", headers=owner.headers)
                assert response.status_code == 200, (entity, row_id)
                assert {k: response.json()[k] for k in row} == row
    await assert_invariant(client, owner)
