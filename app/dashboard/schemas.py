"""The dashboard on the wire."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.core.schemas import OutputModel
from app.guests.schemas import Guest, MinimalGuest
from app.reservations.schemas import MinimalReservation, Reservation
from app.tables.schemas import MinimalTable, Table


class DeletedIds(OutputModel):
    """The ids hard-deleted since the cursor; always all three keys, empty on a full sync."""

    guests: list[int]
    tables: list[int]
    reservations: list[int]


class DashboardData(OutputModel):
    cursor: str = Field(
        description="Opaque; send it back as `since`. Tied to this restaurant and database."
    )
    full_sync: bool = Field(
        description="true: the arrays are the whole floor (replace what you hold); false: "
        "only the rows changed since `since` (merge them, drop `deleted`)."
    )
    server_time: datetime
    guests: list[Guest | MinimalGuest] = Field(
        description="Full sync: the active guests (waiting, notified, seated). Delta: every "
        "guest changed since, whatever its status. By `arrivedAt`, then `id`."
    )
    tables: list[Table | MinimalTable] = Field(
        description="Full sync: every table. By `tableNumber`, then `id`."
    )
    reservations: list[Reservation | MinimalReservation] = Field(
        description="Full sync: those starting on the restaurant's current local date, any "
        "status. Delta: every reservation changed since. By `startsAt`, then `id`."
    )
    deleted: DeletedIds
