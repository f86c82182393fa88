"""The tenancy guard has no side doors: raw tables, text, bulk writes, upserts and the session's
own connection are scoped or refused, with a scope bound and without one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import (
    DDL,
    Executable,
    column,
    delete,
    event,
    insert,
    literal,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenancy import CROSS_TENANT, UnscopedQueryError, _make_scope, bind_scope
from app.models import Guest, IdempotencyKey, Restaurant
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

    @property
    def dialect(self) -> str:
        return self.session.bind.dialect.name

    def insert(self) -> Any:
        """The dialect's INSERT, which has ON CONFLICT."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(Guest)

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


def guest_row(restaurant_id: int, name: str = "Planted", **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "restaurant_id": restaurant_id,
        "name": name,
        "party_size": 2,
        "arrived_at": now,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


async def guests(app: FastAPI) -> dict[int, tuple[int, str]]:
    """Every guest row, read outside any session (a plain Core connection)."""
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(select(GUESTS.c.id, GUESTS.c.restaurant_id, GUESTS.c.name))
        return {row.id: (row.restaurant_id, row.name) for row in rows}


Form = Callable[[World], Awaitable[Any]]


async def run(w: World, statement: Executable, params: Any = None) -> Any:
    return await w.session.execute(statement, params)


async def on_connection(w: World, statement: Executable) -> Any:
    return await (await w.session.connection()).execute(statement)


async def driver_sql(w: World, sql: str, params: Any = None, **options: Any) -> Any:
    conn = await w.session.connection()
    return await conn.exec_driver_sql(sql, params, execution_options=options)


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
    "update-moves-rows": lambda w: run(
        w, update(Guest).where(Guest.id == w.mine).values(restaurant_id=w.rival.restaurant_id)
    ),
    "bulk-update-by-primary-key": lambda w: run(
        w, update(Guest), [{"id": w.theirs, "name": "Hijacked", "version": 1}]
    ),
    "insert-for-another-restaurant": lambda w: run(
        w, insert(Guest).values(**guest_row(w.rival.restaurant_id))
    ),
    "insert-parameters-override": lambda w: run(
        w,
        insert(Guest).values(**guest_row(w.owner.restaurant_id)),
        {"restaurant_id": w.rival.restaurant_id},
    ),
    "bulk-insert-rows": lambda w: run(
        w,
        insert(Guest),
        [guest_row(w.owner.restaurant_id), guest_row(w.rival.restaurant_id)],
    ),
    "multi-values-insert": lambda w: run(
        w,
        insert(Guest).values([guest_row(w.owner.restaurant_id), guest_row(w.rival.restaurant_id)]),
    ),
    "raw-table-insert": lambda w: run(w, insert(GUESTS).values(**guest_row(w.owner.restaurant_id))),
    "insert-from-select": lambda w: run(
        w,
        insert(Guest).from_select(
            ["restaurant_id", "name", "party_size", "arrived_at"],
            select(
                literal(w.rival.restaurant_id),
                literal("Planted"),
                literal(2),
                literal(datetime.now(UTC), GUESTS.c.arrived_at.type),
            ),
        ),
    ),
    "insert-reading-another-model": lambda w: run(
        w,
        insert(Guest).values(
            **guest_row(
                w.owner.restaurant_id,
                name=select(Guest.name).where(Guest.id == w.theirs).scalar_subquery(),
            )
        ),
    ),
    "insert-returning-another-model": lambda w: run(
        w,
        insert(Guest)
        .values(**guest_row(w.owner.restaurant_id))
        .returning(select(Guest.name).where(Guest.id == w.theirs).scalar_subquery()),
    ),
    "insert-or-replace": lambda w: run(
        w,
        insert(Guest)
        .prefix_with("OR REPLACE")
        .values(**guest_row(w.owner.restaurant_id, id=w.theirs)),
    ),
    "upsert-on-the-id": lambda w: run(
        w,
        w.insert()
        .values(**guest_row(w.owner.restaurant_id, id=w.theirs))
        .on_conflict_do_update(index_elements=["id"], set_={"name": "Hijacked"}),
    ),
    "upsert-on-a-named-constraint": lambda w: run(
        w,
        postgresql.insert(Guest)
        .values(**guest_row(w.owner.restaurant_id, id=w.theirs))
        .on_conflict_do_update(constraint="pk_guests", set_={"name": "Hijacked"}),
    ),
    "upsert-reading-other-rows": lambda w: run(
        w,
        w.insert()
        .values(**guest_row(w.owner.restaurant_id, id=w.mine))
        .on_conflict_do_update(
            index_elements=["restaurant_id", "id"],
            set_={"name": select(GUESTS.c.name).where(GUESTS.c.id == w.theirs).scalar_subquery()},
        ),
    ),
    "connection-raw-table": lambda w: on_connection(w, select(GUESTS.c.name)),
    "connection-model": lambda w: on_connection(w, update(Guest).values(name="Hijacked")),
    "connection-text": lambda w: on_connection(w, text("UPDATE guests SET name = 'Hijacked'")),
    "connection-ddl": lambda w: on_connection(w, DDL("UPDATE guests SET name = 'Hijacked'")),
    "connection-driver-sql": lambda w: driver_sql(w, "UPDATE guests SET name = 'Hijacked'"),
    "legacy-bulk-insert-mappings": lambda w: w.session.run_sync(
        lambda s: s.bulk_insert_mappings(Guest, [guest_row(w.rival.restaurant_id)])
    ),
}


# Refused by the rule named here, not only by the connection guard behind it.
REASON = {"bulk-update-by-primary-key": "bulk UPDATE"}


@pytest.mark.parametrize("name", REFUSED)
async def test_a_side_door_is_refused_with_a_scope_and_without(world: World, name: str) -> None:
    before = await guests(world.app)

    for scoped in (False, True):
        with pytest.raises(UnscopedQueryError, match=REASON.get(name) if scoped else None):
            await REFUSED[name](world)
        await world.session.rollback()
        world.bind_scope()

    assert await guests(world.app) == before


async def test_inserts_of_the_scopes_own_rows_go_through(world: World) -> None:
    world.bind_scope()
    rid = world.owner.restaurant_id

    inserted = await run(
        world, insert(Guest).values(**guest_row(rid, "One")).returning(Guest.name.label("n"))
    )
    assert inserted.scalar() == "One"
    await run(world, insert(Guest), [guest_row(rid, "Two"), guest_row(rid, "Three")])
    await run(world, insert(Guest).values([guest_row(rid, "Four")]))
    await run(
        world,
        world.insert().values(**guest_row(rid, "Five")).on_conflict_do_nothing(),
    )
    await world.session.commit()

    rows = await guests(world.app)
    ours = sorted(name for restaurant, name in rows.values() if restaurant == rid)
    assert ours == sorted(["Mine", "One", "Two", "Three", "Four", "Five"])
    assert rows[world.theirs] == (world.rival.restaurant_id, "Theirs")
    assert len(rows) == 7


async def test_an_upsert_keyed_by_the_restaurant_goes_through(world: World) -> None:
    world.bind_scope()
    now = datetime.now(UTC)
    dialect_insert = postgresql.insert if world.dialect == "postgresql" else sqlite.insert
    targets: list[dict[str, Any]] = [{"index_elements": ["user_id", "restaurant_id", "key"]}]
    if world.dialect == "postgresql":
        targets.append({"constraint": "uq_idempotency_keys_user_id_restaurant_id_key"})
    # The first statement inserts the key; each later one updates that same row.
    for body, target in enumerate([targets[0], *targets]):
        stmt = dialect_insert(IdempotencyKey).values(
            restaurant_id=world.owner.restaurant_id,
            user_id=world.owner.user_id,
            key="k",
            fingerprint="f",
            status_code=201,
            body=str(body),
            created_at=now,
            expires_at=now,
        )
        await run(world, stmt.on_conflict_do_update(**target, set_={"body": stmt.excluded.body}))

    stored = (await world.session.execute(select(IdempotencyKey.body))).scalars().all()
    assert stored == [str(len(targets))]


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


# As text() and as driver SQL; SQLite has no row locks (its writers are serialised).
LOCK_RESTAURANT = {
    "postgresql": (
        "SELECT id FROM restaurants WHERE id = :rid FOR NO KEY UPDATE",
        "SELECT id FROM restaurants WHERE id = $1 FOR NO KEY UPDATE",
    ),
    "sqlite": (
        "SELECT id FROM restaurants WHERE id = :rid",
        "SELECT id FROM restaurants WHERE id = ?",
    ),
}


@pytest.mark.parametrize("scoped", [True, False], ids=["scoped", "unscoped"])
async def test_sql_on_non_tenant_tables_passes_on_the_session_connection(
    world: World, scoped: bool
) -> None:
    """What a restaurant lock does: SELECT ... FROM restaurants ... FOR NO KEY UPDATE."""
    if scoped:
        world.bind_scope()
    rid = world.owner.restaurant_id
    statement, driver = LOCK_RESTAURANT[world.dialect]
    by_id = text(statement).bindparams(rid=rid)

    assert (await run(world, by_id)).scalar() == rid
    assert (await on_connection(world, by_id)).scalar() == rid
    assert (await driver_sql(world, driver, (rid,))).scalar() == rid
    locked = select(Restaurant.id).where(Restaurant.id == rid).with_for_update(key_share=True)
    assert (await on_connection(world, locked)).scalar() == rid


async def test_cross_tenant_sql_on_the_session_connection_passes_when_marked(world: World) -> None:
    world.bind_scope()
    count = "SELECT count(*) FROM guests"
    marked = text(count).execution_options(**{CROSS_TENANT: True})

    assert (await run(world, marked)).scalar() == 2
    assert (await on_connection(world, marked)).scalar() == 2
    assert (await driver_sql(world, count, **{CROSS_TENANT: True})).scalar() == 2


async def test_a_failed_flush_leaves_the_session_connection_guarded(world: World) -> None:
    world.bind_scope()
    world.session.add(Guest(**guest_row(world.owner.restaurant_id, id=world.mine)))
    with pytest.raises(IntegrityError):
        await world.session.flush()
    await world.session.rollback()

    with pytest.raises(UnscopedQueryError):
        await on_connection(world, text("UPDATE guests SET name = 'Hijacked'"))


async def test_a_flush_stopped_by_a_hook_leaves_the_session_connection_guarded(
    world: World,
) -> None:
    """before_flush hooks after the guard's may still refuse the flush: no flush is running."""
    world.bind_scope()
    stopped = RuntimeError("stopped by another before_flush hook")

    def stop(*_args: Any) -> None:
        raise stopped

    event.listen(world.session.sync_session, "before_flush", stop)
    world.session.add(Guest(**guest_row(world.owner.restaurant_id)))
    with pytest.raises(RuntimeError) as raised:
        await world.session.flush()
    assert raised.value is stopped

    with pytest.raises(UnscopedQueryError):
        await on_connection(world, text("UPDATE guests SET name = 'Hijacked'"))
