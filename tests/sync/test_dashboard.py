"""GET /dashboard/data (docs/contract.md, Dashboard): the full sync, deltas, cursors that cannot be
served, minimal rows, ETag and 304."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from app.dashboard.schemas import Dashboard, DashboardData, MinimalDashboard
from app.models import ChangeLog
from app.sync.cursor import Cursors, Position, Window
from app.sync.log import purge
from tests.fixtures.auth import Actor
from tests.fixtures.floor import (
    GUEST_FIELDS,
    GUESTS,
    RESTAURANT,
    TABLE_FIELDS,
    create_guest,
    create_table,
    guest_url,
    seat,
    table_url,
)
from tests.reservations.factories import RESERVATION_FIELDS, create_reservation, iso
from tests.sync.helpers import (
    ENTITIES,
    MINIMAL_FIELDS,
    Follower,
    by_id,
    dashboard,
    midday_zone,
    snapshot,
)

EMPTY_DELETED = {"guests": [], "tables": [], "reservations": []}


async def _in_midday_zone(client: AsyncClient, owner: Actor) -> ZoneInfo:
    zone = midday_zone()
    response = await client.patch(RESTAURANT, headers=owner.headers, json={"timezone": zone})
    assert response.status_code == 200, response.text
    return ZoneInfo(zone)


async def test_a_full_sync_holds_every_table_the_active_guests_and_todays_reservations(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    zone = await _in_midday_zone(client, owner)
    now = datetime.now(UTC)
    tables = [await create_table(client, owner, str(n)) for n in (3, 1, 2)]
    waiting = await create_guest(client, owner, "Wait")
    seated = await create_guest(client, owner, "Sat")
    await seat(client, owner, seated["id"], tables[0]["id"])
    done = await create_guest(client, owner, "Done")
    await seat(client, owner, done["id"], tables[1]["id"])
    response = await client.post(f"{guest_url(done['id'])}/complete", headers=owner.headers)
    assert response.status_code == 200
    today = await create_reservation(client, owner, startsAt=iso(now + timedelta(hours=2)))
    tomorrow = await create_reservation(client, owner, startsAt=iso(now + timedelta(days=1)))
    cancelled = await create_reservation(client, owner, startsAt=iso(now + timedelta(hours=1)))
    response = await client.patch(
        f"/api/v1/reservations/{cancelled['id']}",
        headers=owner.headers,
        json={"status": "cancelled"},
    )
    assert response.status_code == 200, response.text
    await create_table(client, rival, "1")
    await create_guest(client, rival, "Not yours")

    body = await snapshot(client, owner)
    assert set(body) == {
        "rows",
        "cursor",
        "fullSync",
        "serverTime",
        "guests",
        "tables",
        "reservations",
        "deleted",
    }
    assert body["rows"] == "full"
    assert isinstance(DashboardData.model_validate(body).root, Dashboard)
    assert body["deleted"] == EMPTY_DELETED
    assert [t["tableNumber"] for t in body["tables"]] == ["1", "2", "3"]
    assert all(set(t) == TABLE_FIELDS for t in body["tables"])
    assert [g["id"] for g in body["guests"]] == [waiting["id"], seated["id"]]
    assert all(set(g) == GUEST_FIELDS for g in body["guests"])
    assert [r["id"] for r in body["reservations"]] == [cancelled["id"], today["id"]]
    assert all(set(r) == RESERVATION_FIELDS for r in body["reservations"])
    assert tomorrow["id"] not in [r["id"] for r in body["reservations"]]
    assert (
        datetime.now(UTC).astimezone(zone).date()
        == (now + timedelta(hours=2)).astimezone(zone).date()
    )
    served = datetime.fromisoformat(body["serverTime"].replace("Z", "+00:00"))
    assert abs(served - datetime.now(UTC)) < timedelta(minutes=1)

    # Each row as its own GET gives it.
    for entity, path in (("guests", GUESTS), ("tables", "/api/v1/tables")):
        for row in body[entity]:
            alone = await client.get(f"{path}/{row['id']}", headers=owner.headers)
            assert alone.json() == row


async def test_minimal_rows_have_exactly_the_minimal_fields(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    guest = await create_guest(client, owner)
    await create_reservation(client, owner)
    before = (await snapshot(client, owner, minimal=True))["cursor"]
    await seat(client, owner, guest["id"], table["id"])
    await create_reservation(client, owner)
    full = await snapshot(client, owner, minimal=True)
    delta = (await dashboard(client, owner, before, minimal=True)).json()
    for body in (full, delta):
        # The documented answer type that a generated client decodes it as.
        assert body["rows"] == "minimal"
        assert isinstance(DashboardData.model_validate(body).root, MinimalDashboard)
        for entity in ENTITIES:
            for row in body[entity]:
                assert set(row) == MINIMAL_FIELDS[entity], (entity, row)
    assert delta["guests"] == [
        {
            "id": guest["id"],
            "name": "Ana",
            "status": "seated",
            "tableId": table["id"],
            "partySize": 2,
            "version": 2,
        }
    ]


async def test_a_delta_holds_exactly_what_changed_after_the_cursor(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    other = await create_table(client, owner, "2")
    staying = await create_guest(client, owner, "Stays")
    leaving = await create_guest(client, owner, "Leaves")
    doomed = await create_guest(client, owner, "Deleted")
    cursor = (await snapshot(client, owner))["cursor"]

    unchanged = await dashboard(client, owner, cursor)
    assert unchanged.json()["fullSync"] is False
    assert all(unchanged.json()[e] == [] for e in ENTITIES)
    assert unchanged.json()["deleted"] == EMPTY_DELETED
    assert unchanged.json()["cursor"] == cursor

    await seat(client, owner, leaving["id"], table["id"])
    response = await client.post(f"{guest_url(leaving['id'])}/complete", headers=owner.headers)
    assert response.status_code == 200
    response = await client.delete(guest_url(doomed["id"]), headers=owner.headers)
    assert response.status_code == 204
    response = await client.delete(table_url(other["id"]), headers=owner.headers)
    assert response.status_code == 204
    newcomer = await create_guest(client, owner, "New")

    body = (await dashboard(client, owner, cursor)).json()
    assert body["fullSync"] is False
    assert body["cursor"] != cursor
    # A guest that became final comes in its array, so the app can drop it.
    assert {g["id"]: g["status"] for g in body["guests"]} == {
        leaving["id"]: "completed",
        newcomer["id"]: "waiting",
    }
    assert staying["id"] not in {g["id"] for g in body["guests"]}
    # The table the completed guest left, as it is now.
    assert [(t["id"], t["status"]) for t in body["tables"]] == [(table["id"], "dirty")]
    assert body["deleted"] == {
        "guests": [doomed["id"]],
        "tables": [other["id"]],
        "reservations": [],
    }
    # Each row as it is now, in full.
    for row in body["guests"]:
        assert row == (await client.get(guest_url(row["id"]), headers=owner.headers)).json()

    # From the new cursor: nothing.
    again = (await dashboard(client, owner, body["cursor"])).json()
    assert again["fullSync"] is False and all(again[e] == [] for e in ENTITIES)


async def test_a_row_created_and_deleted_after_the_cursor_is_only_deleted(
    client: AsyncClient, owner: Actor
) -> None:
    cursor = (await snapshot(client, owner))["cursor"]
    guest = await create_guest(client, owner)
    await client.delete(guest_url(guest["id"]), headers=owner.headers)
    body = (await dashboard(client, owner, cursor)).json()
    assert body["guests"] == []
    assert body["deleted"]["guests"] == [guest["id"]]


@pytest.mark.parametrize(
    "since",
    [
        "",
        "x",
        "not-a-cursor",
        "A" * 32,
        "A" * 64,
        "A" * 300,
        "%%%",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
async def test_a_malformed_since_gives_a_full_sync(
    client: AsyncClient, owner: Actor, since: str
) -> None:
    await create_guest(client, owner)
    response = await dashboard(client, owner, since)
    assert response.status_code == 200, response.text
    assert response.json()["fullSync"] is True
    assert len(response.json()["guests"]) == 1


async def test_a_cursor_of_another_restaurant_gives_a_full_sync(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    await create_guest(client, owner)
    theirs = (await snapshot(client, rival))["cursor"]
    body = (await dashboard(client, owner, theirs)).json()
    assert body["fullSync"] is True and len(body["guests"]) == 1
    mine = body["cursor"]
    body = (await dashboard(client, rival, mine)).json()
    assert body["fullSync"] is True and body["guests"] == []


async def test_a_cursor_of_another_database_gives_a_full_sync(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    cursor = (await snapshot(client, owner))["cursor"]
    ours = await app.state.cursors.get()
    position = ours.read(owner.restaurant_id, cursor)
    assert position is not None
    # The same restaurant id and revision, in a database of another epoch.
    replaced = Cursors(app.state.settings.jwt_secret, "another-epoch").issue(
        owner.restaurant_id, position
    )
    assert replaced != cursor
    assert (await dashboard(client, owner, replaced)).json()["fullSync"] is True
    assert (await dashboard(client, owner, cursor)).json()["fullSync"] is False


async def test_a_cursor_of_an_earlier_local_date_or_from_the_future_gives_a_full_sync(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    cursor = (await snapshot(client, owner))["cursor"]
    cursors = await app.state.cursors.get()
    position = cursors.read(owner.restaurant_id, cursor)
    assert position is not None
    day = position.window.end - position.window.start
    earlier = Window(position.window.start - day, position.window.start)
    yesterday = cursors.issue(owner.restaurant_id, Position(position.revision, earlier))
    ahead = cursors.issue(owner.restaurant_id, position.at(position.revision + 5))
    for since in (yesterday, ahead):
        assert (await dashboard(client, owner, since)).json()["fullSync"] is True


async def test_a_cursor_older_than_the_retention_gives_a_full_sync(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    old = (await snapshot(client, owner))["cursor"]
    await create_guest(client, owner, "Old change")
    recent = (await snapshot(client, owner))["cursor"]
    await create_guest(client, owner, "Recent change")
    engine = app.state.db.engine
    # The first change is eight days old, the second is not.
    async with engine.begin() as conn:
        first = await conn.scalar(
            ChangeLog.__table__.select()
            .with_only_columns(ChangeLog.revision)
            .where(ChangeLog.restaurant_id == owner.restaurant_id)
            .order_by(ChangeLog.revision.desc())
            .offset(1)
            .limit(1)
        )
        await conn.execute(
            update(ChangeLog)
            .where(ChangeLog.restaurant_id == owner.restaurant_id, ChangeLog.revision <= first)
            .values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
    assert await purge(engine, timedelta(days=7)) >= 1
    body = (await dashboard(client, owner, old)).json()
    assert body["fullSync"] is True and len(body["guests"]) == 2
    body = (await dashboard(client, owner, recent)).json()
    assert body["fullSync"] is False
    assert [g["name"] for g in body["guests"]] == ["Recent change"]


async def test_etag_gives_304_until_another_device_changes_something(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    for since in (None, (await snapshot(client, owner))["cursor"]):
        first = await dashboard(client, owner, since, minimal=True)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"')
        again = await dashboard(client, owner, since, minimal=True, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == etag
        # The ETag depends on the query: another `minimal` is another answer.
        other = await dashboard(client, owner, since, headers={"If-None-Match": etag})
        assert other.status_code == 200
        # Another device changes a table: the same request is a 200 with it.
        response = await client.patch(
            table_url(table["id"]),
            headers=owner.headers,
            json={"status": "dirty" if since is None else "available"},
        )
        assert response.status_code == 200, response.text
        changed = await dashboard(
            client, owner, since, minimal=True, headers={"If-None-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag
        assert [t["id"] for t in changed.json()["tables"]] == [table["id"]]


@pytest.mark.parametrize("minimal", ["1", "yes", "on", "TRUE", ""])
async def test_minimal_is_a_strict_boolean(client: AsyncClient, owner: Actor, minimal: str) -> None:
    response = await client.get(
        "/api/v1/dashboard/data", params={"minimal": minimal}, headers=owner.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_the_dashboard_needs_a_token(client: AsyncClient) -> None:
    response = await client.get("/api/v1/dashboard/data")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_cached_snapshot_is_not_served_after_a_write_of_another_process(
    app: FastAPI, client: AsyncClient, owner: Actor, settings: Any
) -> None:
    """The snapshot cache is per process; a write committed by another process (another app
    on the same database) is seen at once, because the revision is read first."""
    from httpx import ASGITransport

    from app.main import create_app

    await create_guest(client, owner, "First")
    assert len((await snapshot(client, owner))["guests"]) == 1
    other = create_app(settings)
    async with other.router.lifespan_context(other):
        transport = ASGITransport(app=other, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as second:
            await create_guest(second, owner, "Second")
    assert [g["name"] for g in (await snapshot(client, owner))["guests"]] == ["First", "Second"]


async def test_following_cursors_rebuilds_the_floor(client: AsyncClient, owner: Actor) -> None:
    follower = Follower()
    await follower.follow(client, owner)
    table = await create_table(client, owner, "1")
    guest = await create_guest(client, owner)
    await follower.follow(client, owner)
    await seat(client, owner, guest["id"], table["id"])
    await create_guest(client, owner, "Bo")
    await follower.follow(client, owner)
    assert follower.full_syncs == 1 and follower.deltas == 2
    assert follower.as_snapshot("UTC") == by_id(await snapshot(client, owner))


async def test_its_parameters_are_read_as_fastapi_reads_them(
    client: AsyncClient, owner: Actor
) -> None:
    """The dashboard's route reads its parameters itself (DashboardRoute); the same rules."""
    await create_guest(client, owner)
    token = owner.headers["Authorization"].split(" ", 1)[1]
    for authorization in (f"bearer {token}", f"BEARER {token}", f"Bearer {token} "):
        response = await client.get(
            "/api/v1/dashboard/data", headers={"Authorization": authorization}
        )
        assert response.status_code == 200, authorization
    for authorization in (token, f"Basic {token}", "Bearer", "Bearer ", ""):
        response = await client.get(
            "/api/v1/dashboard/data", headers={"Authorization": authorization}
        )
        assert response.status_code == 401, authorization
        assert response.json()["error"]["code"] == "unauthorized"
    # The last of a repeated parameter counts.
    response = await client.get(
        "/api/v1/dashboard/data?minimal=false&minimal=true", headers=owner.headers
    )
    assert set(response.json()["guests"][0]) == MINIMAL_FIELDS["guests"]
    response = await client.get(
        "/api/v1/dashboard/data?minimal=true&minimal=yes", headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["loc"] == ["query", "minimal"]
    cursor = (await snapshot(client, owner))["cursor"]
    response = await client.get(
        f"/api/v1/dashboard/data?since=junk&since={cursor}", headers=owner.headers
    )
    assert response.json()["fullSync"] is False
    for bad in ("%00", "%ED%A0%80"):
        response = await client.get(f"/api/v1/dashboard/data?since={bad}", headers=owner.headers)
        assert response.status_code == 422, bad


async def test_a_patch_that_changes_nothing_keeps_the_etag(
    client: AsyncClient, owner: Actor
) -> None:
    """docs/contract.md: a PATCH that changes nothing changes no version and sends no event; nor
    does
    it move the restaurant's cursor, so the dashboard still answers 304."""
    guest = await create_guest(client, owner, "Same")
    first = await dashboard(client, owner, minimal=True)
    same = await client.patch(
        f"{GUESTS}/{guest['id']}", headers=owner.headers, json={"name": "Same", "partySize": 2}
    )
    assert same.status_code == 200 and same.json()["version"] == guest["version"]
    again = await dashboard(
        client, owner, minimal=True, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
