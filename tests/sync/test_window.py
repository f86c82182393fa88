"""A cursor names the window it covers (the restaurant's local day in its time zone): an iPad
that follows the dashboard and the socket across the restaurant's midnight, or across a time
zone change, ends with what a fresh snapshot holds. The socket sends `resync` when the window
moves; a change that moves no window (settings, staff, a zone of the same day) is an empty
`changes` message, in the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.sync.cursor import Window
from tests.fixtures.auth import Actor, add_staff, register
from tests.fixtures.clock import MovedClock, clocked_app, next_midnight
from tests.fixtures.floor import create_guest
from tests.fixtures.realtime import Feed, feed, serve
from tests.sync.helpers import ENTITIES, dashboard, floor_of

BATCH = "/api/v1/batch/update"
RESTAURANT = "/api/v1/restaurant"


def token_of(actor: Actor) -> str:
    return actor.headers["Authorization"].split(" ", 1)[1]


@dataclass
class IPad:
    """The app as docs/contract.md describes it: a full sync replaces what it holds, a delta or a
    `changes` message whose `previousCursor` is its cursor is merged, anything else is a gap."""

    client: AsyncClient
    actor: Actor
    cursor: str | None = None
    rows: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {e: {} for e in ENTITIES}
    )
    full_syncs: int = 0

    async def sync(self) -> dict[str, Any]:
        response = await dashboard(self.client, self.actor, self.cursor, minimal=True)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["fullSync"]:
            self.full_syncs += 1
            self.rows = {e: {} for e in ENTITIES}
        self.merge(body)
        return body

    def take(self, message: dict[str, Any]) -> None:
        assert message["type"] == "changes", message
        assert message["previousCursor"] == self.cursor, "a gap in the chain"
        self.merge(message)

    def merge(self, body: dict[str, Any]) -> None:
        for entity in ENTITIES:
            for row in body[entity]:
                self.rows[entity][row["id"]] = row
            for row_id in body["deleted"][entity]:
                self.rows[entity].pop(row_id, None)
        self.cursor = body["cursor"]

    def floor(self, zone: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """What it shows: active guests, every table, the reservations of the local day."""
        return floor_of(self.rows, zone, now)


async def fresh_snapshot(client: AsyncClient, actor: Actor) -> dict[str, list[dict[str, Any]]]:
    response = await dashboard(client, actor, minimal=True)
    assert response.status_code == 200
    body = response.json()
    return {e: sorted(body[e], key=lambda row: row["id"]) for e in ENTITIES}


async def book(client: AsyncClient, actor: Actor, instants: list[datetime]) -> None:
    response = await client.post(
        BATCH,
        headers=actor.headers,
        json={
            "reservations": [
                {"op": "create", "guestName": f"R{n}", "partySize": 2, "startsAt": at.isoformat()}
                for n, at in enumerate(instants)
            ]
        },
    )
    assert response.status_code == 200, response.text


async def window_of_cursor(client: AsyncClient, actor: Actor, cursor: str) -> Window:
    cursors = await client.app.state.cursors.get()  # type: ignore[attr-defined]
    position = cursors.read(actor.restaurant_id, cursor)
    assert position is not None
    return position.window


async def resync_then_resume(ipad: IPad, socket: Feed) -> None:
    """After `resync`: nothing more until the app, having asked the dashboard, resumes."""
    await socket.nothing(0.3)
    await ipad.sync()
    await socket.send({"type": "resume", "cursor": ipad.cursor})
    resumed = await socket.next()
    ipad.take(resumed)


async def test_a_socket_open_across_the_restaurants_midnight(settings: Settings) -> None:
    zone = "Asia/Kolkata"  # +05:30: the day does not turn on a UTC hour
    clock = MovedClock()
    midnight = next_midnight(zone, datetime.now(UTC) + timedelta(days=1))
    clock.set(midnight - timedelta(seconds=60))
    async with clocked_app(settings, clock) as client:
        app = client.app  # type: ignore[attr-defined]
        owner = await register(client, name="Midnight", timezone=zone)
        # Tonight's late booking, and tomorrow's lunch, booked before the iPad's full sync.
        await book(client, owner, [midnight - timedelta(minutes=30), midnight + timedelta(hours=7)])
        ipad = IPad(client, owner)
        await ipad.sync()
        assert [r["guestName"] for r in ipad.rows["reservations"].values()] == ["R0"]
        before = await window_of_cursor(client, owner, ipad.cursor or "")

        clock.set(midnight - timedelta(seconds=1.5))
        async with serve(app) as base, feed(base, token_of(owner)) as socket:
            assert socket.hello["cursor"] == ipad.cursor  # type: ignore[attr-defined]
            await create_guest(client, owner, "Just before midnight")
            ipad.take(await socket.next())
            assert await window_of_cursor(client, owner, ipad.cursor or "") == before
            # No row changes at midnight; the window does.
            assert await socket.next(within=5) == {"type": "resync"}
            assert clock() >= midnight
            await resync_then_resume(ipad, socket)
            assert ipad.full_syncs == 2
            assert await window_of_cursor(client, owner, ipad.cursor or "") != before
            await create_guest(client, owner, "Just after midnight")
            ipad.take(await socket.next())
            await socket.nothing()

        assert ipad.floor(zone, clock()) == await fresh_snapshot(client, owner)
        assert [r["guestName"] for r in ipad.floor(zone, clock())["reservations"]] == ["R1"]


async def test_a_delta_from_before_midnight_is_a_full_sync(settings: Settings) -> None:
    zone = "America/St_Johns"  # -03:30
    clock = MovedClock()
    midnight = next_midnight(zone, datetime.now(UTC) + timedelta(days=1))
    clock.set(midnight - timedelta(minutes=5))
    async with clocked_app(settings, clock) as client:
        owner = await register(client, name="Delta at midnight", timezone=zone)
        await book(client, owner, [midnight + timedelta(hours=h) for h in (9, 12, 20)])
        ipad = IPad(client, owner)
        assert (await ipad.sync())["reservations"] == []
        clock.set(midnight + timedelta(minutes=5))
        body = await ipad.sync()
        assert body["fullSync"] is True
        assert ipad.floor(zone, clock()) == await fresh_snapshot(client, owner)
        assert len(ipad.floor(zone, clock())["reservations"]) == 3


# At 06:00 UTC: Kiritimati (+14) is at 20:00 and Tokyo (+9) at 15:00 of the same date as UTC,
# Los Angeles (-8) at 22:00 of the date before.
ZONE_CHANGES = [
    pytest.param("Pacific/Kiritimati", "UTC", id="date-kept-west"),
    pytest.param("UTC", "Asia/Tokyo", id="date-kept-east"),
    pytest.param("UTC", "America/Los_Angeles", id="date-moved-back"),
    pytest.param("America/Los_Angeles", "UTC", id="date-moved-forward"),
]


def six_utc(after: datetime) -> datetime:
    at = datetime.combine(after.date() + timedelta(days=1), time(6), UTC)
    return at if at - after > timedelta(hours=1) else at + timedelta(days=1)


@pytest.mark.parametrize(("old", "new"), ZONE_CHANGES)
async def test_a_socket_open_across_a_time_zone_change(
    settings: Settings, old: str, new: str
) -> None:
    clock = MovedClock()
    clock.set(six_utc(datetime.now(UTC)))
    async with clocked_app(settings, clock) as client:
        app = client.app  # type: ignore[attr-defined]
        owner = await register(client, name="Zones", timezone=old)
        # Bookings every two hours for two days: each zone's day holds another set.
        await book(client, owner, [clock() + timedelta(hours=1 + 2 * n) for n in range(24)])
        ipad = IPad(client, owner)
        await ipad.sync()
        old_day = [r["id"] for r in ipad.floor(old, clock())["reservations"]]
        async with serve(app) as base, feed(base, token_of(owner)) as socket:
            assert socket.hello["cursor"] == ipad.cursor  # type: ignore[attr-defined]
            changed = await client.patch(RESTAURANT, headers=owner.headers, json={"timezone": new})
            assert changed.status_code == 200, changed.text
            assert await socket.next() == {"type": "resync"}
            await resync_then_resume(ipad, socket)
            assert ipad.full_syncs == 2
            await create_guest(client, owner, "After the change")
            ipad.take(await socket.next())
        assert ipad.floor(new, clock()) == await fresh_snapshot(client, owner)
        assert [r["id"] for r in ipad.floor(new, clock())["reservations"]] != old_day


async def test_a_delta_across_a_zone_change_that_keeps_the_date_is_a_full_sync(
    settings: Settings,
) -> None:
    clock = MovedClock()
    clock.set(six_utc(datetime.now(UTC)))
    async with clocked_app(settings, clock) as client:
        owner = await register(client, name="Kiritimati", timezone="Pacific/Kiritimati")
        await book(client, owner, [clock() + timedelta(hours=1 + 2 * n) for n in range(24)])
        ipad = IPad(client, owner)
        await ipad.sync()
        changed = await client.patch(RESTAURANT, headers=owner.headers, json={"timezone": "UTC"})
        assert changed.status_code == 200
        body = await ipad.sync()
        assert body["fullSync"] is True
        assert ipad.floor("UTC", clock()) == await fresh_snapshot(client, owner)


async def test_a_zone_of_the_same_day_and_a_settings_or_staff_change_stay_in_the_chain(
    settings: Settings,
) -> None:
    clock = MovedClock()
    clock.set(six_utc(datetime.now(UTC)))
    async with clocked_app(settings, clock) as client:
        app = client.app  # type: ignore[attr-defined]
        owner = await register(client, name="Paris", timezone="Europe/Paris")
        await book(client, owner, [clock() + timedelta(hours=1 + 2 * n) for n in range(24)])
        ipad = IPad(client, owner)
        await ipad.sync()
        async with serve(app) as base, feed(base, token_of(owner)) as socket:
            # Berlin's day is Paris's: no window moves, so the chain goes on, empty.
            for body in ({"timezone": "Europe/Berlin"}, {"name": "Paris bis"}):
                changed = await client.patch(RESTAURANT, headers=owner.headers, json=body)
                assert changed.status_code == 200, changed.text
                message = await socket.next()
                assert message["guests"] == message["tables"] == message["reservations"] == []
                ipad.take(message)
            await add_staff(client, owner, "host")
            ipad.take(await socket.next())
            # The app's cursor is the batch's previousCursor: it may adopt the batch's.
            response = await client.post(
                BATCH,
                headers=owner.headers,
                json={"guests": [{"op": "create", "name": "B", "partySize": 2}]},
            )
            assert response.status_code == 200, response.text
            assert response.json()["previousCursor"] == ipad.cursor
            ipad.take(await socket.next())
            assert ipad.cursor == response.json()["cursor"]
            await socket.nothing()
        body = await ipad.sync()
        assert body["fullSync"] is False
        assert ipad.floor("Europe/Berlin", clock()) == await fresh_snapshot(client, owner)
        assert ipad.full_syncs == 1
