"""A client of the dashboard, as the iOS app is: it keeps the floor it was sent and follows
the cursors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient, Response

from app.restaurants.schemas import _timezones
from tests.fixtures.auth import Actor

DASHBOARD = "/api/v1/dashboard/data"
ENTITIES = ("guests", "tables", "reservations")
ACTIVE = ("waiting", "notified", "seated")
MINIMAL_FIELDS = {
    "guests": {"id", "name", "status", "tableId", "partySize", "version"},
    "tables": {"id", "tableNumber", "status", "currentGuestId", "version"},
    "reservations": {"id", "guestName", "partySize", "startsAt", "tableId", "status", "version"},
}


async def dashboard(
    client: AsyncClient,
    actor: Actor,
    since: str | None = None,
    *,
    minimal: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    params: dict[str, str] = {"minimal": "true" if minimal else "false"}
    if since is not None:
        params["since"] = since
    return await client.get(DASHBOARD, params=params, headers={**actor.headers, **(headers or {})})


async def snapshot(client: AsyncClient, actor: Actor, *, minimal: bool = False) -> dict[str, Any]:
    response = await dashboard(client, actor, minimal=minimal)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["fullSync"] is True
    return body


def midday_zone() -> str:
    """A canonical zone where it is now between 09:00 and 15:00: today's local date then
    has hours left both ways, whenever the test runs."""
    now = datetime.now(UTC)
    for zone in sorted(_timezones()):
        if 9 <= now.astimezone(ZoneInfo(zone)).hour < 15:
            return zone
    raise AssertionError("no zone at midday")  # pragma: no cover: some zone always is


@dataclass
class Follower:
    """Rebuilds the floor from dashboard answers alone."""

    minimal: bool = False
    cursor: str | None = None
    rows: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {e: {} for e in ENTITIES}
    )
    full_syncs: int = 0
    deltas: int = 0

    def apply(self, body: dict[str, Any]) -> None:
        if body["fullSync"]:
            self.full_syncs += 1
            self.rows = {e: {} for e in ENTITIES}
        else:
            self.deltas += 1
        for entity in ENTITIES:
            for row in body[entity]:
                assert row["id"] not in body["deleted"][entity], (entity, row["id"])
                self.rows[entity][row["id"]] = row
            for row_id in body["deleted"][entity]:
                self.rows[entity].pop(row_id, None)
        self.cursor = body["cursor"]

    async def follow(self, client: AsyncClient, actor: Actor) -> None:
        response = await dashboard(client, actor, self.cursor, minimal=self.minimal)
        assert response.status_code == 200, response.text
        self.apply(response.json())

    def as_snapshot(self, zone: str) -> dict[str, list[dict[str, Any]]]:
        """What a full sync would hold, from what the follower has: the active guests, every
        table, and the reservations starting on today's date in ``zone``."""
        return floor_of(self.rows, zone, datetime.now(UTC))


def floor_of(
    rows: dict[str, dict[int, dict[str, Any]]], zone: str, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """What an app holding ``rows`` shows at ``now`` (what a full sync then holds): the active
    guests, every table, and the reservations starting on the local date of ``zone``."""
    today = now.astimezone(ZoneInfo(zone)).date()

    def todays(row: dict[str, Any]) -> bool:
        starts = datetime.fromisoformat(row["startsAt"].replace("Z", "+00:00"))
        return starts.astimezone(ZoneInfo(zone)).date() == today

    return {
        "guests": sorted(
            (g for g in rows["guests"].values() if g["status"] in ACTIVE), key=lambda g: g["id"]
        ),
        "tables": sorted(rows["tables"].values(), key=lambda t: t["id"]),
        "reservations": sorted(
            (r for r in rows["reservations"].values() if todays(r)), key=lambda r: r["id"]
        ),
    }


def by_id(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {e: sorted(body[e], key=lambda row: row["id"]) for e in ENTITIES}
