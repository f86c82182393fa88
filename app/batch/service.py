"""A batch applied item by item through the single endpoints' own service functions, in one
transaction: every rule, role check and invariant is theirs.

Lock order: every write of a restaurant takes the restaurant lock first (app.db.locks), so a
batch and any single request of the same restaurant run one after the other; the rows each
item locks after that cannot form a cycle with another writer's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from app.batch import schemas
from app.core.errors import AppError, PreconditionFailed, ValidationFailed, VersionConflict
from app.db import coalesce, revision, rows
from app.db.repository import JSONBody, held, lock_existing, read_existing
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.guests import schemas as guest_schemas
from app.guests import service as guests
from app.models import DiningTable, Guest, Reservation
from app.reservations import schemas as reservation_schemas
from app.reservations import service as reservations
from app.sync.changes import ENTITIES, encode_changes
from app.sync.cursor import Cursors
from app.sync.log import STATE
from app.tables import schemas as table_schemas
from app.tables import service as tables

# Applied in this order (docs/contract.md), whatever order the body gives them in.
ORDER = ("tables", "guests", "reservations")


class _Entity:
    def __init__(
        self,
        create: Callable[..., Awaitable[Any]],
        update: Callable[..., Awaitable[Any]],
        delete: Callable[..., Awaitable[None]],
        create_body: type[BaseModel],
        update_body: type[BaseModel],
    ) -> None:
        self.create, self.update, self.delete = create, update, delete
        self.create_body, self.update_body = create_body, update_body


_ENTITIES = {
    "tables": _Entity(
        tables.create_table,
        tables.update_table,
        tables.delete_table,
        table_schemas.TableCreate,
        table_schemas.TableUpdate,
    ),
    "guests": _Entity(
        guests.create_guest,
        guests.update_guest,
        guests.delete_guest,
        guest_schemas.GuestCreate,
        guest_schemas.GuestUpdate,
    ),
    "reservations": _Entity(
        reservations.create_reservation,
        reservations.update_reservation,
        reservations.delete_reservation,
        reservation_schemas.ReservationCreate,
        reservation_schemas.ReservationUpdate,
    ),
}


async def _apply(uow: UnitOfWork, scope: RestaurantScope, entity: str, item: Any) -> int:
    does = _ENTITIES[entity]
    if item.op == "create":
        row = await does.create(uow, scope, schemas.single_body(does.create_body, item))
        return int(row.id)
    if item.op == "update":
        body = schemas.single_body(does.update_body, item)
        await does.update(uow, scope, item.id, body, if_match=item.version)
    else:
        await does.delete(uow, scope, item.id, if_match=item.version)
    return int(item.id)


def _at(exc: AppError, entity: str, index: int) -> AppError:
    """The error of the item at ``index`` of ``entity``, naming it. A version that differs is
    a 409 here (docs/contract.md, Batch), not If-Match's 412; a field error points into the item."""
    if isinstance(exc, PreconditionFailed):
        exc = VersionConflict(exc.message, details=exc.details)
    if isinstance(exc, ValidationFailed):
        for error in exc.details.get("errors", ()):
            loc = list(error.get("loc", ()))
            if loc[:1] == ["body"]:
                error["loc"] = ["body", entity, index, *loc[1:]]
    exc.details = {**exc.details, "entity": entity, "index": index}
    return exc


async def _lock_named_rows(uow: UnitOfWork, batch: schemas.BatchRequest) -> list[Any]:
    """Lock up front, a kind at a time and in the lock order of app.db.locks, the tables and
    guests the items name and the tables those guests sit at: three statements, where item by
    item each would read its rows again. A row that does not exist is left to its item's own
    404. The rows are returned to be held: the session keeps only weak references to rows
    that are not modified, and would read a row again once it was collected."""
    guest_ids = {item.id for item in batch.guests if item.op != "create"}
    guest_ids |= {
        item.current_guest_id
        for item in batch.tables
        if item.op == "update" and getattr(item, "current_guest_id", None) is not None
    }
    table_ids = {item.id for item in batch.tables if item.op != "create"}
    table_ids |= {
        item.table_id
        for item in batch.guests
        if item.op == "update" and getattr(item, "table_id", None) is not None
    }
    sitting = await read_existing(uow, Guest, guest_ids)  # where they sit now
    table_ids |= {g.table_id for g in sitting.values() if g.table_id is not None}
    tables_held = await lock_existing(uow, DiningTable, table_ids)
    guests_held = await lock_existing(uow, Guest, guest_ids)
    return [*tables_held.values(), *guests_held.values()]


def _guest(uow: UnitOfWork, guest_id: int) -> Guest | None:
    session = uow.session.sync_session
    found: Guest | None = held(session, Guest, guest_id)
    return found


def _sitting(uow: UnitOfWork, guest_id: int) -> int | None:
    guest = _guest(uow, guest_id)
    return None if guest is None else guest.table_id


def _touched(uow: UnitOfWork, guest_id: int, table_before: int | None) -> list[Any]:
    """The rows a guest update may change: the guest, the tables it sat at and sits at, and
    its reservation."""
    guest = _guest(uow, guest_id)
    if guest is None:
        return []
    return [
        (Guest, guest_id),
        (DiningTable, table_before),
        (DiningTable, guest.table_id),
        (Reservation, guest.reservation_id),
    ]


async def apply(
    uow: UnitOfWork, scope: RestaurantScope, cursors: Cursors, batch: schemas.BatchRequest
) -> Response:
    kept = await _lock_named_rows(uow, batch)
    results: dict[str, list[str]] = {entity: [] for entity in ENTITIES}
    for entity in ORDER:
        for index, item in enumerate(getattr(batch, entity)):
            # A run of guest updates writes its rows once, at its end (app.db.coalesce);
            # any other item is applied and written on its own.
            coalesced = entity == "guests" and item.op == "update"
            if coalesced and not coalesce.deferring(uow):
                coalesce.begin(uow)
            elif not coalesced:
                await coalesce.write(uow)
            before = _sitting(uow, item.id) if coalesced else None
            try:
                row_id = await _apply(uow, scope, entity, item)
            except AppError as exc:
                raise _at(exc, entity, index) from None
            if coalesced:
                coalesce.end_of_item(uow, _touched(uow, item.id, before))
            client_id = getattr(item, "client_id", None)
            results[entity].append(
                f'{{"index":{index},"id":{row_id},'
                f'"clientId":{"null" if client_id is None else encode_basestring(client_id)},'
                f'"op":"{item.op}"}}'
            )
    await coalesce.write(uow)
    took = await uow.session.run_sync(revision.take)
    del kept
    current, _, timezone = (await rows.fetch(uow, STATE))[0]
    position = cursors.position(current, timezone)
    cursor = cursors.issue(scope.restaurant_id, position)
    previous = cursor
    if took is not None and took == current:
        previous = cursors.issue(scope.restaurant_id, position.at(position.revision - 1))
    changes = encode_changes(uow.changes)
    done = ",".join(f'"{entity}":[{",".join(results[entity])}]' for entity in ENTITIES)
    body = (
        f'{{"cursor":"{cursor}","previousCursor":"{previous}","results":{{{done}}},' + changes[1:]
    )
    return JSONBody(body.encode())
