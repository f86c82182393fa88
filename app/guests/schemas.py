"""Guests on the wire: full, minimal, create, update and seat."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

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
)
from app.core.vocabulary import GuestStatus

PartySize = Annotated[int, Field(ge=1, le=50)]
QuotedWait = Annotated[int, Field(ge=0, le=600)]


class MinimalGuest(OutputModel):
    id: int
    name: str
    status: GuestStatus
    table_id: int | None
    party_size: int
    version: int


class Guest(MinimalGuest):
    phone: str | None
    quoted_wait_minutes: int | None
    notes: str | None
    reservation_id: int | None
    arrived_at: datetime
    seated_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class GuestPage(Page[Guest]):
    """Guests by `arrivedAt`, then `id`."""


class GuestCreate(InputModel):
    """A new party joins the waitlist: status `waiting`, `arrivedAt` now."""

    nullable = frozenset({"phone", "quoted_wait_minutes", "notes"})

    name: Name
    party_size: PartySize
    phone: Phone | None = None
    quoted_wait_minutes: QuotedWait | None = None
    notes: Notes | None = None


class ClearableGuestField(FieldNames):
    """A guest field a PATCH may clear (set to null)."""

    PHONE = "phone"
    TABLE_ID = "tableId"
    QUOTED_WAIT_MINUTES = "quotedWaitMinutes"
    NOTES = "notes"


class GuestUpdate(PatchModel):
    """Any subset of fields. `tableId` seats or moves the guest (null unseats); `status`
    follows the lifecycle. See the guest and table invariant in the API description."""

    name: Name | None = None
    phone: Phone | None = None
    party_size: PartySize | None = None
    status: GuestStatus | None = None
    table_id: int | None = None
    quoted_wait_minutes: QuotedWait | None = None
    notes: Notes | None = None
    allow_over_capacity: bool = Field(
        default=False, description="Seat a party larger than the table (not stored)."
    )
    clear: list[ClearableGuestField] | None = Field(default=None, description=CLEAR_DESCRIPTION)


class SeatRequest(InputModel):
    table_id: int
    allow_over_capacity: bool = False
