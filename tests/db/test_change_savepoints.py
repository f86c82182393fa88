"""The change log entry of a transaction holds exactly its committed changes, savepoints
included: rolling one back takes back only what was flushed inside it. The feed is told of the
revision after the commit, and of nothing for a rolled-back transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import select

from app.db.session import UnitOfWork
from app.db.tenancy import _make_scope, bind_scope
from app.models import ChangeLog, Guest
from tests.fixtures.auth import Actor


class Collector:
    """Stands for the real-time hub: told (restaurant, revision) after each commit."""

    def __init__(self) -> None:
        self.published: list[tuple[int, int]] = []

    def __call__(self, restaurant_id: int, revision: int) -> None:
        self.published.append((restaurant_id, revision))

    async def entries(self, app: FastAPI) -> list[dict[str, str]]:
        """Each published revision's change log entry: guest name -> status."""
        found = []
        async with app.state.db.engine.connect() as conn:
            for restaurant_id, revision in self.published:
                changes = await conn.scalar(
                    select(ChangeLog.changes).where(
                        ChangeLog.restaurant_id == restaurant_id, ChangeLog.revision == revision
                    )
                )
                found.append({g["name"]: g["status"] for g in json.loads(changes)["guests"]})
        return found


def _unit_of_work(app: FastAPI, owner: Actor, collector: Collector) -> UnitOfWork:
    uow = UnitOfWork(app.state.db, write=True, publish=collector)
    bind_scope(uow.session.sync_session, _make_scope(owner.restaurant_id, owner.user_id, "owner"))
    return uow


def _guest(owner: Actor, name: str) -> Guest:
    return Guest(
        restaurant_id=owner.restaurant_id,
        name=name,
        party_size=2,
        status="waiting",
        arrived_at=datetime.now(UTC),
    )


async def test_a_rolled_back_savepoint_keeps_the_other_rows_events(
    app: FastAPI, owner: Actor
) -> None:
    collector = Collector()
    uow = _unit_of_work(app, owner, collector)
    try:
        before = _guest(owner, "Before")
        uow.session.add(before)
        await uow.session.flush()

        savepoint = await uow.session.begin_nested()
        uow.session.add(_guest(owner, "Inside"))
        before.status = "notified"
        await uow.session.flush()
        await savepoint.rollback()

        uow.session.add(_guest(owner, "After"))
        await uow.session.flush()
        await uow.commit()
    finally:
        await uow.close()

    assert len(collector.published) == 1
    # "Before" as it was committed (waiting: its change inside the savepoint was undone).
    assert await collector.entries(app) == [{"Before": "waiting", "After": "waiting"}]
    async with app.state.db.engine.connect() as conn:
        stored = (
            await conn.execute(select(Guest.__table__.c.name, Guest.__table__.c.status))
        ).all()
    assert sorted(stored) == [("After", "waiting"), ("Before", "waiting")]


async def _released_savepoint_then_commit_or_rollback(
    app: FastAPI, owner: Actor, *, commit: bool
) -> Collector:
    """A guest added in a released savepoint and one after it; then the whole transaction
    commits, or rolls back (and an empty one commits)."""
    collector = Collector()
    uow = _unit_of_work(app, owner, collector)
    try:
        async with uow.session.begin_nested():
            uow.session.add(_guest(owner, "Inside"))
        uow.session.add(_guest(owner, "After"))
        await uow.session.flush()
        if not commit:
            await uow.rollback()
        await uow.commit()
    finally:
        await uow.close()
    return collector


async def test_a_released_savepoint_keeps_its_events(app: FastAPI, owner: Actor) -> None:
    async def logged() -> list[int]:
        async with app.state.db.engine.connect() as conn:
            return list((await conn.scalars(select(ChangeLog.revision))).all())

    before = await logged()
    collector = await _released_savepoint_then_commit_or_rollback(app, owner, commit=True)
    assert await collector.entries(app) == [{"Inside": "waiting", "After": "waiting"}]
    # One revision for the transaction: none taken when the savepoint was released.
    assert await logged() == [*before, collector.published[0][1]]


async def test_nested_savepoints_roll_back_one_level_at_a_time(app: FastAPI, owner: Actor) -> None:
    collector = Collector()
    uow = _unit_of_work(app, owner, collector)
    try:
        outer = await uow.session.begin_nested()
        uow.session.add(_guest(owner, "Outer"))
        await uow.session.flush()
        inner = await uow.session.begin_nested()
        uow.session.add(_guest(owner, "Inner"))
        await uow.session.flush()
        await inner.rollback()
        await outer.commit()
        await uow.commit()
    finally:
        await uow.close()
    assert await collector.entries(app) == [{"Outer": "waiting"}]


async def test_a_rolled_back_transaction_publishes_nothing(app: FastAPI, owner: Actor) -> None:
    collector = await _released_savepoint_then_commit_or_rollback(app, owner, commit=False)
    assert collector.published == []
