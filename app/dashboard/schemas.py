"""The dashboard on the wire: full rows or minimal rows, two types told apart by `rows`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from app.core.schemas import OutputModel
from app.guests.schemas import Guest, MinimalGuest
from app.reservations.schemas import MinimalReservation, Reservation
from app.tables.schemas import MinimalTable, Table

_GUESTS = (
    "Full sync: the active guests (waiting, notified, seated). Delta: every guest changed "
    "since, whatever its status. By `arrivedAt`, then `id`."
)
_TABLES = "Full sync: every table. Delta: every table changed since. By `tableNumber`, then `id`."
_RESERVATIONS = (
    "Full sync: those starting on the restaurant's current local date, any status. Delta: "
    "every reservation changed since. By `startsAt`, then `id`."
)


class DeletedIds(OutputModel):
    """The ids hard-deleted since the cursor; always all three keys, empty on a full sync."""

    guests: list[int]
    tables: list[int]
    reservations: list[int]


class _Sync(OutputModel):
    """What both kinds of answer hold; each gives `rows` and the arrays their types."""

    rows: str
    cursor: str = Field(
        description="Opaque; send it back as `since`. Tied to this restaurant and database."
    )
    full_sync: bool = Field(
        description="true: the arrays are the whole floor (replace what you hold); false: "
        "only the rows changed since `since` (merge them, drop `deleted`)."
    )
    server_time: datetime
    guests: list[Any]
    tables: list[Any]
    reservations: list[Any]
    deleted: DeletedIds


class Dashboard(_Sync):
    """The floor with full rows (`minimal=false`, the default)."""

    rows: Literal["full"] = Field(description="`full`: the arrays hold full rows.")
    guests: list[Guest] = Field(description=_GUESTS)
    tables: list[Table] = Field(description=_TABLES)
    reservations: list[Reservation] = Field(description=_RESERVATIONS)


class MinimalDashboard(_Sync):
    """The floor with minimal rows (`minimal=true`)."""

    rows: Literal["minimal"] = Field(description="`minimal`: the arrays hold minimal rows.")
    guests: list[MinimalGuest] = Field(description=_GUESTS)
    tables: list[MinimalTable] = Field(description=_TABLES)
    reservations: list[MinimalReservation] = Field(description=_RESERVATIONS)


class DashboardData(
    RootModel[Annotated[Dashboard | MinimalDashboard, Field(discriminator="rows")]]
):
    """A `Dashboard` (full rows) or, with `minimal=true`, a `MinimalDashboard`: `rows` says
    which."""
