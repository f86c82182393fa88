"""Tables on the wire: full, minimal, create and update."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from app.core.schemas import (
    CLEAR_DESCRIPTION,
    FieldNames,
    InputModel,
    OutputModel,
    Page,
    PatchModel,
    only,
)
from app.core.vocabulary import TableStatus

# `occupied` is reached only by seating a guest.
SettableTableStatus = Annotated[
    TableStatus,
    only(
        TableStatus.AVAILABLE, TableStatus.RESERVED, TableStatus.DIRTY, TableStatus.OUT_OF_SERVICE
    ),
    Field(description="Any status but `occupied`, which only seating a guest sets (422)."),
]
TableNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Section = Annotated[str, StringConstraints(max_length=50)]
Capacity = Annotated[int, Field(ge=1, le=50)]
Position = Annotated[float, Field(allow_inf_nan=False)]


class MinimalTable(OutputModel):
    id: int
    table_number: str
    status: TableStatus
    current_guest_id: int | None
    version: int


class Table(MinimalTable):
    capacity: int
    min_capacity: int
    section: str | None
    pos_x: float | None
    pos_y: float | None
    created_at: datetime
    updated_at: datetime


class TablePage(Page[Table]):
    """Tables by `tableNumber` (byte order), then `id`."""


class TableCreate(InputModel):
    nullable = frozenset({"section", "pos_x", "pos_y"})

    table_number: TableNumber
    capacity: Capacity
    min_capacity: Capacity = 1
    section: Section | None = None
    status: SettableTableStatus = TableStatus.AVAILABLE
    pos_x: Position | None = None
    pos_y: Position | None = None

    @model_validator(mode="after")
    def _min_within_capacity(self) -> TableCreate:
        if self.min_capacity > self.capacity:
            raise ValueError("minCapacity must not exceed capacity")
        return self


class ClearableTableField(FieldNames):
    """A table field a PATCH may clear (set to null)."""

    SECTION = "section"
    CURRENT_GUEST_ID = "currentGuestId"
    POS_X = "posX"
    POS_Y = "posY"


class TableUpdate(PatchModel):
    """`tableNumber`, `capacity`, `minCapacity`, `section`, `posX` and `posY` are the layout:
    owners and managers only. `status` and `currentGuestId` are open to every role."""

    table_number: TableNumber | None = None
    capacity: Capacity | None = None
    min_capacity: Capacity | None = None
    section: Section | None = None
    status: SettableTableStatus | None = None
    current_guest_id: int | None = Field(
        default=None,
        description="Seat this guest here (the same as the guest's PATCH "
        "`tableId`), or null to complete the current guest.",
    )
    pos_x: Position | None = None
    pos_y: Position | None = None
    allow_over_capacity: bool = Field(
        default=False, description="Seat a party larger than the table (not stored)."
    )
    clear: list[ClearableTableField] | None = Field(default=None, description=CLEAR_DESCRIPTION)


LAYOUT_FIELDS = frozenset({"table_number", "capacity", "min_capacity", "section", "pos_x", "pos_y"})
