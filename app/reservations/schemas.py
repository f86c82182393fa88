"""Reservations on the wire: full, minimal, create, update, check-in and availability."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.core.schemas import (
    CLEAR_DESCRIPTION,
    FieldNames,
    InputModel,
    Name,
    Notes,
    OutputModel,
    Page,
    PatchModel,
    Phone,
    Timestamp,
    only,
)
from app.core.vocabulary import ReservationStatus
from app.guests.schemas import PartySize
from app.users.schemas import Email

Duration = Annotated[int, Field(ge=15, le=720)]

# Leaves room for the longest duration before datetime's last instant.
_LATEST_START = datetime(9999, 12, 31, tzinfo=UTC)


def _utc_start(value: datetime) -> datetime:
    """A start and its end must be instants datetime can hold (years 1..9999 in UTC)."""
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall between the years 1 and 9999 in UTC") from None
    if value >= _LATEST_START:
        raise ValueError("must be before 9999-12-31T00:00:00Z")
    return value


StartsAt = Annotated[Timestamp, AfterValidator(_utc_start)]


class MinimalReservation(OutputModel):
    id: int
    guest_name: str
    party_size: int
    starts_at: datetime
    table_id: int | None
    status: ReservationStatus
    version: int


class Reservation(MinimalReservation):
    phone: str | None
    email: str | None
    duration_minutes: int
    notes: str | None
    guest_id: int | None
    created_at: datetime
    updated_at: datetime


class ReservationPage(Page[Reservation]):
    """Reservations by `startsAt`, then `id`."""


class ReservationCreate(InputModel):
    nullable = frozenset({"table_id", "phone", "email", "notes"})

    guest_name: Name
    party_size: PartySize
    starts_at: StartsAt = Field(description="Must carry an offset; not in the past.")
    duration_minutes: Duration | None = Field(
        default=None, description="Defaults to the restaurant's defaultReservationMinutes."
    )
    table_id: int | None = None
    phone: Phone | None = None
    email: Email | None = None
    notes: Notes | None = None
    status: Annotated[
        ReservationStatus,
        only(ReservationStatus.BOOKED, ReservationStatus.CONFIRMED),
        Field(description="`booked` or `confirmed`."),
    ] = ReservationStatus.BOOKED


class ClearableReservationField(FieldNames):
    """A reservation field a PATCH may clear (set to null)."""

    PHONE = "phone"
    EMAIL = "email"
    TABLE_ID = "tableId"
    NOTES = "notes"


class ReservationUpdate(PatchModel):
    """`status: checked_in` does what the check-in action does; `completed` follows the
    guest and cannot be set by hand."""

    guest_name: Name | None = None
    party_size: PartySize | None = None
    starts_at: StartsAt | None = None
    duration_minutes: Duration | None = None
    table_id: int | None = None
    phone: Phone | None = None
    email: Email | None = None
    notes: Notes | None = None
    status: ReservationStatus | None = None
    clear: list[ClearableReservationField] | None = Field(
        default=None, description=CLEAR_DESCRIPTION
    )


class CheckInRequest(InputModel):
    table_id: int | None = Field(
        default=None,
        description="Seat here; when absent, at the reservation's own table; "
        "when neither names a table the guest waits.",
    )
    allow_over_capacity: bool = False


class Slot(OutputModel):
    starts_at: datetime
    table_ids: list[int]


class Availability(OutputModel):
    date: date
    party_size: int
    slots: list[Slot]
