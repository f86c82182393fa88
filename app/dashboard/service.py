"""The dashboard's reads: a full snapshot of the floor, or the rows changed since a cursor.

The restaurant's revision is read first, then the rows: every row read is at least as new as
that revision, so a client that continues from its cursor may get a row again, never miss one
(a row changed after it is in the change log after it). The change log
(``app.models.change_log``) says which rows changed after a cursor; their current state is read
from their tables.

A full snapshot is kept per restaurant, ``minimal`` and window (``app.sync.cursor``) in the
page cache, under the revision it was read at (``app.db.session.PageCache``): every process
reads the revision from the database before it answers from its cache, so a write committed
by any process makes every process read the snapshot again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import bindparam, select

from app.core.errors import NotFound
from app.core.wire import row_encoder, timestamp
from app.db import rows
from app.db.base import UTCDateTime
from app.db.repository import JSONBody
from app.db.session import UnitOfWork
from app.guests.schemas import Guest as GuestSchema
from app.models import DiningTable, Guest, Reservation, Restaurant, User
from app.models.guest import ACTIVE_GUEST_STATUSES
from app.reservations.schemas import Reservation as ReservationSchema
from app.sync.changes import EMPTY_DELETED, ENTITIES, MINIMAL_SCHEMAS, fold
from app.sync.cursor import Cursors, Position
from app.sync.log import LOG_AFTER
from app.tables.schemas import Table as TableSchema

_MODELS: dict[str, Any] = {"guests": Guest, "tables": DiningTable, "reservations": Reservation}
_FULL_SCHEMAS: dict[str, type[BaseModel]] = {
    "guests": GuestSchema,
    "tables": TableSchema,
    "reservations": ReservationSchema,
}
_ORDER = {
    "guests": ("arrived_at", "id"),
    "tables": ("table_number", "id"),
    "reservations": ("starts_at", "id"),
}
# Rows read by id at a time in a delta (bound parameters have a limit per statement).
_CHUNK = 500

# The token's user (app.deps.authenticate_reading) and the restaurant's revision, its change
# log's start and its time zone: what every dashboard request reads first, in one statement.
USER_AND_STATE = rows.RowQuery(
    select(
        User.role,
        User.token_generation,
        Restaurant.revision,
        Restaurant.change_log_start,
        Restaurant.timezone,
    ).where(
        User.id == bindparam("id"),
        User.restaurant_id == bindparam(rows.SCOPE_PARAM),
        Restaurant.id == bindparam(rows.SCOPE_PARAM),
    )
)


@dataclass(frozen=True, slots=True)
class _View:
    """How one entity is read and written for one ``minimal``: its columns, its encoder,
    its full-snapshot query, and its query by ids, which also selects the sort key after the
    columns the encoder writes (a minimal guest has no ``arrivedAt`` to sort by)."""

    names: tuple[str, ...]
    encode: Any
    snapshot: rows.RowQuery
    by_ids: rows.RowQuery
    sort_key: Any


def _view(entity: str, minimal: bool) -> _View:
    model = _MODELS[entity]
    schema = MINIMAL_SCHEMAS[entity] if minimal else _FULL_SCHEMAS[entity]
    names = tuple(schema.model_fields)
    selected = select(*(getattr(model, name) for name in names))
    order = [getattr(model, name) for name in _ORDER[entity]]
    mine = model.restaurant_id == bindparam(rows.SCOPE_PARAM)
    if entity == "guests":
        wanted = [mine, Guest.status.in_(bindparam("statuses", expanding=True))]
    elif entity == "reservations":
        wanted = [
            mine,
            Reservation.starts_at >= bindparam("start", type_=UTCDateTime()),
            Reservation.starts_at < bindparam("end", type_=UTCDateTime()),
        ]
    else:
        wanted = [mine]
    # Rows by ids come in chunks, each in order; their merge is sorted here, by the sort
    # key selected last. Both databases compare these keys as Python does: timestamps, and
    # text by code point (SQLite's BINARY, PostgreSQL's "C" collation on tableNumber).
    keyed = len(names)
    return _View(
        names=names,
        encode=row_encoder(schema, names),
        snapshot=rows.RowQuery(selected.where(*wanted).order_by(*order)),
        by_ids=rows.RowQuery(
            selected.add_columns(*order)
            .where(mine, model.id.in_(bindparam("ids", expanding=True)))
            .order_by(*order)
        ),
        sort_key=lambda row: (row[keyed], row[keyed + 1]),
    )


_VIEWS = {(e, minimal): _view(e, minimal) for e in ENTITIES for minimal in (True, False)}


def etag_of(cursor: str, since: str | None, minimal: bool) -> str:
    """The ETag of an answer: from its cursor and what was asked, not from its time."""
    digest = hashlib.sha256(f"{cursor}\0{since or ''}\0{int(minimal)}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


async def dashboard(
    uow: UnitOfWork,
    cursors: Cursors,
    *,
    state: Any,
    since: str | None,
    minimal: bool,
    if_none_match: str | None,
) -> Response:
    """The floor of the restaurant ``uow`` is bound to (its cursors, its cached snapshot and
    its rows alike). ``state``: the row :data:`USER_AND_STATE` read when the request was
    authenticated (None: read it now)."""
    scope = uow.bound_scope()
    if state is None:
        found = await rows.fetch(uow, USER_AND_STATE, {"id": scope.user_id})
        if not found:
            raise NotFound("Restaurant not found")
        state = found[0]
    _, _, revision, log_start, timezone = state
    now = cursors.now()
    position = cursors.position(revision, timezone, now)
    cursor = cursors.issue(scope.restaurant_id, position)
    after = cursors.read(scope.restaurant_id, since) if since is not None else None
    servable = position.serves(after, log_start)
    etag = etag_of(cursor, since if servable else None, minimal)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    # `rows` tells a client's decoder which of the two answer types this is (schemas.py).
    head = (
        f'{{"rows":"{"minimal" if minimal else "full"}","cursor":"{cursor}",'
        f'"fullSync":{"false" if servable else "true"},"serverTime":{timestamp(now)}'
    )
    if servable:
        assert after is not None
        tail = await _delta(uow, minimal, after.revision, position.revision)
    else:
        tail = await _snapshot(uow, minimal, position)
    return JSONBody(head.encode() + tail, headers=headers)


async def _snapshot(uow: UnitOfWork, minimal: bool, position: Position) -> bytes:
    # Kept under the restaurant the rows are read in: the unit of work's.
    key = (uow.bound_scope().restaurant_id, "dashboard", minimal, position.window)
    cached = uow.db.pages.get(key, position.revision)
    if cached is not None:
        return cached
    start, end = position.window.bounds
    params: dict[str, dict[str, Any]] = {
        "guests": {"statuses": list(ACTIVE_GUEST_STATUSES)},
        "tables": {},
        "reservations": {"start": start, "end": end},
    }
    arrays = []
    for entity in ENTITIES:
        view = _VIEWS[(entity, minimal)]
        found = await rows.fetch(uow, view.snapshot, params[entity])
        arrays.append(_array(entity, view, found))
    tail = ("," + ",".join(arrays) + ',"deleted":' + EMPTY_DELETED + "}").encode()
    uow.db.pages.put(key, position.revision, tail)
    return tail


async def _delta(uow: UnitOfWork, minimal: bool, after: int, upto: int) -> bytes:
    # Each row's last word in the log after the cursor: its state (read again, in full if
    # asked, from its table) or None for its deletion.
    entries = []
    if after < upto:
        entries = await rows.fetch(uow, LOG_AFTER, {"after": after, "upto": upto})
    last = fold(changes for _, changes in entries)
    arrays = []
    for entity in ENTITIES:
        view = _VIEWS[(entity, minimal)]
        changed = sorted(i for i, row in last[entity].items() if row is not None)
        found: list[Any] = []
        for start in range(0, len(changed), _CHUNK):
            found.extend(
                await rows.fetch(uow, view.by_ids, {"ids": changed[start : start + _CHUNK]})
            )
        if len(changed) > _CHUNK:
            found.sort(key=view.sort_key)
        arrays.append(_array(entity, view, found))
    deleted = ",".join(
        f'"{entity}":[{",".join(str(i) for i in sorted(_gone(last[entity])))}]'
        for entity in ENTITIES
    )
    return ("," + ",".join(arrays) + ',"deleted":{' + deleted + "}}").encode()


def _gone(last: dict[int, Any]) -> Iterable[int]:
    return (row_id for row_id, row in last.items() if row is None)


def _array(entity: str, view: _View, found: Sequence[Any]) -> str:
    encode = view.encode
    return f'"{entity}":[' + ",".join(encode(row) for row in found) + "]"
