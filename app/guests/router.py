"""Guests: the waitlist and seated parties, with the seat and complete actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.core.openapi import API_PREFIX, SEATING, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import never_null
from app.core.vocabulary import ErrorCode, GuestStatus
from app.db.repository import row_body
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.guests import schemas, service
from app.idempotency.route import IdempotentRoute

router = APIRouter(prefix=f"{API_PREFIX}/guests", tags=["guests"], route_class=IdempotentRoute)

CREATE_EXAMPLES = {
    "walk_in": {
        "summary": "A party of four joins the waitlist",
        "value": {"name": "Ana Lima", "partySize": 4, "phone": "+33612345678"},
    },
}
UPDATE_EXAMPLES = {
    "seat": {"summary": "Seat the party at table 12", "value": {"tableId": 12}},
    "move": {
        "summary": "Move the party to table 14, larger than needed is fine",
        "value": {"tableId": 14, "allowOverCapacity": True},
    },
    "unseat": {"summary": "Seated by mistake: back to the waitlist", "value": {"tableId": None}},
    "notify": {"summary": "The party was told its table is ready", "value": {"status": "notified"}},
    "complete": {
        "summary": "The party leaves; its table is freed",
        "value": {"status": "completed"},
    },
    "edit": {
        "summary": "Two more people, and a note",
        "value": {"partySize": 6, "notes": "high chair"},
    },
}
SEAT_EXAMPLES = {
    "seat": {"summary": "Seat the party at table 12", "value": {"tableId": 12}},
    "over_capacity": {
        "summary": "Seat a party of five at a table for four",
        "value": {"tableId": 12, "allowOverCapacity": True},
    },
}
GuestId = Annotated[
    int, Path(description="A guest's `id`; 404 unless it is one of your restaurant's guests.")
]


@router.get("", operation_id="listGuests", response_model=schemas.GuestPage, responses=errors(401))
async def list_guests(
    uow: UnitOfWorkDep,
    scope: Scope,
    status_: Annotated[
        list[GuestStatus] | None,
        Query(
            alias="status",
            description="Only these statuses (may repeat); default waiting, notified, seated.",
            json_schema_extra=never_null,
        ),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    """Ordered by `arrivedAt`, then `id`."""
    return await service.list_guests(uow, scope, statuses=status_, limit=limit, cursor=cursor)


@router.post(
    "",
    operation_id="createGuest",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Guest,
    responses=errors(401),
)
async def create_guest(
    data: Annotated[schemas.GuestCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
) -> Response:
    """Add a party to the waitlist (status `waiting`, `arrivedAt` now)."""
    guest = await service.create_guest(uow, scope, data)
    return row_body(guest, schemas.Guest, status.HTTP_201_CREATED)


@router.get(
    "/{guest_id}", operation_id="getGuest", response_model=schemas.Guest, responses=errors(401, 404)
)
async def get_guest(guest_id: GuestId, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """One guest, as it stands now."""
    return await service.get_guest(uow, scope, guest_id)


@router.patch(
    "/{guest_id}",
    operation_id="updateGuest",
    response_model=schemas.Guest,
    responses=errors(401, 404, 412, conflicts=SEATING),
)
async def update_guest(
    guest_id: GuestId,
    data: Annotated[schemas.GuestUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
    if_match: IfMatch = None,
) -> Response:
    """`tableId: T` seats (or moves) the guest; `tableId: null` unseats; `status` follows
    the lifecycle. Errors, first applicable wins: `invalid_transition`,
    `table_unavailable`, `table_occupied`, `capacity_exceeded`."""
    guest = await service.update_guest(
        uow, scope, guest_id, data, if_match=if_match_version(if_match)
    )
    return row_body(guest, schemas.Guest)


@router.delete(
    "/{guest_id}",
    operation_id="deleteGuest",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, 412),
)
async def delete_guest(
    guest_id: GuestId, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Removes the row for good; a seated guest's table is freed."""
    await service.delete_guest(uow, scope, guest_id, if_match=if_match_version(if_match))


@router.post(
    "/{guest_id}/seat",
    operation_id="seatGuest",
    response_model=schemas.Guest,
    responses=errors(401, 404, conflicts=SEATING),
)
async def seat_guest(
    guest_id: GuestId,
    data: Annotated[schemas.SeatRequest, Body(openapi_examples=SEAT_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
) -> Response:
    """The same as PATCH `{"tableId": …}`."""
    guest = await service.seat_guest(
        uow, scope, guest_id, data.table_id, allow_over_capacity=data.allow_over_capacity
    )
    return row_body(guest, schemas.Guest)


@router.post(
    "/{guest_id}/complete",
    operation_id="completeGuest",
    response_model=schemas.Guest,
    responses=errors(401, 404, conflicts=(ErrorCode.INVALID_TRANSITION,)),
)
async def complete_guest(guest_id: GuestId, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """The same as PATCH `{"status": "completed"}`: the table is freed."""
    return row_body(await service.complete_guest(uow, scope, guest_id), schemas.Guest)
