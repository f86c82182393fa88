"""Tables: layout (owners and managers), status, and seating from the table's side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from app.core.errors import Duplicate, Forbidden, TableOccupied, field_error
from app.core.vocabulary import Role, TableStatus
from app.db.repository import JSONBody, check_version, columns_of, flush, load, page_of, read_one
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.deps import ROLE_RANK
from app.guests import service as guests
from app.models import DiningTable, Reservation
from app.tables import schemas


def _require_manager(scope: RestaurantScope, action: str) -> None:
    if ROLE_RANK[scope.role] < ROLE_RANK[Role.MANAGER]:
        raise Forbidden(f"Only owners and managers may {action} tables")


async def list_tables(
    uow: UnitOfWork,
    scope: RestaurantScope,
    *,
    statuses: Sequence[str] | None,
    section: str | None,
    limit: int,
    cursor: str | None,
) -> JSONBody:
    def query() -> Select[Any]:
        stmt = select(*columns_of(DiningTable)).where(
            DiningTable.restaurant_id == scope.restaurant_id
        )
        if statuses:
            stmt = stmt.where(DiningTable.status.in_(statuses))
        if section is not None:
            stmt = stmt.where(DiningTable.section == section)
        return stmt

    return await page_of(
        uow,
        query,
        schemas.Table,
        (DiningTable.table_number, DiningTable.id),
        (str, int),
        limit=limit,
        cursor=cursor,
        cache_as=("tables", tuple(statuses) if statuses else None, section),
    )


async def get_table(uow: UnitOfWork, scope: RestaurantScope, table_id: int) -> JSONBody:
    return await read_one(uow, DiningTable, schemas.Table, table_id)


async def _number_taken(
    uow: UnitOfWork, scope: RestaurantScope, number: str, excluding: int | None = None
) -> bool:
    stmt = select(DiningTable.id).where(
        DiningTable.restaurant_id == scope.restaurant_id, DiningTable.table_number == number
    )
    found = await uow.session.scalar(stmt)
    return found is not None and found != excluding


def _duplicate(number: str) -> Duplicate:
    return Duplicate(f"Table {number} already exists", details={"field": "tableNumber"})


async def _flush_layout(uow: UnitOfWork, number: str) -> None:
    try:
        await flush(uow)
    except IntegrityError as exc:  # a concurrent create or renumber won the race
        raise _duplicate(number) from exc


async def create_table(
    uow: UnitOfWork, scope: RestaurantScope, data: schemas.TableCreate
) -> DiningTable:
    _require_manager(scope, "create")
    if await _number_taken(uow, scope, data.table_number):
        raise _duplicate(data.table_number)
    table = DiningTable(restaurant_id=scope.restaurant_id, **data.model_dump())
    uow.session.add(table)
    await _flush_layout(uow, data.table_number)
    return table


async def update_table(
    uow: UnitOfWork,
    scope: RestaurantScope,
    table_id: int,
    data: schemas.TableUpdate,
    *,
    if_match: int | None = None,
) -> DiningTable:
    changes = data.changes()
    allow_over_capacity = bool(changes.pop("allow_over_capacity", False))
    if schemas.LAYOUT_FIELDS & changes.keys():
        _require_manager(scope, "renumber, resize or arrange")
    table = await load(uow, DiningTable, table_id, lock=True)
    check_version(table, if_match)

    if "current_guest_id" in changes:
        guest_id = changes.pop("current_guest_id")
        if guest_id is not None:
            await guests.seat_guest(
                uow, scope, guest_id, table.id, allow_over_capacity=allow_over_capacity
            )
        elif table.current_guest_id is not None:
            await guests.complete_guest(uow, scope, table.current_guest_id)

    status = changes.pop("status", None)
    if status is not None and status != table.status:
        if table.status == TableStatus.OCCUPIED:
            raise TableOccupied(
                f"Table {table.table_number} is occupied by guest {table.current_guest_id}; "
                "complete or move the guest first",
                details={"tableId": table.id, "currentGuestId": table.current_guest_id},
            )
        table.status = status

    number = changes.get("table_number")
    if (
        number is not None
        and number != table.table_number
        and await _number_taken(uow, scope, number, excluding=table.id)
    ):
        raise _duplicate(number)
    capacity = changes.get("capacity", table.capacity)
    if changes.get("min_capacity", table.min_capacity) > capacity:
        raise field_error(["body", "minCapacity"], "minCapacity must not exceed capacity")
    for field, value in changes.items():
        setattr(table, field, value)
    await _flush_layout(uow, table.table_number)
    return table


async def delete_table(
    uow: UnitOfWork, scope: RestaurantScope, table_id: int, *, if_match: int | None = None
) -> None:
    _require_manager(scope, "delete")
    table = await load(uow, DiningTable, table_id, lock=True)
    check_version(table, if_match)
    if table.current_guest_id is not None:
        raise TableOccupied(
            f"Table {table.table_number} is occupied by guest {table.current_guest_id}",
            details={"tableId": table.id, "currentGuestId": table.current_guest_id},
        )
    # Reservations keep their booking but no longer hold this table.
    held = (
        await uow.session.scalars(
            select(Reservation).where(Reservation.table_id == table.id).with_for_update()
        )
    ).all()
    for reservation in held:
        reservation.table_id = None
    await flush(uow)
    await uow.session.delete(table)
    await flush(uow)
