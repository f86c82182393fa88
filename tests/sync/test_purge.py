"""The change log's purge (app.sync.log.purge): a few entries per short transaction, off the
event loop, each restaurant's log left complete from its ``change_log_start`` on; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.models import ChangeLog, Restaurant
from app.sync.log import purge
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest
from tests.sync.helpers import dashboard, snapshot

KEEP = timedelta(days=7)


async def _age_all_but_the_last(app: FastAPI, actor: Actor, recent: int) -> int:
    """Make every change of ``actor``'s restaurant but the last ``recent`` eight days old; the
    newest revision so aged."""
    async with app.state.db.engine.begin() as conn:
        revisions = (
            await conn.scalars(
                select(ChangeLog.revision)
                .where(ChangeLog.restaurant_id == actor.restaurant_id)
                .order_by(ChangeLog.revision)
            )
        ).all()
        newest_old = revisions[-recent - 1]
        await conn.execute(
            update(ChangeLog)
            .where(ChangeLog.restaurant_id == actor.restaurant_id, ChangeLog.revision <= newest_old)
            .values(created_at=datetime.now(UTC) - timedelta(days=8))
        )
    return newest_old


async def test_a_purge_in_small_chunks_leaves_each_log_complete(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    early = (await snapshot(client, owner))["cursor"]
    for actor, count in ((owner, 9), (rival, 5)):
        for n in range(count):
            await create_guest(client, actor, f"Guest {n}")
    await create_guest(client, owner, "Recent 1")
    recent = (await snapshot(client, owner))["cursor"]
    await create_guest(client, owner, "Recent 2")
    newest_old = {
        owner.restaurant_id: await _age_all_but_the_last(app, owner, recent=2),
        rival.restaurant_id: await _age_all_but_the_last(app, rival, recent=1),
    }
    async with app.state.db.engine.connect() as conn:
        old_entries = await conn.scalar(
            select(func.count()).where(ChangeLog.created_at < datetime.now(UTC) - KEEP)
        )

    # Chunks of 3 across two restaurants: several transactions, some with both restaurants.
    assert await purge(app.state.db.engine, KEEP, chunk=3) == old_entries
    assert await purge(app.state.db.engine, KEEP, chunk=3) == 0

    async with app.state.db.engine.connect() as conn:
        starts = dict(
            (await conn.execute(select(Restaurant.id, Restaurant.change_log_start))).all()
        )
        left = (
            await conn.execute(
                select(ChangeLog.restaurant_id, func.min(ChangeLog.revision), func.count())
                .group_by(ChangeLog.restaurant_id)
                .order_by(ChangeLog.restaurant_id)
            )
        ).all()
    for restaurant_id, newest in newest_old.items():
        assert starts[restaurant_id] == newest
    assert {row[0]: (row[1], row[2]) for row in left} == {
        owner.restaurant_id: (newest_old[owner.restaurant_id] + 1, 2),
        rival.restaurant_id: (newest_old[rival.restaurant_id] + 1, 1),
    }
    # A cursor from before the purged entries gets a full sync; one after them a delta.
    body = (await dashboard(client, owner, early)).json()
    assert body["fullSync"] is True
    body = (await dashboard(client, owner, recent)).json()
    assert body["fullSync"] is False
    assert [g["name"] for g in body["guests"]] == ["Recent 2"]
