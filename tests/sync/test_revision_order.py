"""Revision order is commit order: a writer of a restaurant takes its revision only once the
writer before it has committed, so a reader never sees revision N+1 committed while N is not,
and a client that has seen N has seen everything up to it."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from app.db import revision
from app.guests import schemas as guest_schemas
from app.guests import service as guests
from app.models import ChangeLog, Restaurant
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest
from tests.fixtures.units import scope_for, unit_of_work


async def _committed(app: FastAPI, restaurant_id: int) -> tuple[int, list[int]]:
    """The revision and the change log's revisions, as a reader outside both writers sees
    them."""
    async with app.state.db.engine.connect() as conn:
        current = await conn.scalar(
            select(Restaurant.revision).where(Restaurant.id == restaurant_id)
        )
        logged = (
            await conn.scalars(
                select(ChangeLog.revision)
                .where(ChangeLog.restaurant_id == restaurant_id)
                .order_by(ChangeLog.revision)
            )
        ).all()
    return int(current), list(logged)


async def test_a_second_writer_takes_its_revision_after_the_first_commits(
    app: FastAPI, client: AsyncClient, owner: Actor, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two concurrent write transactions need PostgreSQL (SQLite runs one)")
    first_guest = await create_guest(client, owner, "First")
    second_guest = await create_guest(client, owner, "Second")
    scope = scope_for(owner)
    start, _ = await _committed(app, owner.restaurant_id)

    async with unit_of_work(app, scope, write=True) as first:
        await guests.update_guest(
            first, scope, first_guest["id"], guest_schemas.GuestUpdate(notes="one")
        )
        taken = await first.session.run_sync(revision.take)
        assert taken == start + 1

        second_took: list[int | None] = []

        async def second_writer() -> None:
            async with unit_of_work(app, scope, write=True) as second:
                await guests.update_guest(
                    second, scope, second_guest["id"], guest_schemas.GuestUpdate(notes="two")
                )
                second_took.append(await second.session.run_sync(revision.take))
                await second.commit()

        task = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)
        # The second writer waits on the restaurant lock; nothing of either is visible.
        assert not task.done() and second_took == []
        assert await _committed(app, owner.restaurant_id) == (start, list(range(1, start + 1)))
        await first.commit()
    await asyncio.wait_for(task, 10)
    assert second_took == [start + 2]
    current, logged = await _committed(app, owner.restaurant_id)
    assert current == start + 2 and logged[-2:] == [start + 1, start + 2]
