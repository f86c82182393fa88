"""Loading tenant rows: by id (scoped, optionally locked, 404 when absent or foreign) and
by keyset pages. The order in which writes lock rows is written down in ``app.db.locks``.

Every read and write here is of the restaurant its unit of work is bound to
(``UnitOfWork.bound_scope``), never of one its caller names; in a unit of work bound to no
restaurant it raises :class:`~app.db.tenancy.UnscopedQueryError`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    insert,
    inspect,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Session,
    make_transient_to_detached,
    object_session,
)
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import NotFound, PreconditionFailed
from app.core.pagination import INT64, decode_cursor, encode_cursor, key_digest
from app.core.timeutil import parse_stored_timestamp
from app.core.wire import page_body, row_encoder
from app.db import revision, rows
from app.db.base import Base, TenantMixin, utcnow
from app.db.locks import (
    LockOrderError,
    is_locked,
    note_read,
    read_in_transaction,
    record_locked,
    take_restaurant_lock,
)
from app.db.session import UnitOfWork, record_change
from app.db.statements import RESTAURANT
from app.db.tenancy import RestaurantScope, check_written_row, scope_of

M = TypeVar("M", bound=TenantMixin)


def columns_of(model: type[Any]) -> list[InstrumentedAttribute[Any]]:
    """Every mapped column: selecting these yields plain rows, cheaper than ORM objects."""
    return [getattr(model, attr.key) for attr in model.__mapper__.column_attrs]


def _not_found(model: type[Any], row_id: int) -> NotFound:
    """The 404 of a row, the same whether it never existed or is another restaurant's."""
    return NotFound(f"{getattr(model, '__label__', model.__name__)} {row_id} not found")


_LOADS: dict[tuple[type[Any], bool, bool], rows.RowQuery] = {}


def _load_query(model: type[Any], *, lock: bool, many: bool) -> rows.RowQuery:
    """Every column of ``model`` by id (or ids, in id order), in the scope's restaurant,
    built once per shape: building it costs as much as running it."""
    query = _LOADS.get((model, lock, many))
    if query is None:
        by_id = (
            model.id.in_(bindparam("ids", expanding=True)) if many else model.id == bindparam("id")
        )
        stmt = select(*columns_of(model)).where(
            by_id, model.restaurant_id == bindparam(rows.SCOPE_PARAM)
        )
        if many:
            stmt = stmt.order_by(model.id)
        if lock:
            stmt = stmt.with_for_update()
        query = _LOADS[(model, lock, many)] = rows.RowQuery(stmt)
    return query


def state_of(obj: Any) -> Any:
    """The ORM's state of a mapped object: what ``inspect(obj)`` returns, read from the
    attribute instrumentation keeps it in (``inspect`` dispatches on the type, ~4 us)."""
    return obj._sa_instance_state


def held(session: Session, model: type[Any], row_id: Any) -> Any:
    """The row of ``model`` with that id the session holds, if any: its identity map looked
    up by the key SQLAlchemy makes (class, primary key, no identity token), built here
    because ``Session.identity_key`` costs ~5 us a call, inspecting the class each time."""
    return session.identity_map.get((model, (row_id,), None))


def _already_current(uow: UnitOfWork, model: type[Any], row_id: int) -> Any:
    """The row as this transaction holds it, when nobody else can have changed it since: on
    SQLite a write transaction holds the database's one write lock from its first statement
    (``BEGIN IMMEDIATE``), so a row it has read is still the latest, and "locked" already; on
    PostgreSQL, a row this transaction has locked."""
    if not uow.write:
        return None
    session = uow.session.sync_session
    row = held(session, model, row_id)
    if row is None or state_of(row).expired_attributes:  # expired: read again
        return None
    if uow.db.writers_exclusive:
        return row if read_in_transaction(session, model, row_id) else None
    return row if is_locked(session, row) else None


async def load(uow: UnitOfWork, model: type[M], row_id: int, *, lock: bool = False) -> M:
    """The row with that id of the restaurant ``uow`` is bound to, or 404 exactly as for an
    id that never existed.

    ``lock`` takes a row lock on PostgreSQL (SQLite writers are already serialized), after
    the restaurant lock (see ``app.db.locks``), and re-reads the row, so checks run against
    the latest committed state; only such a row may have its version checked.
    """
    uow.bound_scope()  # bound to no restaurant: not even a row the session holds
    if lock:
        return (await lock_all(uow, model, (row_id,)))[row_id]
    current = _already_current(uow, model, row_id)
    if current is not None:
        return current  # type: ignore[no-any-return]
    return (await _load(uow, model, (row_id,), lock=False))[row_id]


async def lock_all(uow: UnitOfWork, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    """Lock several rows (:func:`load` with ``lock``) in one statement, in id order: a fixed
    order keeps concurrent writers from deadlocking. 404 for the lowest id not found."""
    wanted = sorted(set(ids))
    found = await lock_existing(uow, model, wanted)
    for row_id in wanted:
        if row_id not in found:
            raise _not_found(model, row_id)
    return found


async def lock_existing(uow: UnitOfWork, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    """:func:`lock_all` of the rows among ``ids`` that exist in the scope's restaurant,
    without a 404 for the others (a batch locks the rows its items name before it applies
    them; an item naming a row that does not exist answers its own 404)."""
    uow.bound_scope()
    wanted = sorted({row_id for row_id in ids if row_id in INT64})
    found: dict[int, M] = {}
    for row_id in wanted:
        current = _already_current(uow, model, row_id)
        if current is not None:
            found[row_id] = current
    missing = [row_id for row_id in wanted if row_id not in found]
    if missing:
        found.update(await _read(uow, model, missing, lock=True))
    session = uow.session.sync_session
    for row_id in wanted:
        if row_id in found:
            record_locked(session, found[row_id])
    return {row_id: found[row_id] for row_id in wanted if row_id in found}


def committed(session: Session, obj: Any) -> None:
    """Every value the object holds is now the stored one: no history, not modified, not
    expired. What the ORM itself does to a row it has just loaded or flushed (its own
    ``InstanceState._commit_all``; SQLAlchemy is pinned to 2.1, and tests/db/test_load.py
    checks the result)."""
    state_of(obj)._commit_all(obj.__dict__, session.identity_map)


async def read_existing(uow: UnitOfWork, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    """The rows among ``ids`` that exist in the scope's restaurant, unlocked, without a 404
    for the others."""
    uow.bound_scope()
    wanted = sorted({row_id for row_id in ids if row_id in INT64})
    return await _read(uow, model, wanted, lock=False) if wanted else {}


async def _load(uow: UnitOfWork, model: type[M], ids: Sequence[int], *, lock: bool) -> dict[int, M]:
    for row_id in ids:
        if row_id not in INT64:  # no row can have it, and no driver binds it
            raise _not_found(model, row_id)
    found = await _read(uow, model, ids, lock=lock)
    for row_id in ids:
        if row_id not in found:
            raise _not_found(model, row_id)
    return found


async def _read(uow: UnitOfWork, model: type[M], ids: Sequence[int], *, lock: bool) -> dict[int, M]:
    """The rows among ``ids`` (all 64-bit) that the scope's restaurant has."""
    many = len(ids) > 1
    query = _load_query(model, lock=lock, many=many)
    params = {"ids": list(ids)} if many else {"id": ids[0]}
    found = await uow.session.run_sync(_materialize, model, query, params, lock)
    if uow.write:
        note_read(uow.session.sync_session, found.values())
    return found


def _materialize(
    session: Session,
    model: type[M],
    query: rows.RowQuery,
    params: dict[str, Any],
    refresh: bool,
) -> dict[int, M]:
    """The rows ``query`` finds, as the session's persistent objects (what a ``select(model)``
    gives, at a fifth of its cost: the ORM compiles, adds its criteria and builds a loader
    for every statement). As with ``populate_existing``, ``refresh`` writes the values read
    over an object the session already holds; otherwise the held object is kept."""
    found: dict[int, M] = {}
    if refresh:  # a row lock: the restaurant's comes first (app.db.locks)
        take_restaurant_lock(session)
    for row in rows.run(session, query, params, typed=True):
        values = dict(zip(query.columns, row, strict=True))
        kept = held(session, model, values["id"])
        if kept is not None and not refresh and not state_of(kept).expired_attributes:
            found[values["id"]] = kept
            continue
        if kept is None:
            obj = inspect(model).class_manager.new_instance()
            # As the ORM's loader fills a new object: straight into its dict, no history.
            obj.__dict__.update(values)
            make_transient_to_detached(obj)
            session.add(obj)
        else:
            obj = kept
            obj.__dict__.update(values)
            committed(session, obj)  # what it held changed is dropped for what was read
        found[values["id"]] = obj
    return found


# ----- writing changed rows -------------------------------------------------------------------

_UPDATES: dict[tuple[type[Any], frozenset[str]], rows.RowQuery] = {}


def update_query(model: type[Any], keys: frozenset[str]) -> rows.RowQuery:
    """``UPDATE model SET <keys>, version, updated_at WHERE id, restaurant_id and version``:
    the UPDATE the ORM would send for these changed columns, with its version check."""
    query = _UPDATES.get((model, keys))
    if query is None:
        values: dict[str, Any] = {key: bindparam(key) for key in sorted(keys)}
        values.update(version=bindparam("new_version"), updated_at=bindparam("updated_at"))
        query = _UPDATES[(model, keys)] = rows.RowQuery(
            update(model)
            .where(
                model.id == bindparam("id"),
                model.restaurant_id == bindparam(rows.SCOPE_PARAM),
                model.version == bindparam("old_version"),
            )
            .values(values)
        )
    return query


# The floor's models (each with a change event), whose changes flush() may write itself, by
# their tables' order in the schema (referenced before referencing).
_TABLE_ORDER = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
FLOOR = {
    m.class_: _TABLE_ORDER[m.class_.__tablename__]
    for m in Base.registry.mappers
    if hasattr(m.class_, "__entity__")
}
# Those whose new rows flush() may insert: every default is a Python value or function, so
# it fills them as the ORM would (a server default or a SQL expression is left to the ORM).
_INSERTABLE = frozenset(
    model
    for model in FLOOR
    if all(
        c.server_default is None
        and (c.default is None or c.default.is_scalar or c.default.is_callable)
        for c in model.__table__.c
    )
)


# Set while a run of batch items defers its writes to one coalesced write (app.db.coalesce).
DEFER_KEY = "qtable_defer_writes"


async def flush(uow: UnitOfWork) -> None:
    """Write the changes the session holds, as ``session.flush()`` does.

    When only rows of the floor (guests, tables, reservations) have changed, nothing new
    and nothing deleted, each changed row is written here by one prebuilt UPDATE of its
    changed columns, with the version check and the bookkeeping of the ORM's flush hooks:
    the restaurant lock first, the revision noted, the change event recorded. When the one
    pending change is a new such row, it is written by one prebuilt INSERT (``_insert``).
    The ORM's flush costs several times as much for the same statements. Anything else is
    flushed by the ORM.

    While a batch defers its writes (``app.db.coalesce``), nothing is written here: the rows
    changed stay in the session, locked, until the batch writes them all at once."""
    if uow.session.info.get(DEFER_KEY):
        return
    await uow.session.run_sync(_flush)


def start_writing(session: Session) -> None:
    """What the ORM's flush hooks do before it writes: the restaurant lock first
    (``app.db.locks``), and the transaction noted as a write for the revision."""
    take_restaurant_lock(session)
    session.info[revision.WROTE_KEY] = True


def _flush(session: Session) -> None:
    new = list(session.new)
    scope = scope_of(session)
    if (
        scope is None
        or session.deleted
        or not all(type(o) in FLOOR for o in (*new, *session.dirty))
        or (new and (len(new) > 1 or session.dirty or type(new[0]) not in _INSERTABLE))
    ):
        session.flush()
        return
    if new:
        _insert(session, scope, new[0])
        return
    changed = []
    for obj in session.dirty:
        state = state_of(obj)
        keys = frozenset(k for k, old in state.committed_state.items() if state.dict[k] != old)
        if keys:
            changed.append((obj, keys))
    if not changed:
        return
    start_writing(session)
    now = utcnow()
    # By table (in the schema's order), then by primary key.
    for obj, keys in sorted(changed, key=lambda c: (FLOOR[type(c[0])], c[0].id)):
        model = type(obj)
        check_written_row(obj, scope)
        params = {key: getattr(obj, key) for key in keys}
        params.update(
            id=obj.id, old_version=obj.version, new_version=obj.version + 1, updated_at=now
        )
        matched = rows.execute(session, update_query(model, keys), params)
        if matched != 1:
            raise StaleDataError(
                f"UPDATE of {model.__tablename__} {obj.id} at version {obj.version} "
                f"matched {matched} rows"
            )
        obj.__dict__.update(version=obj.version + 1, updated_at=now)
        committed(session, obj)
        record_change(session, obj)


_INSERTS: dict[type[Any], rows.RowQuery] = {}


def _insert_query(model: type[Any]) -> rows.RowQuery:
    """``INSERT INTO model (every column but id) VALUES (...) RETURNING id``."""
    query = _INSERTS.get(model)
    if query is None:
        values: dict[str, Any] = {c.key: bindparam(c.key) for c in model.__table__.c}
        values.pop("id")
        values[RESTAURANT] = bindparam(rows.SCOPE_PARAM)
        query = _INSERTS[model] = rows.RowQuery(insert(model).values(values).returning(model.id))
    return query


class _Defaults:
    """What a column default that reads the row being inserted is given (``context``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get_current_parameters(self) -> dict[str, Any]:
        return self._values


def _insert(session: Session, scope: RestaurantScope, obj: Any) -> None:
    """The one new row of the floor a flush writes: its columns' defaults as the ORM would
    fill them (a value never set takes its column's default), one INSERT, and the object
    made persistent with every value it was written with."""
    model = type(obj)
    check_written_row(obj, scope)
    start_writing(session)
    values: dict[str, Any] = {}
    for column in model.__table__.c:
        if column.key == "id":
            continue
        if column.key in obj.__dict__:
            values[column.key] = obj.__dict__[column.key]
        elif column.default is None:
            values[column.key] = None
        elif column.default.is_callable:
            values[column.key] = column.default.arg(_Defaults(values))
        else:
            values[column.key] = column.default.arg
    params = {k: v for k, v in values.items() if k != RESTAURANT}
    (row,) = rows.run(session, _insert_query(model), params)
    session.expunge(obj)
    obj.__dict__.update(values, id=row[0])
    make_transient_to_detached(obj)
    session.add(obj)
    record_change(session, obj)


def check_version(row: Any, expected: int | None, *, early: bool = False) -> None:
    """If-Match: 412 unless the row still has the version the client read. Compared only on
    a row locked in this transaction, so no concurrent writer can change it afterwards.

    ``early`` allows an unlocked row, for a refusal before slow work (argon2): versions only
    grow, so a row already past the version is refused rightly. Passing it decides nothing:
    the write must compare again on the locked row."""
    if expected is None:
        return
    if not early and not is_locked(object_session(row), row):
        raise LockOrderError(f"{type(row).__name__} {row.id}: version checked without its lock")
    if row.version != expected:
        raise PreconditionFailed(
            f"{type(row).__name__} {row.id} is at version {row.version}, not {expected}",
            details={"currentVersion": row.version},
        )


class JSONBody(Response):
    """A response already written as JSON (``app.core.wire``): FastAPI sends it as it is,
    while the route's ``response_model`` still documents it."""

    media_type = "application/json"


def row_body(row: Any, schema: type[BaseModel], status_code: int = 200) -> JSONBody:
    """A row the unit of work holds, as the JSON of ``schema`` (``app.core.wire``): what
    ``schema.model_validate(row)`` would give, without validating what was just read or
    written."""
    names = tuple(schema.model_fields)
    values = [getattr(row, name) for name in names]
    return JSONBody(row_encoder(schema, names)(values).encode(), status_code=status_code)


async def page_of(
    uow: UnitOfWork,
    query: Select[Any] | Callable[[], Select[Any]],
    schema: type[BaseModel],
    order: Sequence[InstrumentedAttribute[Any]],
    key_types: tuple[type, ...],
    *,
    limit: int,
    cursor: str | None,
    cache_as: tuple[Any, ...] | None = None,
) -> JSONBody:
    """One page of ``query`` in ``order`` (which ends with the id, so the order is total),
    continuing after the row the cursor names, as the JSON of ``Page[schema]``. The cursor
    holds that row's sort key, or for a text key too long for it, what finds that key again
    (``_after_cursor``).

    ``cache_as`` names the query (everything it depends on besides the restaurant, the
    limit and the cursor): a read unit of work then answers from the page cache while the
    restaurant's revision is the one the page was read at. Only for a query whose rows
    depend on nothing but the restaurant's rows (not on the clock). ``query`` may be a
    function that builds the statement: a page answered from the cache does not build it
    (a SELECT of 16 columns costs ~80 us to build)."""
    if cache_as is not None and not uow.write:
        # The page of a cut cursor also depends on its row's current key: a row of this
        # restaurant, so a page kept under the revision is right for that cursor too.
        key = (uow.bound_scope().restaurant_id, *cache_as, limit, cursor)
        found_revision = await rows.fetch(uow, revision.CURRENT)
        if not found_revision:
            raise NotFound("Restaurant not found")
        current = found_revision[0][0]
        cached = uow.db.pages.get(key, current)
        if cached is not None:
            return JSONBody(cached)
        page = await page_of(uow, query, schema, order, key_types, limit=limit, cursor=cursor)
        # Read after the revision: the page is at least as new as the revision it is kept
        # under, so it is never older than what a reader who finds that revision may see.
        uow.db.pages.put(key, current, bytes(page.body))
        return page
    stmt = query() if callable(query) else query
    label = _list_label(order)
    if cursor is not None:
        stmt = stmt.where(await _after_cursor(uow, order, key_types, label, cursor))
    stmt = stmt.order_by(*order).limit(limit + 1)
    found = await rows.fetch(uow, stmt)
    names = rows.columns(stmt)
    encode = row_encoder(schema, names)
    items = [encode(row) for row in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        positions = [names.index(column.key) for column in order]
        key = _sort_key(found[limit - 1], positions, key_types)
        next_cursor = encode_cursor(*key, label=label)
    return JSONBody(page_body(items, next_cursor))


def _list_label(order: Sequence[InstrumentedAttribute[Any]]) -> str:
    """What tells one list's cursors from another's: the table the rows come from."""
    return str(order[-1].class_.__tablename__)


def _sort_key(row: Any, positions: Sequence[int], key_types: tuple[type, ...]) -> tuple[Any, ...]:
    """A row's sort key from the values at ``positions``, as the cursor holds it."""
    key = []
    for at, kind in zip(positions, key_types, strict=True):
        value = row[at]
        if kind is datetime and isinstance(value, str):
            value = parse_stored_timestamp(value)
        key.append(value)
    return tuple(key)


async def _after_cursor(
    uow: UnitOfWork,
    order: Sequence[InstrumentedAttribute[Any]],
    key_types: tuple[type, ...],
    label: str,
    cursor: str,
) -> ColumnElement[bool]:
    """The condition for the rows after the one the cursor names."""
    key = decode_cursor(cursor, key_types, label)
    values, inclusive = key.values, False
    if key.digest is not None:
        # The row's text key was too long for the cursor, which holds its id, a prefix and a
        # digest of the whole text. If the row still has that text, its key is known again.
        current = await _current_key(uow, order, key_types, key.values[-1])
        text_at = key_types.index(str)
        if current is not None and key_digest(current[text_at]) == key.digest:
            values = current
        else:
            # Deleted or renamed since: go on from the prefix itself (the old key sorted at or
            # after it), which may repeat rows but misses none. Going on after the renamed
            # row's new key instead would skip the unchanged rows between its old key and its
            # new one.
            values = (*values[: text_at + 1], *(INT64.start for _ in values[text_at + 1 :]))
            inclusive = True
    # Each value binds with its column's type (timestamps are stored as naive UTC text on
    # SQLite); text compares by code point in both databases (app.models.dining_table).
    bound = tuple_(*(literal(v, column.type) for v, column in zip(values, order, strict=True)))
    return tuple_(*order) >= bound if inclusive else tuple_(*order) > bound


async def _current_key(
    uow: UnitOfWork,
    order: Sequence[InstrumentedAttribute[Any]],
    key_types: tuple[type, ...],
    row_id: int,
) -> tuple[Any, ...] | None:
    """The sort key the row with that id has now in the scope's restaurant, or None."""
    query = _by_id(cast(type[Any], order[-1].class_))
    found = await rows.fetch(uow, query, {"id": row_id})
    if not found:
        return None
    return _sort_key(found[0], [query.columns.index(column.key) for column in order], key_types)


_BY_ID: dict[type[Any], rows.RowQuery] = {}


def _by_id(model: type[Any]) -> rows.RowQuery:
    query = _BY_ID.get(model)
    if query is None:
        query = _BY_ID[model] = rows.RowQuery(
            select(*columns_of(model)).where(
                model.id == bindparam("id"),
                model.restaurant_id == bindparam(rows.SCOPE_PARAM),
            )
        )
    return query


async def read_one(
    uow: UnitOfWork, model: type[M], schema: type[BaseModel], row_id: int
) -> JSONBody:
    """The row of this restaurant with that id as the JSON of ``schema``, or 404 exactly as
    :func:`load` answers."""
    if row_id not in INT64:  # as in load()
        raise _not_found(model, row_id)
    query = _by_id(model)
    found = await rows.fetch(uow, query, {"id": row_id})
    if not found:
        raise _not_found(model, row_id)
    return JSONBody(row_encoder(schema, query.columns)(found[0]).encode())
