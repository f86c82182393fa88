"""Guests: the waitlist and seated parties, with the seat and complete actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.core.openapi import API_PREFIX, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import Page
from app.db.repository import row_body
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.guests import schemas, service
from app.idempotency.route import IdempotentRoute

router = APIRouter(prefix=f"{API_PREFIX}/guests", tags=["guests"], route_class=IdempotentRoute)


@router.get(
    "", operation_id="listGuests", response_model=Page[schemas.Guest], responses=errors(401)
)
async def list_guests(
    uow: UnitOfWorkDep,
    scope: Scope,
    status_: Annotated[
        list[schemas.GuestStatus] | None,
        Query(
            alias="status",
            description="Only these statuses (may repeat); default waiting, notified, seated.",
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
async def create_guest(data: schemas.GuestCreate, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """Add a party to the waitlist (status `waiting`, `arrivedAt` now)."""
    guest = await service.create_guest(uow, scope, data)
    return row_body(guest, schemas.Guest, status.HTTP_201_CREATED)


@router.get(
    "/{guest_id}", operation_id="getGuest", response_model=schemas.Guest, responses=errors(401, 404)
)
async def get_guest(guest_id: int, uow: UnitOfWorkDep, scope: Scope) -> Response:
    return await service.get_guest(uow, scope, guest_id)


@router.patch(
    "/{guest_id}",
    operation_id="updateGuest",
    response_model=schemas.Guest,
    responses=errors(401, 404, 409, 412),
)
async def update_guest(
    guest_id: int,
    data: schemas.GuestUpdate,
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
    guest_id: int, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Removes the row for good; a seated guest's table is freed."""
    await service.delete_guest(uow, scope, guest_id, if_match=if_match_version(if_match))


@router.post(
    "/{guest_id}/seat",
    operation_id="seatGuest",
    response_model=schemas.Guest,
    responses=errors(401, 404, 409),
)
async def seat_guest(
    guest_id: int, data: schemas.SeatRequest, uow: UnitOfWorkDep, scope: Scope
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
    responses=errors(401, 404, 409),
)
async def complete_guest(guest_id: int, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """The same as PATCH `{"status": "completed"}`: the table is freed."""
    return row_body(await service.complete_guest(uow, scope, guest_id), schemas.Guest)
