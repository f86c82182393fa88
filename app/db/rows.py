"""Reads without the ORM: a SELECT of plain columns, compiled once per shape, run on the driver.

Through the ORM session a read by primary key cost ~0.6 ms and a page of 200 rows ~3.6 ms
(events, the tenancy walk, result processing that turns every SQLite timestamp into a
datetime). Here a statement is still built with SQLAlchemy, but compiled once per cache key
and sent to the driver as SQL text with its parameters; rows come back as the driver gives
them (SQLite timestamps stay text, which ``app.core.wire`` writes as they are).

Tenancy stays structural: a statement is accepted only when every table it reads is a tenant
table of one restaurant, with ``restaurant_id = <parameter>`` among the top-level AND terms of
its WHERE clause (for ``restaurants`` itself, ``id = <parameter>``), and, on every run, only
when that parameter is the scope's restaurant.
Anything else raises :class:`~app.db.tenancy.UnscopedQueryError`, as the ORM guard does.

The scope is never an argument: :func:`fetch` takes it from its unit of work
(``UnitOfWork.bound_scope``), :func:`run` and :func:`execute` from the session they run in,
which its unit of work bound (``tenancy.scope_of``). A read or write in a unit of work bound
to no restaurant raises; one bound to a restaurant reaches no other's rows, whatever it is
given.

A :class:`RowQuery` may also be an UPDATE of one restaurant's rows, under the same rule, that
sets neither ``restaurant_id`` nor ``id``, or the INSERT of one row of a tenant table whose
``restaurant_id`` is the scope's parameter; :func:`run` and :func:`execute` send them inside a
session's transaction (the restaurant lock, the revision, ``repository.flush``).

Read units of work run these outside any transaction (a single SELECT is its own snapshot): on
SQLite on the one connection all such reads share, on PostgreSQL on one pool connection per
unit of work (``UnitOfWork.read_driver``). Write units of work run them inside their transaction,
through the session, so the guard and the lock order see them like any ORM statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BinaryExpression,
    BindParameter,
    Column,
    Connection,
    CursorResult,
    Insert,
    Select,
    Table,
    Update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import (
    BooleanClauseList,
    ClauseList,
    Grouping,
    Label,
    Tuple,
    UnaryExpression,
)
from sqlalchemy.sql.selectable import ForUpdateArg

from app.db.statements import RESTAURANT, tenant_tables
from app.db.tenancy import VOUCHED, UnscopedQueryError, scope_of

if TYPE_CHECKING:
    from app.db.session import UnitOfWork


@dataclass(frozen=True, slots=True)
class _Compiled:
    compiled: Any  # SQLAlchemy's, compiled with its cache key
    sql: str
    names: tuple[str, ...]  # parameter names in the order the driver takes them
    processors: dict[str, Any]
    restaurant_params: tuple[str, ...]
    expanding: bool  # an IN (...) whose length is known only at run time
    defaults: dict[str, Any]  # the values the statement carries itself (``revision + 1``)


_compiled: dict[tuple[str, Any], _Compiled] = {}


def _conjuncts(where: Any) -> list[Any]:
    if where is None:
        return []
    if isinstance(where, BooleanClauseList) and where.operator is operators.and_:
        return [term for clause in where.clauses for term in _conjuncts(clause)]
    return [where]


# What a row read may be made of, below the SELECT itself: columns of tables, parameters, and
# the operators that combine them. No subquery, no SQL text, no join, no alias: each could
# read rows that the top-level restaurant terms do not reach.
_ALLOWED = (
    Table,
    Column,
    BindParameter,
    BinaryExpression,
    BooleanClauseList,
    ClauseList,
    Tuple,
    UnaryExpression,
    Grouping,
    Label,
    ForUpdateArg,  # FOR UPDATE (OF tables the statement reads)
)


def _refuse_unreachable(stmt: Any) -> None:
    if isinstance(stmt, Insert):
        if stmt.select is not None or stmt._multi_values or stmt._post_values_clause is not None:
            raise UnscopedQueryError("a row INSERT gives one row's values, and only those")
    elif isinstance(stmt, Update):
        moved = [c for c in (stmt._values or ()) if getattr(c, "key", c) in (RESTAURANT, "id")]
        if moved:
            raise UnscopedQueryError("a row UPDATE cannot set restaurant_id or id")
    elif not isinstance(stmt, Select):
        raise UnscopedQueryError(f"a row read must be a SELECT, not {type(stmt).__name__}")
    for element in visitors.iterate(stmt):
        if element is stmt or isinstance(element, _ALLOWED):
            continue
        raise UnscopedQueryError(
            f"a row read cannot hold {type(element).__name__}: only columns, parameters and "
            "operators, so that its restaurant terms reach every row it reads"
        )


def _restaurant_binds(stmt: Any) -> list[BindParameter[Any]]:
    """The ``restaurant_id = :param`` term of each table read, or a refusal; for an INSERT,
    the parameter its ``restaurant_id`` value is."""
    _refuse_unreachable(stmt)
    if isinstance(stmt, Insert):
        given = {getattr(c, "key", c): v for c, v in (stmt._values or {}).items()}
        value = given.get(RESTAURANT)
        if stmt.table.name not in tenant_tables() or not isinstance(value, BindParameter):
            raise UnscopedQueryError("a row INSERT gives its restaurant_id as a parameter")
        return [value]
    froms = [stmt.table] if isinstance(stmt, Update) else stmt.get_final_froms()
    tenant = tenant_tables()
    binds: dict[Any, BindParameter[Any]] = {}
    for term in _conjuncts(stmt.whereclause):
        if not (isinstance(term, BinaryExpression) and term.operator is operators.eq):
            continue
        left, right = term.left, term.right
        if isinstance(left, BindParameter):
            left, right = right, left
        if (
            isinstance(left, Column)
            and isinstance(right, BindParameter)
            and (
                (left.table.name in tenant and left.name == RESTAURANT)
                # The restaurant's own row, by its id.
                or (left.table.name == "restaurants" and left.name == "id")
            )
        ):
            binds[left.table] = right
    refused = [f for f in froms if not isinstance(f, Table) or f not in binds]
    if refused or not froms:
        names = ", ".join(str(f) for f in refused) or "nothing"
        raise UnscopedQueryError(
            f"a row read must name one restaurant for each table it reads; not for {names}"
        )
    return list(binds.values())


def _compile(
    stmt: Select[*tuple[Any, ...]] | Update | Insert, dialect: Any, cache_key: Any
) -> _Compiled:
    binds = _restaurant_binds(stmt)
    compiled = stmt.compile(dialect=dialect, cache_key=cache_key)  # None: a RowQuery's
    names = tuple(compiled.positiontup or ())
    processors = {
        name: proc
        for name, bind in compiled.binds.items()
        if (proc := bind.type._cached_bind_processor(dialect)) is not None
    }
    return _Compiled(
        compiled=compiled,
        sql=compiled.string,
        names=names,
        processors=processors,
        # An INSERT's values are bound through copies made with their column types.
        restaurant_params=tuple(compiled.bind_names.get(b, b.key) for b in binds),
        expanding=any(compiled.binds[name].expanding for name in names),
        defaults={name: bind.value for name, bind in compiled.binds.items() if not bind.required},
    )


def prepare(uow: UnitOfWork, stmt: Select[*tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The SQL of ``stmt`` (compiled once per shape) and its parameters, as :func:`fetch`
    sends it outside a transaction in ``uow``: only when the statement names the unit of
    work's restaurant."""
    return _prepare(stmt, uow.db.engine.dialect, uow.bound_scope().restaurant_id)


def _prepare(
    stmt: Select[*tuple[Any, ...]], dialect: Any, restaurant_id: int
) -> tuple[str, list[Any]]:
    """:func:`prepare`, given the restaurant of the unit of work or session it runs in."""
    cache_key = stmt._generate_cache_key()
    if cache_key is None:  # only statements with uncacheable parts: none of ours
        raise UnscopedQueryError("a row read must be a cacheable statement")
    entry_key = (dialect.name, cache_key.key)
    entry = _compiled.get(entry_key)
    if entry is None:
        entry = _compiled[entry_key] = _compile(stmt, dialect, cache_key)
    # This statement's values, by the names of the cached compilation of its shape.
    values = entry.compiled.construct_params(extracted_parameters=cache_key.bindparams)
    for name in entry.restaurant_params:
        if values[name] != restaurant_id:
            raise UnscopedQueryError("a row read names another restaurant than its scope")
    if entry.expanding:
        state = entry.compiled.construct_expanded_state(values)
        # The expanded state names processors only for the values it expanded.
        processors = {**entry.processors, **state.processors}
        return state.statement, _bound(state.positiontup or (), state.parameters, processors)
    return entry.sql, _bound(entry.names, values, entry.processors)


def _bound(
    names: Sequence[str], values: Mapping[str, Any], processors: Mapping[str, Any]
) -> list[Any]:
    """Each value as the driver takes it (on SQLite, a timestamp as naive UTC text)."""
    return [processors[n](values[n]) if n in processors else values[n] for n in names]


# The parameter a RowQuery binds to the scope's restaurant, and no caller can.
SCOPE_PARAM = "scope_restaurant_id"


class RowQuery:
    """A read (or an UPDATE, or an INSERT) built once: building a SELECT of 16 columns
    costs ~80 us, as much as the rest of a read by id. Its parameters are named bind
    parameters, and its restaurant terms bind :data:`SCOPE_PARAM`, which :func:`fetch`,
    :func:`run` and :func:`execute` fill from the scope of the unit of work they run in."""

    def __init__(self, stmt: Select[*tuple[Any, ...]] | Update | Insert) -> None:
        binds = _restaurant_binds(stmt)
        if any(bind.key != SCOPE_PARAM for bind in binds):
            raise UnscopedQueryError(f"a RowQuery binds its restaurant as :{SCOPE_PARAM}")
        if isinstance(stmt, Update | Insert):
            # Sent as compiled, with no execution context to fill in column defaults.
            given = {getattr(c, "key", c) for c in stmt._values or ()}
            default = "onupdate" if isinstance(stmt, Update) else "default"
            unset = [
                c.key
                for c in stmt.table.c
                if getattr(c, default) is not None and c.key not in given
            ]
            if unset:
                raise ValueError(f"a RowQuery {default} of {unset} would never be applied")
        self.stmt = stmt
        self.columns = columns(stmt)
        self._compiled: dict[str, _Compiled] = {}
        self._result_processors: dict[str, tuple[Any, ...]] = {}

    def _prepare(
        self, dialect: Any, restaurant_id: int, params: Mapping[str, Any]
    ) -> tuple[str, list[Any]]:
        entry = self._compiled.get(dialect.name)
        if entry is None:
            entry = self._compiled[dialect.name] = _compile(self.stmt, dialect, None)
        if SCOPE_PARAM in params:
            raise UnscopedQueryError("the restaurant of a RowQuery comes from its scope")
        values = {**entry.defaults, **params, SCOPE_PARAM: restaurant_id}
        if entry.expanding:
            state = entry.compiled.construct_expanded_state(values)
            processors = {**entry.processors, **state.processors}
            return state.statement, _bound(state.positiontup or (), state.parameters, processors)
        return entry.sql, _bound(entry.names, values, entry.processors)

    def result_processors(self, dialect: Any, description: Any) -> tuple[Any, ...]:
        """Per column, what turns the driver's value into the column type's (or None); the
        driver's type codes (``description``) are the same on every run of one statement."""
        found = self._result_processors.get(dialect.name)
        if found is None:
            found = self._result_processors[dialect.name] = tuple(
                c.type._cached_result_processor(dialect, d[1])
                for c, d in zip(self.stmt.selected_columns, description, strict=True)  # type: ignore[union-attr]
            )
        return found


async def fetch(
    uow: UnitOfWork,
    stmt: Select[*tuple[Any, ...]] | RowQuery,
    params: Mapping[str, Any] | None = None,
    *,
    in_transaction: bool | None = None,
) -> list[Any]:
    """Every row of ``stmt`` in the restaurant ``uow`` is bound to, as the driver returns
    them (tuples, or asyncpg records); UnscopedQueryError if it is bound to none.

    A write unit of work reads inside its transaction unless ``in_transaction=False``."""
    restaurant_id = uow.bound_scope().restaurant_id
    if uow.write if in_transaction is None else in_transaction:
        # Inside the write transaction, through the ORM guard and the lock order.
        if isinstance(stmt, RowQuery):
            bound = {**(params or {}), SCOPE_PARAM: restaurant_id}
            return list((await uow.session.execute(stmt.stmt, bound)).all())
        return list((await uow.session.execute(stmt)).all())
    if isinstance(stmt, RowQuery) and not isinstance(stmt.stmt, Select):
        raise UnscopedQueryError("fetch() reads; an UPDATE or INSERT is run() in a session")
    dialect = uow.db.engine.dialect
    if isinstance(stmt, RowQuery):
        sql, values = stmt._prepare(dialect, restaurant_id, params or {})
    else:
        sql, values = _prepare(stmt, dialect, restaurant_id)
    async with uow.read_driver() as connection:
        if dialect.name == "sqlite":
            return await connection.read(sql, values)  # type: ignore[no-any-return]
        return list(await connection.fetch(sql, *values))


_CONNECTION_KEY = "qtable_rows_connection"


def _connection(session: Session) -> Connection:
    """The connection of the session's transaction (begun here if need be). Asking the
    session costs ~40 us a statement; it is kept for as long as its transaction is active
    (a savepoint runs on the same connection)."""
    transaction = session.get_transaction()
    kept = session.info.get(_CONNECTION_KEY)
    if kept is not None and kept[0] is transaction and transaction.is_active:
        return kept[1]  # type: ignore[no-any-return]
    connection = session.connection()
    session.info[_CONNECTION_KEY] = (session.get_transaction(), connection)
    return connection


def _restaurant_of(session: Session) -> int:
    """The restaurant the session's unit of work bound it to (``UnitOfWork.bind``)."""
    scope = scope_of(session)
    if scope is None:
        raise UnscopedQueryError("a session bound to no restaurant runs no row statement")
    return scope.restaurant_id


def run(
    session: Session,
    query: RowQuery,
    params: Mapping[str, Any] | None = None,
    *,
    typed: bool = False,
) -> list[Any]:
    """``query`` inside the session's transaction (begun here if need be), from one of the
    session's own hooks, in its greenlet: as SQL on the session's connection, which the
    tenancy guard lets pass because its shape was checked here. Through the ORM the same
    statement costs ~0.3 ms more: building it, ORM compilation, the loader criteria. Its
    restaurant is the one the session is bound to; UnscopedQueryError if none.

    Rows come as the driver gives them, or ``typed``: each value as its column's type reads
    it (SQLite timestamps as aware datetimes)."""
    connection, result = _send(session, query, params)
    if not result.returns_rows:
        return []
    if not typed:
        return list(result.fetchall())
    processors = query.result_processors(connection.dialect, result.cursor.description)
    return [
        tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(processors, row, strict=True)
        )
        for row in result.fetchall()
    ]


def execute(
    session: Session,
    query: RowQuery,
    params: Mapping[str, Any] | None = None,
) -> int:
    """An UPDATE ``query``, as :func:`run` sends it; how many rows it matched."""
    if not isinstance(query.stmt, Update):
        raise UnscopedQueryError("execute() updates; a read is run() or fetch()ed")
    return int(_send(session, query, params)[1].rowcount)


def execute_many(
    session: Session,
    query: RowQuery,
    many: Sequence[Mapping[str, Any]],
) -> int | None:
    """The UPDATE ``query`` once per parameter set, in order, sent as one executemany (each
    statement sent alone costs ~50 us of SQLAlchemy's own, and on PostgreSQL a round trip);
    how many rows they matched in all, or None where the driver does not count the rows of
    an executemany (asyncpg): the caller then checks what it wrote by reading it back. For
    an UPDATE whose every run matches one row, a total below ``len(many)`` says that one
    did not."""
    if not isinstance(query.stmt, Update):
        raise UnscopedQueryError("execute_many() updates; a read is run() or fetch()ed")
    restaurant_id = _restaurant_of(session)
    if not many:
        return 0
    connection = _connection(session)
    prepared = [query._prepare(connection.dialect, restaurant_id, params) for params in many]
    sql = prepared[0][0]
    if any(other != sql for other, _ in prepared):  # pragma: no cover: one shape per query
        raise UnscopedQueryError("execute_many() sends one statement")
    result = connection.exec_driver_sql(
        sql, [tuple(values) for _, values in prepared], execution_options=VOUCHED
    )
    if not connection.dialect.supports_sane_multi_rowcount:
        return None
    return int(result.rowcount)


def _send(
    session: Session, query: RowQuery, params: Mapping[str, Any] | None
) -> tuple[Connection, CursorResult[Any]]:
    """``query`` on the connection of the session's transaction, marked as checked."""
    restaurant_id = _restaurant_of(session)
    connection = _connection(session)
    sql, values = query._prepare(connection.dialect, restaurant_id, params or {})
    return connection, connection.exec_driver_sql(sql, tuple(values), execution_options=VOUCHED)


def columns(stmt: Select[*tuple[Any, ...]] | Update | Insert) -> tuple[str, ...]:
    if isinstance(stmt, Update | Insert):
        return tuple(str(getattr(c, "key", c)) for c in stmt._returning)
    return tuple(str(c.key) for c in stmt.selected_columns)
