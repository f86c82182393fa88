"""Coalesced writes: a run of batch items that change guests writes each changed row once.

Applied one by one, 150 seat, move, complete and status changes wrote ~270 UPDATEs, most of a
batch's time. While a run of such items defers its writes (``repository.flush`` then writes
nothing), the rows stay in the session, locked (every one was locked before it was changed),
and each item still sees the state the items before it left. After each item,
:func:`end_of_item` adds one to the version of every row that item changed, as its own write
would have: a later item's ``version`` is compared with it, and a row changed by three items
is three versions further on. :func:`write` then sends one UPDATE per changed row, with the
version check against the version the transaction read.

Only the order needs care. ``guests.table_id`` and ``dining_tables.current_guest_id`` are
unique, and checked row by row: a guest may take a table only once the row that held it has
let go of it. Rows are written after the rows whose value they take; where such waits form a
cycle (two parties swap tables), one row of it first lets go (its table, or its guest: a state
its CHECK constraint allows, the version untouched) and is written again at its turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.core.vocabulary import GuestStatus, TableStatus
from app.db import repository, rows
from app.db.base import utcnow
from app.db.session import UnitOfWork, record_change
from app.db.tenancy import check_written_row, scope_of
from app.models import DiningTable, Guest

# Per session, while deferring: the version each changed row was read at, and the values of
# its changed columns after the last item.
_READ_AT = "qtable_coalesce_read_at"
_SEEN = "qtable_coalesce_seen"

# The unique column of each model whose value moves between rows, and the state a row takes
# while it lets go of it (allowed by the model's CHECK constraint).
_UNIQUE: dict[type[Any], tuple[str, dict[str, Any]]] = {
    Guest: ("table_id", {"table_id": None, "status": GuestStatus.WAITING}),
    DiningTable: ("current_guest_id", {"current_guest_id": None, "status": TableStatus.AVAILABLE}),
}


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    # A batch that failed half way leaves nothing deferred to the session's next transaction.
    if transaction.parent is None:
        for key in (repository.DEFER_KEY, _READ_AT, _SEEN):
            session.info.pop(key, None)


def begin(uow: UnitOfWork) -> None:
    uow.session.info[repository.DEFER_KEY] = True


def deferring(uow: UnitOfWork) -> bool:
    return bool(uow.session.info.get(repository.DEFER_KEY))


def _changed(obj: Any) -> dict[str, Any]:
    """The columns whose value differs from the one read, with their values now."""
    state = repository.state_of(obj)
    return {
        key: state.dict[key]
        for key, read in state.committed_state.items()
        if key != "version" and state.dict[key] != read
    }


def end_of_item(uow: UnitOfWork, touched: Iterable[tuple[type[Any], int | None]]) -> None:
    """One more version for each of the rows the item just applied may have changed
    (``touched``: model and id; rows the session does not hold are skipped) that it did
    change. Looking at every row the session holds after each item would cost more than the
    writes saved."""
    session = uow.session.sync_session
    read_at: dict[Any, int] = session.info.setdefault(_READ_AT, {})
    seen: dict[Any, dict[str, Any]] = session.info.setdefault(_SEEN, {})
    for model, row_id in set(touched):
        if row_id is None:
            continue
        obj = repository.held(session, model, row_id)
        if obj is None:
            continue
        key = (model, row_id)
        now = _changed(obj)
        if now != seen.get(key, {}):
            read_at.setdefault(key, obj.version)
            obj.__dict__["version"] = obj.version + 1  # not a change of its own: no history
            seen[key] = now


async def write(uow: UnitOfWork) -> None:
    """Write every row the deferred items changed, and stop deferring."""
    if not deferring(uow):
        return
    await uow.session.run_sync(_write)


def _write(session: Session) -> None:
    read_at: dict[Any, int] = session.info.pop(_READ_AT, {})
    session.info.pop(_SEEN, None)
    session.info.pop(repository.DEFER_KEY, None)
    if session.new or session.deleted:
        raise RuntimeError("a deferred run of items created or deleted rows")
    changed = []
    for obj in session.dirty:
        if type(obj) not in repository.FLOOR:
            raise RuntimeError(f"a deferred run of items changed {type(obj).__name__}")
        key = (type(obj), obj.id)
        keys = frozenset(_changed(obj))
        if key not in read_at:
            if not keys:
                continue
            # Changed by an item that did not name it: one change, one version.
            read_at[key] = obj.version
            obj.__dict__["version"] = obj.version + 1
        changed.append((obj, keys))
    if not changed:
        return
    scope = scope_of(session)
    assert scope is not None
    repository.start_writing(session)
    now = utcnow()
    for obj, _ in changed:
        check_written_row(obj, scope)
    for model in sorted({type(obj) for obj, _ in changed}, key=repository.FLOOR.__getitem__):
        ours = sorted((c for c in changed if type(c[0]) is model), key=lambda c: c[0].id)
        releases, order = _order(model, ours)
        for obj in releases:
            _let_go(session, obj, read_at[(model, obj.id)])
        let_go = {id(obj) for obj in releases}
        runs: list[tuple[frozenset[str], list[Any]]] = []
        for obj, keys in order:
            if id(obj) in let_go:  # what it set aside is written back too
                keys = keys | frozenset(_UNIQUE[model][1])
            if runs and runs[-1][0] == keys:
                runs[-1][1].append(obj)
            else:
                runs.append((keys, [obj]))
        # Consecutive rows of one shape in one executemany, the order kept.
        for keys, objs in runs:
            values = []
            for obj in objs:
                row = {key: getattr(obj, key) for key in keys}
                row.update(
                    id=obj.id,
                    old_version=read_at[(model, obj.id)],
                    new_version=obj.version,
                    updated_at=now,
                )
                values.append(row)
            matched = rows.execute_many(session, repository.update_query(model, keys), values)
            if matched is None:  # not counted by the driver: read the versions back
                matched = _at_versions(session, model, objs)
            if matched != len(objs):
                raise StaleDataError(
                    f"{len(objs)} UPDATEs of {model.__tablename__} matched {matched} rows"
                )
            for obj in objs:
                obj.__dict__["updated_at"] = now
                repository.committed(session, obj)
                record_change(session, obj)


def _order(model: type[Any], changed: list[tuple[Any, frozenset[str]]]) -> tuple[list[Any], Any]:
    """The rows that must let go of their unique value first (one per cycle of waits), and
    every row in an order where each comes after the row whose value it takes."""
    column = _UNIQUE.get(model, (None, {}))[0]
    holder: dict[Any, Any] = {}
    for obj, keys in changed:
        if column in keys:
            read = repository.state_of(obj).committed_state[column]
            if read is not None:
                holder[read] = obj
    releases: list[Any] = []
    order: list[tuple[Any, frozenset[str]]] = []
    keys_of = {id(obj): keys for obj, keys in changed}
    visiting, done = set(), set()
    for start, _ in changed:
        # Depth first, without recursion: a chain of moves may be as long as the batch.
        stack = [start]
        while stack:
            obj = stack[-1]
            if id(obj) in done:
                stack.pop()
                continue
            visiting.add(id(obj))
            wanted = obj.__dict__.get(column) if column in keys_of[id(obj)] else None
            blocker = holder.get(wanted) if wanted is not None else None
            if blocker is not None and blocker is not obj and id(blocker) not in done:
                if id(blocker) in visiting:  # a cycle: the blocker lets go first
                    releases.append(blocker)
                    holder.pop(wanted)
                else:
                    stack.append(blocker)
                    continue
            visiting.discard(id(obj))
            done.add(id(obj))
            order.append((obj, keys_of[id(obj)]))
            stack.pop()
    return releases, order


_VERSIONS: dict[type[Any], rows.RowQuery] = {}


def _at_versions(session: Session, model: type[Any], objs: list[Any]) -> int:
    """How many of ``objs`` the database holds at the version just written: each UPDATE
    matched its row only at the version read, and only it can have set the new one (the rows
    are locked)."""
    query = _VERSIONS.get(model)
    if query is None:
        query = _VERSIONS[model] = rows.RowQuery(
            select(model.id, model.version).where(
                model.id.in_(bindparam("ids", expanding=True)),
                model.restaurant_id == bindparam(rows.SCOPE_PARAM),
            )
        )
    found = dict(rows.run(session, query, {"ids": [obj.id for obj in objs]}))
    return sum(found.get(obj.id) == obj.version for obj in objs)


def _let_go(session: Session, obj: Any, version: int) -> None:
    """The row's unique value set aside, in a state its CHECK allows; its version kept."""
    model = type(obj)
    neutral = _UNIQUE[model][1]
    values = {**neutral, "id": obj.id, "old_version": version, "new_version": version}
    values["updated_at"] = obj.updated_at
    _update(session, repository.update_query(model, frozenset(neutral)), values)


def _update(session: Session, query: rows.RowQuery, values: dict[str, Any]) -> None:
    matched = rows.execute(session, query, values)
    if matched != 1:
        raise StaleDataError(
            f"UPDATE of row {values['id']} at version {values['old_version']} matched {matched}"
        )
