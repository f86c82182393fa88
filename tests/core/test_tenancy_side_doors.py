"""The tenancy guard has no side doors: a tenant table reached around its model (raw table,
text, DDL) is refused, with a scope bound and without one; the model's own forms stay scoped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import (
    DDL,
    Executable,
    column,
    delete,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenancy import UnscopedQueryError, _make_scope, bind_scope
from app.models import Guest, Restaurant
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest

GUESTS = Guest.__table__


@dataclass
class World:
    """Two restaurants with a guest each, and a bare session of the app's database."""

    app: FastAPI
    session: AsyncSession
    owner: Actor
    rival: Actor
    mine: int
    theirs: int

    def bind_scope(self) -> None:
        bind_scope(
            self.session.sync_session,
            _make_scope(self.owner.restaurant_id, self.owner.user_id, self.owner.role),
        )


@pytest.fixture
async def world(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> AsyncIterator[World]:
    mine = (await create_guest(client, owner, "Mine"))["id"]
    theirs = (await create_guest(client, rival, "Theirs"))["id"]
    async with app.state.db.session(write=True) as session:
        yield World(app, session, owner, rival, mine, theirs)
        await session.rollback()


async def guests(app: FastAPI) -> dict[int, tuple[int, str]]:
    """Every guest row, read outside any session (a plain Core connection)."""
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(select(GUESTS.c.id, GUESTS.c.restaurant_id, GUESTS.c.name))
        return {row.id: (row.restaurant_id, row.name) for row in rows}


Form = Callable[[World], Awaitable[Any]]


async def run(w: World, statement: Executable, params: Any = None) -> Any:
    return await w.session.execute(statement, params)


# Each form reads or writes rows of the other restaurant unless the guard stops it.
REFUSED: dict[str, Form] = {
    "raw-table-select": lambda w: run(w, select(GUESTS)),
    "raw-column-select": lambda w: run(w, select(GUESTS.c.name)),
    "raw-table-join": lambda w: run(
        w, select(Restaurant.name).join(GUESTS, GUESTS.c.restaurant_id == Restaurant.id)
    ),
    "lightweight-table": lambda w: run(w, select(column("name")).select_from(table("guests"))),
    "raw-subquery-beside-model": lambda w: run(
        w, select(Guest.id, select(GUESTS.c.name).subquery().c.name)
    ),
    "text": lambda w: run(w, text("SELECT name FROM guests")),
    "text-quoted-name": lambda w: run(w, text('SELECT name FROM "guests"')),
    "literal-column": lambda w: run(w, select(literal_column("(SELECT count(*) FROM guests)"))),
    "suffix": lambda w: run(
        w, select(Restaurant.name).suffix_with("UNION SELECT name FROM guests")
    ),
    "from-statement-text": lambda w: run(
        w, select(Guest).from_statement(text("SELECT * FROM guests"))
    ),
    "ddl": lambda w: run(w, DDL("UPDATE guests SET name = 'Hijacked'")),
    "raw-table-update": lambda w: run(w, update(GUESTS).values(name="Hijacked")),
    "raw-table-delete": lambda w: run(w, delete(GUESTS)),
}


@pytest.mark.parametrize("name", REFUSED)
async def test_a_side_door_is_refused_with_a_scope_and_without(world: World, name: str) -> None:
    before = await guests(world.app)

    for _scoped in (False, True):
        with pytest.raises(UnscopedQueryError):
            await REFUSED[name](world)
        await world.session.rollback()
        world.bind_scope()

    assert await guests(world.app) == before


async def test_the_models_own_forms_stay_scoped(world: World) -> None:
    world.bind_scope()
    both = [world.mine, world.theirs]
    session = world.session

    # A bare column of the model's own table is the same FROM, which the criteria filter.
    assert (await session.scalars(select(Guest.name).where(GUESTS.c.id.in_(both)))).all() == [
        "Mine"
    ]
    assert await session.get(Guest, world.theirs) is None
    inner = select(Guest).where(Guest.id.in_(both))
    assert [g.name for g in await session.scalars(select(Guest).from_statement(inner))] == ["Mine"]
    cte = select(Guest.name).cte()
    assert (await session.scalars(select(cte.c.name))).all() == ["Mine"]
