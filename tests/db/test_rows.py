"""Reads without the ORM (app.db.rows): tenancy enforced by the statement's shape, per run.

``rows.fetch`` sends compiled SQL straight to the driver, where no ORM event adds the
restaurant criteria. Its only protection is the structural check: every table read must be
a tenant table with ``restaurant_id = <parameter>`` among the top-level AND terms of the
WHERE clause, and on every run that parameter must be the scope's restaurant. These tests run
the refused and the accepted shapes through the app's own Database and a read UnitOfWork on
SQLite and PostgreSQL.

That the list routes (which read through ``rows``) show one restaurant only is already held
over HTTP by tests/floor/test_isolation.py (tables, guests), tests/reservations/
test_isolation.py and tests/users/test_isolation.py; the HTTP test here adds only what those
do not vary: interleaved restaurants and IN lists of different lengths on one cached shape.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import (
    Select,
    bindparam,
    column,
    event,
    exists,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from app.db.repository import columns_of
from app.db.rows import SCOPE_PARAM, RowQuery, execute_many, fetch, prepare, run
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope, UnscopedQueryError
from app.models import DiningTable, Guest, Restaurant, User
from tests.fixtures.auth import Actor
from tests.fixtures.floor import (
    GUEST_STATUSES,
    GUESTS,
    create_table,
    guest_in,
    list_all,
    parse_ts,
)
from tests.fixtures.units import scope_for, unit_of_work

GUEST_COLUMNS = [c.key for c in columns_of(Guest)]
ID_AT = GUEST_COLUMNS.index("id")
RESTAURANT_AT = GUEST_COLUMNS.index("restaurant_id")


def read_unit(app: FastAPI, scope: RestaurantScope) -> AbstractAsyncContextManager[UnitOfWork]:
    """A read unit of work of the app's database, bound to ``scope``, as a GET gets it."""
    return unit_of_work(app, scope, write=False)


async def floors(client: AsyncClient, owner: Actor, rival: Actor) -> dict[int, dict[str, set]]:
    """Guests of A and of B in every status (two waiting in each), by restaurant and status."""
    found: dict[int, dict[str, set]] = {}
    for actor in (owner, rival):
        by_status: dict[str, set] = {status: set() for status in GUEST_STATUSES}
        for status in (*GUEST_STATUSES, "waiting"):
            guest = await guest_in(client, actor, status, name=f"{status} of {actor.email}")
            by_status[status].add(guest["id"])
        found[actor.restaurant_id] = by_status
    return found


# ----- refusals -------------------------------------------------------------------------------

# Each builds a statement from (scope restaurant, other restaurant); none may run.
Build = Callable[[int, int], Any]


def _scoped_guests(a: int) -> Any:
    return select(Guest.id).where(Guest.restaurant_id == a).subquery()


_lightweight_guests = table("guests", column("id"), column("restaurant_id"))
_alias = aliased(Guest)

REFUSED: dict[str, Build] = {
    # (a) no restaurant criterion at all
    "no-where": lambda a, b: select(Guest.id),
    "other-criteria-only": lambda a, b: select(Guest.id).where(Guest.status == "waiting"),
    "criterion-in-having": lambda a, b: (
        select(Guest.restaurant_id).group_by(Guest.restaurant_id).having(Guest.restaurant_id == a)
    ),
    # a restaurant_id compared with something other than a parameter
    "tautology": lambda a, b: select(Guest.id).where(Guest.restaurant_id == Guest.restaurant_id),
    "literal-sql": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == literal_column(str(a))
    ),
    "in-list": lambda a, b: select(Guest.id).where(Guest.restaurant_id.in_([a, b])),
    # (b) the criterion only inside an OR
    "or-with-id": lambda a, b: select(Guest.id).where(or_(Guest.restaurant_id == a, Guest.id > 0)),
    "or-of-two-restaurants": lambda a, b: select(Guest.id).where(
        or_(Guest.restaurant_id == a, Guest.restaurant_id == b)
    ),
    # (c) another restaurant's id
    "other-restaurant": lambda a, b: select(Guest.id).where(Guest.restaurant_id == b),
    "both-restaurants": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == a, Guest.restaurant_id == b
    ),
    # (d) a second tenant table without its own criterion, or of another restaurant
    "join-unscoped": lambda a, b: (
        select(Guest.id, DiningTable.table_number)
        .join(DiningTable, DiningTable.id == Guest.table_id)
        .where(Guest.restaurant_id == a)
    ),
    "outer-join-unscoped": lambda a, b: (
        select(Guest.id, DiningTable.table_number)
        .outerjoin(DiningTable, DiningTable.id == Guest.table_id)
        .where(Guest.restaurant_id == a)
    ),
    "join-on-restaurant-column": lambda a, b: (
        select(Guest.id, User.password_hash)
        .join(User, User.restaurant_id == Guest.restaurant_id)
        .where(Guest.restaurant_id == a)
    ),
    "cross-product-unscoped": lambda a, b: select(Guest.id, DiningTable.id).where(
        Guest.restaurant_id == a
    ),
    "cross-product-other": lambda a, b: select(Guest.id, DiningTable.id).where(
        Guest.restaurant_id == a, DiningTable.restaurant_id == b
    ),
    # (e) a table that is not a tenant table (the restaurant's own row only by its id)
    "another-restaurant-by-id": lambda a, b: select(Restaurant.name).where(Restaurant.id == b),
    "restaurants-by-name": lambda a, b: select(Restaurant.id).where(Restaurant.name == "A"),
    "restaurants-joined": lambda a, b: (
        select(User.email, Restaurant.name)
        .join(Restaurant, Restaurant.id == User.restaurant_id)
        .where(User.restaurant_id == a)
    ),
    "lightweight-table": lambda a, b: select(_lightweight_guests.c.id).where(
        _lightweight_guests.c.restaurant_id == a
    ),
    # (f) SQL the check cannot see through: text, subqueries, aliases, compounds
    "text": lambda a, b: text("SELECT id FROM guests WHERE restaurant_id = :r").bindparams(r=a),
    "text-from": lambda a, b: (
        select(literal_column("id"))
        .select_from(text("guests"))
        .where(text("restaurant_id = :r").bindparams(r=a))
    ),
    "subquery-from": lambda a, b: select(_scoped_guests(a).c.id),
    "cte-from": lambda a, b: select(
        select(Guest.id).where(Guest.restaurant_id == a).cte("mine").c.id
    ),
    "aliased-model": lambda a, b: select(_alias.id).where(_alias.restaurant_id == a),
    "union": lambda a, b: union_all(
        select(Guest.id).where(Guest.restaurant_id == a),
        select(Guest.id).where(Guest.restaurant_id == b),
    ),
    # ... and subqueries elsewhere than FROM: each reads a tenant table too
    "in-subquery-unscoped": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == a, Guest.table_id.in_(select(DiningTable.id))
    ),
    "in-subquery-other": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == a,
        Guest.table_id.in_(select(DiningTable.id).where(DiningTable.restaurant_id == b)),
    ),
    "exists-other": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == a, exists(select(User.id).where(User.restaurant_id == b))
    ),
    "scalar-subquery-column": lambda a, b: select(
        Guest.id,
        select(User.password_hash).where(User.restaurant_id == b).limit(1).scalar_subquery(),
    ).where(Guest.restaurant_id == a),
    # an OR written as text: AND binds tighter, so the criterion no longer restricts the rows
    "text-or-after-criterion": lambda a, b: select(Guest.id).where(
        Guest.restaurant_id == a, text("1 = 1 OR 1 = 1")
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
async def test_a_read_that_does_not_name_the_scope_restaurant_is_refused(
    app: FastAPI, owner: Actor, rival: Actor, name: str
) -> None:
    """No read reaches the driver unless every table it reads is pinned to the scope's
    restaurant by a top-level ``restaurant_id = :param`` term. Anything the check cannot
    prove (a missing or OR-ed criterion, another restaurant's id, a second table without its
    own criterion, a non-tenant table, text, subqueries, aliases, compounds) is refused with
    UnscopedQueryError, as the ORM guard refuses what its criteria cannot scope."""
    statement = REFUSED[name](owner.restaurant_id, rival.restaurant_id)
    async with read_unit(app, scope_for(owner)) as uow:
        with pytest.raises(UnscopedQueryError):
            await fetch(uow, statement)


def _guests_of(restaurant_id: int) -> Select[Any]:
    """A shape no other statement has (its label), so the first run below compiles it."""
    return (
        select(Guest.id.label("per_run_check"))
        .where(Guest.restaurant_id == restaurant_id)
        .order_by(Guest.id)
    )


async def test_another_restaurants_id_is_refused_on_every_run_of_a_cached_shape(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """The SQL is compiled once per shape, and A's and B's statements share one shape; the
    restaurant is checked on each run's values, so B's statement is refused under A's scope
    whether or not the shape was compiled before, and A's still runs afterwards."""
    rows = await floors(client, owner, rival)
    mine = sorted(set().union(*rows[owner.restaurant_id].values()))
    scope = scope_for(owner)
    assert (
        _guests_of(owner.restaurant_id)._generate_cache_key().key
        == _guests_of(rival.restaurant_id)._generate_cache_key().key
    )

    async with read_unit(app, scope) as uow:
        # B's first: the shape is compiled by a statement that is then refused.
        with pytest.raises(UnscopedQueryError):
            await fetch(uow, _guests_of(rival.restaurant_id))
        assert [r[0] for r in await fetch(uow, _guests_of(owner.restaurant_id))] == mine
        with pytest.raises(UnscopedQueryError):
            await fetch(uow, _guests_of(rival.restaurant_id))
        assert [r[0] for r in await fetch(uow, _guests_of(owner.restaurant_id))] == mine

    # The other way round: B's scope, A's statement, on the same compiled shape.
    async with read_unit(app, scope_for(rival)) as uow:
        with pytest.raises(UnscopedQueryError):
            await fetch(uow, _guests_of(owner.restaurant_id))


# ----- accepted shapes ------------------------------------------------------------------------


def _by_status(restaurant_id: int, statuses: list[str]) -> Select[Any]:
    """The shape list_guests reads."""
    return select(*columns_of(Guest)).where(
        Guest.restaurant_id == restaurant_id, Guest.status.in_(statuses)
    )


def _arrived_since(restaurant_id: int, since: datetime, statuses: list[str] | None) -> Any:
    """Guests that arrived at or after ``since`` (a parameter with a bind processor: the
    column type writes it as naive UTC text on SQLite), with or without a status IN list."""
    stmt = select(*columns_of(Guest)).where(
        Guest.restaurant_id == restaurant_id,
        Guest.arrived_at >= literal(since, Guest.arrived_at.type),
    )
    return stmt if statuses is None else stmt.where(Guest.status.in_(statuses))


async def test_the_service_shapes_return_the_right_rows_for_any_in_list_length(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """``select(*columns_of(Guest)).where(restaurant, status IN (...))`` compiles once for
    every list length (an expanding parameter); each run must still expand its own list and
    bind its own values, so runs with 1, 3, 7, 2 and 1 statuses each return exactly the
    guests of A in those statuses, never B's."""
    rows = await floors(client, owner, rival)
    mine = rows[owner.restaurant_id]
    scope = scope_for(owner)
    lists = [
        ["seated"],
        ["waiting", "notified", "left"],
        list(GUEST_STATUSES),
        ["completed", "waiting"],
        ["cancelled"],
    ]
    keys = {_by_status(scope.restaurant_id, s)._generate_cache_key().key for s in lists}
    assert len(keys) == 1  # one shape: the runs below share one compiled statement

    async with read_unit(app, scope) as uow:
        for statuses in lists:
            found = await fetch(uow, _by_status(scope.restaurant_id, statuses))
            assert {row[ID_AT] for row in found} == set().union(*(mine[s] for s in statuses))
            assert {row[RESTAURANT_AT] for row in found} == {owner.restaurant_id}


@pytest.mark.parametrize("statuses", [None, list(GUEST_STATUSES)], ids=["plain", "in-list"])
async def test_a_timestamp_parameter_binds_as_the_column_stores_it(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor, statuses: list[str] | None
) -> None:
    """An aware datetime parameter is bound through its column type (naive UTC text on
    SQLite), so ``arrived_at >= <a row's own arrivedAt>`` finds that row and those after it,
    whether or not the statement also has an IN list. (The list and cursor queries of
    page_of combine both: a cursor's timestamp next to ``status IN (...)``.)"""
    await floors(client, owner, rival)
    scope = scope_for(owner)
    listed = await list_all(client, owner, GUESTS, {"status": list(GUEST_STATUSES)})
    arrivals = sorted((parse_ts(g["arrivedAt"]), g["id"]) for g in listed)
    middle = arrivals[len(arrivals) // 2][0]
    expected = {guest_id for at, guest_id in arrivals if at >= middle}

    async with read_unit(app, scope) as uow:
        found = await fetch(uow, _arrived_since(scope.restaurant_id, middle, statuses))
    assert {row[ID_AT] for row in found} == expected
    assert 0 < len(expected) < len(arrivals)


async def test_an_in_list_does_not_change_how_the_other_parameters_are_bound(
    app: FastAPI, owner: Actor
) -> None:
    """The driver receives every parameter processed by its type, the same value with or
    without an expanding IN list in the statement (on SQLite a timestamp must arrive as the
    text the column stores, never as a datetime for sqlite3's own adapter)."""
    scope = scope_for(owner)
    since = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
    async with read_unit(app, scope) as uow:
        _, plain = prepare(uow, _arrived_since(scope.restaurant_id, since, None))
        _, listed = prepare(uow, _arrived_since(scope.restaurant_id, since, ["waiting"]))
    assert listed == [*plain, "waiting"]


async def test_a_read_by_id_of_another_restaurants_row_finds_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """The detail shape (id and restaurant) is accepted; B's id under A's restaurant
    returns no row, A's own id returns it."""
    rows = await floors(client, owner, rival)
    (mine,) = rows[owner.restaurant_id]["seated"]
    (theirs,) = rows[rival.restaurant_id]["seated"]
    scope = scope_for(owner)

    def by_id(guest_id: int) -> Select[Any]:
        return select(*columns_of(Guest)).where(
            Guest.id == guest_id, Guest.restaurant_id == scope.restaurant_id
        )

    async with read_unit(app, scope) as uow:
        assert await fetch(uow, by_id(theirs)) == []
        assert [row[ID_AT] for row in await fetch(uow, by_id(mine))] == [mine]


async def test_two_tables_each_pinned_to_the_scope_are_accepted(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """A read of two tenant tables, each with its own ``restaurant_id = :scope`` term, names
    one restaurant for everything it reads: accepted, and only A's pairs come back."""
    await floors(client, owner, rival)
    await create_table(client, owner, "spare", 2)
    await create_table(client, rival, "spare", 2)
    scope = scope_for(owner)
    stmt = select(Guest.id, DiningTable.id, Guest.restaurant_id, DiningTable.restaurant_id).where(
        Guest.restaurant_id == scope.restaurant_id,
        DiningTable.restaurant_id == scope.restaurant_id,
        DiningTable.id == Guest.table_id,
    )
    async with read_unit(app, scope) as uow:
        found = await fetch(uow, stmt)
    assert found
    assert {(row[2], row[3]) for row in found} == {(owner.restaurant_id, owner.restaurant_id)}


# ----- over HTTP ------------------------------------------------------------------------------


async def test_interleaved_lists_of_two_restaurants_share_a_shape_not_rows(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """GET /guests of A and B, alternating, with status lists of different lengths (one
    cached statement for all): each answer holds exactly that restaurant's guests in those
    statuses."""
    rows = await floors(client, owner, rival)
    for statuses in (["waiting"], list(GUEST_STATUSES), ["seated", "left"], ["waiting"]):
        for actor in (owner, rival, owner):
            listed = await list_all(client, actor, GUESTS, {"status": statuses, "limit": 2})
            expected = set().union(*(rows[actor.restaurant_id][s] for s in statuses))
            assert sorted(g["id"] for g in listed) == sorted(expected), (actor.email, statuses)


# ----- one pool connection per read ------------------------------------------------------------

READ_ROUTES = [
    "/api/v1/guests",
    "/api/v1/guests/{guest}",
    "/api/v1/tables",
    "/api/v1/tables/{table}",
    "/api/v1/reservations",
    "/api/v1/users",
    "/api/v1/users/{user}",
]


@pytest.mark.parametrize("route", READ_ROUTES)
async def test_an_authenticated_read_checks_out_at_most_one_pool_connection(
    app: FastAPI, client: AsyncClient, owner: Actor, route: str
) -> None:
    """The token check and the read share the read unit of work's one driver connection:
    a GET served by ``rows`` costs one pool checkout on PostgreSQL, not one per statement,
    and none on SQLite, whose reads all share one connection of their own."""
    guest = await guest_in(client, owner, "seated")
    path = route.format(guest=guest["id"], table=guest["tableId"], user=owner.user_id)
    checkouts: list[object] = []

    def count(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checkouts.append(dbapi_connection)

    sync_engine = app.state.db.engine.sync_engine
    event.listen(sync_engine, "checkout", count)
    try:
        response = await client.get(path, headers=owner.headers)
    finally:
        event.remove(sync_engine, "checkout", count)

    assert response.status_code == 200, response.text
    expected = 0 if app.state.db.engine.dialect.name == "sqlite" else 1
    assert len(checkouts) == expected, checkouts


async def test_the_scope_restaurants_own_row_is_read_by_its_id(app: FastAPI, owner: Actor) -> None:
    """``restaurants`` has no restaurant_id: its own id is what pins it to the scope."""
    scope = scope_for(owner)
    async with read_unit(app, scope) as uow:
        found = await fetch(uow, select(Restaurant.id).where(Restaurant.id == owner.restaurant_id))
    assert [tuple(row) for row in found] == [(owner.restaurant_id,)]


# ----- statements run inside a write transaction (rows.run) -----------------------------------

_RID = bindparam(SCOPE_PARAM)

REFUSED_UPDATES: dict[str, Callable[[], Any]] = {
    "no-where": lambda: update(Guest).values(notes="x"),
    "other-criteria-only": lambda: update(Guest).where(Guest.id == 1).values(notes="x"),
    "moves-the-row": lambda: (
        update(Guest).where(Guest.restaurant_id == _RID).values(restaurant_id=bindparam("other"))
    ),
    "renumbers-the-row": lambda: update(Guest).where(Guest.restaurant_id == _RID).values(id=1),
    "restaurant-by-name": lambda: (
        update(Restaurant).where(Restaurant.name == "A").values(revision=0)
    ),
    "a-subquery-in-the-values": lambda: (
        update(Guest)
        .where(Guest.restaurant_id == _RID)
        .values(notes=select(User.password_hash).limit(1).scalar_subquery())
    ),
    "text-criterion": lambda: update(Guest).where(text("restaurant_id = :r")).values(notes="x"),
}


@pytest.mark.parametrize("name", list(REFUSED_UPDATES))
def test_an_update_that_does_not_pin_its_rows_to_the_scope_is_refused(name: str) -> None:
    """An UPDATE RowQuery obeys the read's rule (a restaurant term for its table, only
    columns, parameters and operators) and may not move or renumber rows."""
    with pytest.raises(UnscopedQueryError):
        RowQuery(REFUSED_UPDATES[name]())


def test_an_update_must_set_its_onupdate_columns() -> None:
    """Sent as compiled SQL, an UPDATE gets no ``onupdate`` value from an execution context:
    it would set ``updated_at`` to NULL, so it must say what ``updated_at`` becomes."""
    with pytest.raises(ValueError, match="updated_at"):
        RowQuery(update(Guest).where(Guest.restaurant_id == _RID).values(notes="x"))


def write_unit(app: FastAPI, scope: RestaurantScope) -> AbstractAsyncContextManager[UnitOfWork]:
    return unit_of_work(app, scope, write=True)


_RENAME = RowQuery(
    update(Guest)
    .where(Guest.restaurant_id == _RID, Guest.id == bindparam("id"))
    .values(name=bindparam("name"), updated_at=Guest.updated_at)
)
_GUEST_NAME = RowQuery(
    select(Guest.name)
    .where(Guest.restaurant_id == _RID, Guest.id == bindparam("id"))
    .with_for_update()
)


async def test_run_writes_only_the_scope_restaurants_rows(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """``run`` sends the statement on the session's connection inside its transaction: it
    commits and rolls back with it, and another restaurant's id matches nothing, because the
    restaurant comes from the scope and a caller cannot pass it."""
    mine = await guest_in(client, owner, "waiting", name="Mine")
    theirs = await guest_in(client, rival, "waiting", name="Theirs")
    scope = scope_for(owner)

    async with write_unit(app, scope) as uow:
        await uow.session.run_sync(run, _RENAME, {"id": theirs["id"], "name": "Taken"})
        await uow.session.run_sync(run, _RENAME, {"id": mine["id"], "name": "Renamed"})
        found = await uow.session.run_sync(run, _GUEST_NAME, {"id": mine["id"]})
        assert [tuple(r) for r in found] == [("Renamed",)]
        with pytest.raises(UnscopedQueryError):
            await uow.session.run_sync(run, _RENAME, {SCOPE_PARAM: rival.restaurant_id})
        await uow.commit()

    async with write_unit(app, scope) as uow:
        await uow.session.run_sync(run, _RENAME, {"id": mine["id"], "name": "Undone"})
        await uow.rollback()

    got = {g["id"]: g["name"] for g in await list_all(client, owner, GUESTS)}
    assert got[mine["id"]] == "Renamed"
    theirs_now = await client.get(f"{GUESTS}/{theirs['id']}", headers=rival.headers)
    assert theirs_now.json()["name"] == "Theirs"


async def test_fetch_does_not_send_an_update(app: FastAPI, owner: Actor) -> None:
    scope = scope_for(owner)
    async with read_unit(app, scope) as uow:
        with pytest.raises(UnscopedQueryError):
            await fetch(uow, _RENAME, {"id": 1, "name": "x"})


REFUSED_INSERTS: dict[str, Callable[[], Any]] = {
    "restaurant-as-a-literal": lambda: insert(DiningTable).values(restaurant_id=1),
    "restaurant-not-given": lambda: insert(DiningTable).values(table_number=bindparam("n")),
    "not-a-tenant-table": lambda: insert(Restaurant).values(name=bindparam("name")),
    "insert-select": lambda: insert(DiningTable).from_select(
        ["restaurant_id"], select(DiningTable.restaurant_id)
    ),
    "several-rows": lambda: insert(DiningTable).values(
        [{"restaurant_id": bindparam(SCOPE_PARAM)}, {"restaurant_id": bindparam(SCOPE_PARAM)}]
    ),
    "upsert": lambda: (
        sqlite_insert(DiningTable)
        .values(restaurant_id=bindparam(SCOPE_PARAM))
        .on_conflict_do_nothing()
    ),
    "a-subquery-value": lambda: insert(DiningTable).values(
        restaurant_id=bindparam(SCOPE_PARAM),
        table_number=select(User.password_hash).limit(1).scalar_subquery(),
    ),
}


@pytest.mark.parametrize("name", list(REFUSED_INSERTS))
def test_an_insert_that_does_not_take_the_scope_restaurant_is_refused(name: str) -> None:
    """An INSERT RowQuery writes one row of a tenant table, whose restaurant_id is the
    scope's parameter, from parameters alone."""
    with pytest.raises(UnscopedQueryError):
        RowQuery(REFUSED_INSERTS[name]())


def test_an_insert_must_give_every_column_that_has_a_default() -> None:
    with pytest.raises(ValueError, match="created_at"):
        RowQuery(
            insert(DiningTable).values(
                restaurant_id=bindparam(SCOPE_PARAM), table_number=bindparam("n")
            )
        )


async def test_execute_many_sends_each_update_in_order_and_counts_the_rows_matched(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """One executemany: each run is the scope's, in order; SQLite counts the rows matched in
    all, asyncpg counts none (None: the caller reads back what it wrote)."""
    first = await guest_in(client, owner, "waiting", name="First")
    second = await guest_in(client, owner, "waiting", name="Second")
    theirs = await guest_in(client, rival, "waiting", name="Theirs")
    scope = scope_for(owner)
    async with write_unit(app, scope) as uow:
        runs = [
            {"id": first["id"], "name": "A"},
            {"id": theirs["id"], "name": "Taken"},
            {"id": second["id"], "name": "B"},
            {"id": first["id"], "name": "C"},  # the last run wins: the order is kept
        ]
        matched = await uow.session.run_sync(execute_many, _RENAME, runs)
        assert matched == (3 if uow.db.engine.dialect.name == "sqlite" else None)
        with pytest.raises(UnscopedQueryError):
            await uow.session.run_sync(
                execute_many, _RENAME, [{"id": 1, "name": "x", SCOPE_PARAM: 2}]
            )
        await uow.commit()
    got = {g["id"]: g["name"] for g in await list_all(client, owner, GUESTS)}
    assert (got[first["id"]], got[second["id"]]) == ("C", "B")
    theirs_now = await client.get(f"{GUESTS}/{theirs['id']}", headers=rival.headers)
    assert theirs_now.json()["name"] == "Theirs"
