"""Reservations: booking without overlaps, check-in, and availability search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.core.errors import InvalidTransition, ReservationConflict, field_error
from app.core.timeutil import local_day_bounds, local_instant
from app.core.vocabulary import ReservationStatus, TableStatus
from app.db.repository import JSONBody, check_version, columns_of, flush, load, page_of, read_one
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.guests import service as guests
from app.guests.schemas import GuestCreate
from app.models import DiningTable, Guest, Reservation
from app.models.reservation import HOLDING_STATUSES
from app.reservations import rules, schemas
from app.restaurants.schemas import WEEKDAYS, minutes_of
from app.restaurants.service import load_restaurant


def _now() -> datetime:
    return datetime.now(UTC)


def _date_out_of_range() -> Exception:
    # A local day at the very edge of the calendar (0001-01-01, 9999-12-31) has instants
    # that datetime cannot hold.
    return field_error(["query", "date"], "date is out of range")


# ----- reads ---------------------------------------------------------------------------------


async def list_reservations(
    uow: UnitOfWork,
    scope: RestaurantScope,
    *,
    day: date | None,
    statuses: Sequence[str] | None,
    limit: int,
    cursor: str | None,
) -> JSONBody:
    stmt = select(*columns_of(Reservation)).where(Reservation.restaurant_id == scope.restaurant_id)
    if day is not None:
        restaurant = await load_restaurant(uow)
        try:
            start, end = local_day_bounds(day, restaurant.timezone)
        except OverflowError:
            raise _date_out_of_range() from None
        stmt = stmt.where(Reservation.starts_at >= start, Reservation.starts_at < end)
    if statuses:
        stmt = stmt.where(Reservation.status.in_(statuses))
    if day is None and not statuses:
        # The default: what is still ahead, including bookings already under way.
        stmt = stmt.where(Reservation.status.in_(HOLDING_STATUSES), Reservation.ends_at > _now())
    return await page_of(
        uow,
        stmt,
        schemas.Reservation,
        (Reservation.starts_at, Reservation.id),
        (datetime, int),
        limit=limit,
        cursor=cursor,
    )


async def get_reservation(uow: UnitOfWork, scope: RestaurantScope, reservation_id: int) -> JSONBody:
    return await read_one(uow, Reservation, schemas.Reservation, reservation_id)


# ----- the overlap rule ---------------------------------------------------------------------


async def _ensure_table_free(
    uow: UnitOfWork, scope: RestaurantScope, reservation: Reservation
) -> None:
    """No other holding reservation may hold the same table over an overlapping interval.

    The table row is locked first: on PostgreSQL concurrent bookings of one table queue
    here, so the check below sees every committed competitor."""
    if reservation.table_id is None or reservation.status not in HOLDING_STATUSES:
        return
    await load(uow, DiningTable, reservation.table_id, lock=True)
    stmt = select(Reservation.id).where(
        Reservation.restaurant_id == scope.restaurant_id,
        Reservation.table_id == reservation.table_id,
        Reservation.status.in_(HOLDING_STATUSES),
        Reservation.starts_at < reservation.ends_at,
        Reservation.ends_at > reservation.starts_at,
    )
    if reservation.id is not None:
        stmt = stmt.where(Reservation.id != reservation.id)
    clash = await uow.session.scalar(stmt.limit(1))
    if clash is not None:
        raise ReservationConflict(
            f"Table {reservation.table_id} is already reserved at that time (reservation {clash})",
            details={"tableId": reservation.table_id, "conflictingReservationId": clash},
        )


def _not_in_past(starts_at: datetime) -> None:
    if starts_at < _now():
        raise field_error(["body", "startsAt"], "startsAt must not be in the past")


# ----- writes ----------------------------------------------------------------------------


async def create_reservation(
    uow: UnitOfWork, scope: RestaurantScope, data: schemas.ReservationCreate
) -> Reservation:
    _not_in_past(data.starts_at)
    values = data.model_dump()
    if values["duration_minutes"] is None:
        restaurant = await load_restaurant(uow)
        values["duration_minutes"] = restaurant.default_reservation_minutes
    if values["table_id"] is not None:
        await load(uow, DiningTable, values["table_id"])
    starts_at = values["starts_at"].astimezone(UTC)
    reservation = Reservation(
        restaurant_id=scope.restaurant_id,
        **{**values, "starts_at": starts_at},
        ends_at=starts_at + timedelta(minutes=values["duration_minutes"]),
    )
    await _ensure_table_free(uow, scope, reservation)
    uow.session.add(reservation)
    await flush(uow)
    return reservation


async def update_reservation(
    uow: UnitOfWork,
    scope: RestaurantScope,
    reservation_id: int,
    data: schemas.ReservationUpdate,
    *,
    if_match: int | None = None,
) -> Reservation:
    changes = data.changes()
    reservation = await load(uow, Reservation, reservation_id, lock=True)
    check_version(reservation, if_match)
    status = changes.pop("status", None)
    if status is not None and status != reservation.status:
        rules.check_move(reservation.id, reservation.status, status)
    if changes.get("table_id") is not None:
        await load(uow, DiningTable, changes["table_id"])
    if "starts_at" in changes:
        changes["starts_at"] = changes["starts_at"].astimezone(UTC)
        if changes["starts_at"] != reservation.starts_at:
            _not_in_past(changes["starts_at"])
    for field, value in changes.items():
        setattr(reservation, field, value)
    reservation.ends_at = reservation.starts_at + timedelta(minutes=reservation.duration_minutes)
    checked_in = ReservationStatus.CHECKED_IN
    if status == checked_in and reservation.status != checked_in:
        await _check_in(uow, scope, reservation, table_id=None, allow_over_capacity=False)
    elif status is not None:
        reservation.status = status
    if changes.keys() & {"starts_at", "duration_minutes", "table_id"} or status is not None:
        await _ensure_table_free(uow, scope, reservation)
    await flush(uow)
    return reservation


async def _check_in(
    uow: UnitOfWork,
    scope: RestaurantScope,
    reservation: Reservation,
    *,
    table_id: int | None,
    allow_over_capacity: bool,
) -> Guest:
    guest = await guests.create_guest(
        uow,
        scope,
        GuestCreate(
            name=reservation.guest_name,
            party_size=reservation.party_size,
            phone=reservation.phone,
            notes=reservation.notes,
        ),
        reservation_id=reservation.id,
    )
    reservation.status = ReservationStatus.CHECKED_IN
    reservation.guest_id = guest.id
    await flush(uow)
    target = table_id if table_id is not None else reservation.table_id
    if target is not None:
        await guests.seat_guest(
            uow, scope, guest.id, target, allow_over_capacity=allow_over_capacity
        )
    return guest


async def check_in(
    uow: UnitOfWork, scope: RestaurantScope, reservation_id: int, data: schemas.CheckInRequest
) -> Reservation:
    reservation = await load(uow, Reservation, reservation_id, lock=True)
    rules.check_move(reservation.id, reservation.status, ReservationStatus.CHECKED_IN)
    if reservation.status == ReservationStatus.CHECKED_IN:
        raise InvalidTransition(
            f"Reservation {reservation.id} is already checked in",
            details={"from": ReservationStatus.CHECKED_IN, "to": ReservationStatus.CHECKED_IN},
        )
    await _check_in(
        uow,
        scope,
        reservation,
        table_id=data.table_id,
        allow_over_capacity=data.allow_over_capacity,
    )
    return reservation


async def delete_reservation(
    uow: UnitOfWork, scope: RestaurantScope, reservation_id: int, *, if_match: int | None = None
) -> None:
    reservation = await load(uow, Reservation, reservation_id, lock=True)
    check_version(reservation, if_match)
    linked = (
        await uow.session.scalars(
            select(Guest).where(Guest.reservation_id == reservation.id).with_for_update()
        )
    ).all()
    for guest in linked:
        guest.reservation_id = None
    await flush(uow)
    await uow.session.delete(reservation)
    await flush(uow)


# ----- availability ---------------------------------------------------------------------

SLOT_MINUTES = 15


async def availability(
    uow: UnitOfWork, scope: RestaurantScope, day: date, party_size: int
) -> schemas.Availability:
    """Every 15 minutes within the day's service hours (local time) at which some fitting
    table is free for the default duration. Slots are real instants: on a DST day an
    interval is an hour shorter or longer, and no slot falls into a skipped hour."""
    restaurant = await load_restaurant(uow)
    hours = restaurant.service_hours.get(WEEKDAYS[day.weekday()], [])
    duration = timedelta(minutes=restaurant.default_reservation_minutes)
    fitting = (
        await uow.session.scalars(
            select(DiningTable.id)
            .where(
                DiningTable.restaurant_id == scope.restaurant_id,
                DiningTable.status != TableStatus.OUT_OF_SERVICE,
                DiningTable.min_capacity <= party_size,
                DiningTable.capacity >= party_size,
            )
            .order_by(DiningTable.id)
        )
    ).all()
    now = _now()
    starts: list[datetime] = []
    try:
        for open_at, close_at in hours:
            start = local_instant(day, minutes_of(open_at), restaurant.timezone)
            end = local_instant(day, minutes_of(close_at), restaurant.timezone)
            slot = start
            while slot < end:
                if slot >= now:
                    starts.append(slot)
                slot += timedelta(minutes=SLOT_MINUTES)
        # The last slot must also end within the calendar.
        window_end = starts[-1] + duration if starts else None
    except OverflowError:
        raise _date_out_of_range() from None
    if window_end is None or not fitting:
        return schemas.Availability(date=day, party_size=party_size, slots=[])
    held = (
        await uow.session.execute(
            select(Reservation.table_id, Reservation.starts_at, Reservation.ends_at).where(
                Reservation.restaurant_id == scope.restaurant_id,
                Reservation.table_id.in_(fitting),
                Reservation.status.in_(HOLDING_STATUSES),
                Reservation.starts_at < window_end,
                Reservation.ends_at > starts[0],
            )
        )
    ).all()
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for table_id, held_start, held_end in held:
        if table_id is not None:  # always: the query asked for these tables
            busy.setdefault(table_id, []).append((held_start, held_end))
    slots = []
    for slot in starts:
        free = [
            t
            for t in fitting
            if not any(rules.overlaps(slot, slot + duration, s, e) for s, e in busy.get(t, ()))
        ]
        if free:
            slots.append(schemas.Slot(starts_at=slot, table_ids=free))
    return schemas.Availability(date=day, party_size=party_size, slots=slots)
