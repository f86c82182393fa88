"""The waitlist and seating: every write path that touches the guest and table invariant.

Seating, moving, unseating and completing live here, once; guest PATCH, the seat and
complete actions, table PATCH, reservation check-in and the batch all call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, select

from app.core.errors import (
    CapacityExceeded,
    TableOccupied,
    TableUnavailable,
    field_error,
)
from app.core.vocabulary import GuestStatus, ReservationStatus, TableStatus
from app.db.locks import AFTER_LEAVE_KEY, take_restaurant_lock
from app.db.repository import (
    JSONBody,
    check_version,
    columns_of,
    flush,
    load,
    lock_all,
    page_of,
    read_one,
)
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.guests import rules, schemas
from app.models import DiningTable, Guest, Reservation, Restaurant
from app.models.guest import ACTIVE_GUEST_STATUSES


async def table_after_guest_leaves(uow: UnitOfWork) -> str:
    """The setting of the restaurant ``uow`` is bound to, as the restaurant lock read it
    (``app.db.locks``)."""
    info = uow.session.info
    if AFTER_LEAVE_KEY not in info:  # not locked yet: the lock reads it
        await uow.session.run_sync(take_restaurant_lock)
    if AFTER_LEAVE_KEY not in info:  # nothing to lock: not a write of a scoped restaurant
        info[AFTER_LEAVE_KEY] = await uow.session.scalar(
            select(Restaurant.table_after_guest_leaves).where(
                Restaurant.id == uow.bound_scope().restaurant_id
            )
        )
    return str(info[AFTER_LEAVE_KEY])


def _now() -> datetime:
    return datetime.now(UTC)


# ----- reads ---------------------------------------------------------------------------------


async def list_guests(
    uow: UnitOfWork,
    scope: RestaurantScope,
    *,
    statuses: Sequence[str] | None,
    limit: int,
    cursor: str | None,
) -> JSONBody:
    def query() -> Select[Any]:
        if statuses:
            wanted = Guest.status.in_(statuses)
        else:
            # As literals, the very terms of the partial index ix_guests_active: SQLite and
            # PostgreSQL use an index with a WHERE only for a query that implies it.
            wanted = Guest.status.in_(
                bindparam(
                    "active", list(ACTIVE_GUEST_STATUSES), expanding=True, literal_execute=True
                )
            )
        return select(*columns_of(Guest)).where(Guest.restaurant_id == scope.restaurant_id, wanted)

    return await page_of(
        uow,
        query,
        schemas.Guest,
        (Guest.arrived_at, Guest.id),
        (datetime, int),
        limit=limit,
        cursor=cursor,
        cache_as=("guests", tuple(statuses) if statuses else None),
    )


async def get_guest(uow: UnitOfWork, scope: RestaurantScope, guest_id: int) -> JSONBody:
    return await read_one(uow, Guest, schemas.Guest, guest_id)


# ----- the invariant's building blocks ------------------------------------------------------


def free_table(table: DiningTable, status: str) -> None:
    """The table's guest has left: no current guest, and the given status."""
    table.current_guest_id = None
    table.status = status


async def _lock_guest_and_tables(
    uow: UnitOfWork, scope: RestaurantScope, guest_id: int, table_ids: set[int | None]
) -> tuple[Guest, dict[int, DiningTable]]:
    """Lock the tables (in id order) and then the guest; any table the guest sits at is
    included. On SQLite the write transaction is already exclusive."""
    guest = await load(uow, Guest, guest_id)
    wanted = {t for t in (*table_ids, guest.table_id) if t is not None}
    tables = await lock_all(uow, DiningTable, wanted)
    guest = await load(uow, Guest, guest_id, lock=True)
    if guest.table_id is not None and guest.table_id not in tables:
        # Moved by a concurrent transaction between the two reads.
        tables[guest.table_id] = await load(uow, DiningTable, guest.table_id, lock=True)
    return guest, tables


def check_seatable(
    guest: Guest, table: DiningTable, party_size: int, allow_over_capacity: bool
) -> None:
    """The seating rules after the lifecycle check, in the order docs/contract.md gives."""
    if table.status == TableStatus.OUT_OF_SERVICE:
        raise TableUnavailable(
            f"Table {table.table_number} is out of service", details={"tableId": table.id}
        )
    if table.current_guest_id is not None and table.current_guest_id != guest.id:
        raise TableOccupied(
            f"Table {table.table_number} is occupied by guest {table.current_guest_id}",
            details={"tableId": table.id, "currentGuestId": table.current_guest_id},
        )
    if party_size > table.capacity and not allow_over_capacity:
        raise CapacityExceeded(
            f"Party of {party_size} is larger than table {table.table_number} "
            f"({table.capacity} seats)",
            details={"tableId": table.id, "partySize": party_size, "capacity": table.capacity},
        )


async def seat_at(
    uow: UnitOfWork,
    scope: RestaurantScope,
    guest: Guest,
    table: DiningTable,
    tables: dict[int, DiningTable],
    *,
    party_size: int,
    allow_over_capacity: bool,
) -> None:
    """Seat ``guest`` at ``table`` (or move it there), keeping both sides of the invariant.

    Rows must be locked already (see ``_lock_guest_and_tables``)."""
    rules.check_move(guest.id, guest.status, GuestStatus.SEATED)
    if guest.table_id == table.id:
        if party_size != guest.party_size:  # already here, but the party grew or shrank
            check_seatable(guest, table, party_size, allow_over_capacity)
        return
    check_seatable(guest, table, party_size, allow_over_capacity)
    if guest.table_id is not None:
        # A move: free the old table first, so no moment has one guest at two tables.
        free_table(tables[guest.table_id], await table_after_guest_leaves(uow))
        await flush(uow)
    else:
        guest.seated_at = _now()
    guest.status = GuestStatus.SEATED
    guest.table_id = table.id
    table.status = TableStatus.OCCUPIED
    table.current_guest_id = guest.id
    await flush(uow)


def unseat(guest: Guest, tables: dict[int, DiningTable]) -> None:
    """Seated by mistake: back to waiting, and the table is available at once."""
    if guest.table_id is not None:
        free_table(tables[guest.table_id], TableStatus.AVAILABLE)
    guest.status = GuestStatus.WAITING
    guest.table_id = None
    guest.seated_at = None


async def complete(
    uow: UnitOfWork, scope: RestaurantScope, guest: Guest, tables: dict[int, DiningTable]
) -> None:
    """The party leaves: table freed, a checked-in reservation completed with it."""
    if guest.table_id is not None:
        free_table(tables[guest.table_id], await table_after_guest_leaves(uow))
    guest.status = GuestStatus.COMPLETED
    guest.table_id = None
    guest.completed_at = _now()
    await finish_reservation(uow, scope, guest)


async def finish_reservation(uow: UnitOfWork, scope: RestaurantScope, guest: Guest) -> None:
    """A checked-in reservation ends with its party (completed, left, no-show, cancelled or
    deleted): ``completed`` is its only next status, and it stops holding its table."""
    if guest.reservation_id is not None:
        reservation = await load(uow, Reservation, guest.reservation_id, lock=True)
        if reservation.status == ReservationStatus.CHECKED_IN:
            reservation.status = ReservationStatus.COMPLETED


# ----- writes ----------------------------------------------------------------------------


async def create_guest(
    uow: UnitOfWork,
    scope: RestaurantScope,
    data: schemas.GuestCreate,
    *,
    reservation_id: int | None = None,
) -> Guest:
    guest = Guest(
        restaurant_id=scope.restaurant_id,
        arrived_at=_now(),
        status=GuestStatus.WAITING,
        reservation_id=reservation_id,
        **data.model_dump(),
    )
    uow.session.add(guest)
    await flush(uow)
    return guest


async def update_guest(
    uow: UnitOfWork,
    scope: RestaurantScope,
    guest_id: int,
    data: schemas.GuestUpdate,
    *,
    if_match: int | None = None,
) -> Guest:
    """Apply a guest PATCH with every rule of the invariant table."""
    changes = data.changes()
    allow_over_capacity = bool(changes.pop("allow_over_capacity", False))
    names_table = "table_id" in changes
    target_table: int | None = changes.pop("table_id", None)
    target_status: GuestStatus | None = changes.pop("status", None)
    guest, tables = await _lock_guest_and_tables(uow, scope, guest_id, {target_table})
    check_version(guest, if_match)
    party_size = changes.get("party_size", guest.party_size)

    if target_table is not None:
        if target_status not in (None, GuestStatus.SEATED):
            raise field_error(
                ["body", "status"], "status must be seated (or absent) when tableId names a table"
            )
        await seat_at(
            uow,
            scope,
            guest,
            tables[target_table],
            tables,
            party_size=party_size,
            allow_over_capacity=allow_over_capacity,
        )
    elif (
        names_table
        and guest.status == GuestStatus.SEATED
        and target_status != GuestStatus.COMPLETED
    ):
        # tableId: null while seated (optionally with status waiting) unseats.
        rules.check_move(guest.id, guest.status, target_status or GuestStatus.WAITING)
        # tableId: null says there is no table to be seated at.
        if target_status == GuestStatus.SEATED:
            raise field_error(["body", "tableId"], "seating a guest needs a tableId")
        unseat(guest, tables)
    elif target_status is not None and target_status != guest.status:
        rules.check_move(guest.id, guest.status, target_status)
        if target_status == GuestStatus.SEATED:
            raise field_error(["body", "tableId"], "seating a guest needs a tableId")
        if target_status == GuestStatus.COMPLETED:
            await complete(uow, scope, guest, tables)
        elif guest.status == GuestStatus.SEATED:  # seated -> waiting
            unseat(guest, tables)
        else:
            guest.status = target_status
            if target_status in rules.FINAL_GUEST_STATUSES:
                await finish_reservation(uow, scope, guest)
    elif guest.status == GuestStatus.SEATED and party_size != guest.party_size:
        assert guest.table_id is not None  # seated guests always have a table
        check_seatable(guest, tables[guest.table_id], party_size, allow_over_capacity)

    for field, value in changes.items():
        setattr(guest, field, value)
    await flush(uow)
    return guest


async def seat_guest(
    uow: UnitOfWork,
    scope: RestaurantScope,
    guest_id: int,
    table_id: int,
    *,
    allow_over_capacity: bool = False,
) -> Guest:
    guest, tables = await _lock_guest_and_tables(uow, scope, guest_id, {table_id})
    await seat_at(
        uow,
        scope,
        guest,
        tables[table_id],
        tables,
        party_size=guest.party_size,
        allow_over_capacity=allow_over_capacity,
    )
    return guest


async def complete_guest(uow: UnitOfWork, scope: RestaurantScope, guest_id: int) -> Guest:
    guest, tables = await _lock_guest_and_tables(uow, scope, guest_id, set())
    rules.check_move(guest.id, guest.status, GuestStatus.COMPLETED)
    if guest.status != GuestStatus.COMPLETED:
        await complete(uow, scope, guest, tables)
        await flush(uow)
    return guest


async def delete_guest(
    uow: UnitOfWork, scope: RestaurantScope, guest_id: int, *, if_match: int | None = None
) -> None:
    guest, tables = await _lock_guest_and_tables(uow, scope, guest_id, set())
    check_version(guest, if_match)
    if guest.table_id is not None:
        # The table lets go first; the guest row then goes without touching it again.
        free_table(tables[guest.table_id], await table_after_guest_leaves(uow))
    linked = (
        await uow.session.scalars(
            select(Reservation).where(Reservation.guest_id == guest.id).with_for_update()
        )
    ).all()
    for reservation in linked:
        reservation.guest_id = None
        if reservation.status == ReservationStatus.CHECKED_IN:  # its party is gone for good
            reservation.status = ReservationStatus.COMPLETED
    await flush(uow)
    await uow.session.delete(guest)
    await flush(uow)
