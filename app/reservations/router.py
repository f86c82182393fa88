"""Reservations: list, create, read, update, delete, check-in and availability."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.core.openapi import API_PREFIX, SEATING, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import never_null
from app.core.vocabulary import ErrorCode, ReservationStatus
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.idempotency.route import IdempotentRoute
from app.reservations import schemas, service

router = APIRouter(
    prefix=f"{API_PREFIX}/reservations", tags=["reservations"], route_class=IdempotentRoute
)

CREATE_EXAMPLES = {
    "dinner": {
        "summary": "Two people at table 12, at 19:30 in Paris",
        "value": {
            "guestName": "Grace Hopper",
            "partySize": 2,
            "startsAt": "2030-06-14T19:30:00+02:00",
            "tableId": 12,
            "phone": "+33612345678",
        },
    },
}
ReservationId = Annotated[
    int,
    Path(
        description="A reservation's `id`; 404 unless it is one of your restaurant's reservations."
    ),
]


@router.get(
    "",
    operation_id="listReservations",
    response_model=schemas.ReservationPage,
    responses=errors(401),
)
async def list_reservations(
    uow: UnitOfWorkDep,
    scope: Scope,
    date_: Annotated[
        date | None,
        Query(
            alias="date",
            description="Only reservations starting on this local date.",
            json_schema_extra=never_null,
        ),
    ] = None,
    status_: Annotated[
        list[ReservationStatus] | None,
        Query(
            alias="status",
            description="Only these statuses (may repeat).",
            json_schema_extra=never_null,
        ),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    """Ordered by `startsAt`, then `id`. Without `date` and `status`: the active ones
    (booked, confirmed, checked in) that have not ended yet."""
    return await service.list_reservations(
        uow, scope, day=date_, statuses=status_, limit=limit, cursor=cursor
    )


@router.get(
    "/availability",
    operation_id="getAvailability",
    response_model=schemas.Availability,
    responses=errors(401),
)
async def availability(
    uow: UnitOfWorkDep,
    scope: Scope,
    date_: Annotated[date, Query(alias="date", description="Local date.")],
    party_size: Annotated[int, Query(alias="partySize", ge=1, le=50)],
) -> schemas.Availability:
    """Start times every 15 minutes within the day's `serviceHours` (slots start inside an
    interval; past times are left out) at which at least one table with
    `minCapacity <= partySize <= capacity`, not out of service, is free for the
    restaurant's `defaultReservationMinutes`."""
    return await service.availability(uow, scope, date_, party_size)


@router.post(
    "",
    operation_id="createReservation",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Reservation,
    responses=errors(401, 404, conflicts=(ErrorCode.RESERVATION_CONFLICT,)),
)
async def create_reservation(
    data: Annotated[schemas.ReservationCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
) -> schemas.Reservation:
    """409 `reservation_conflict` when an active reservation holds the table over an
    overlapping interval; `startsAt` in the past is 422."""
    reservation = await service.create_reservation(uow, scope, data)
    return schemas.Reservation.model_validate(reservation)


@router.get(
    "/{reservation_id}",
    operation_id="getReservation",
    response_model=schemas.Reservation,
    responses=errors(401, 404),
)
async def get_reservation(
    reservation_id: ReservationId, uow: UnitOfWorkDep, scope: Scope
) -> Response:
    """One reservation, as it stands now."""
    return await service.get_reservation(uow, scope, reservation_id)


@router.patch(
    "/{reservation_id}",
    operation_id="updateReservation",
    response_model=schemas.Reservation,
    responses=errors(401, 404, 412, conflicts=(*SEATING, ErrorCode.RESERVATION_CONFLICT)),
)
async def update_reservation(
    reservation_id: ReservationId,
    data: schemas.ReservationUpdate,
    uow: UnitOfWorkDep,
    scope: Scope,
    if_match: IfMatch = None,
) -> schemas.Reservation:
    """Any subset of fields. Moving `startsAt`, `durationMinutes` or `tableId` is checked against
    the table's other reservations (409 `reservation_conflict`); `status: checked_in` checks
    the party in as the check-in action does; `completed` follows the guest and cannot be set."""
    reservation = await service.update_reservation(
        uow, scope, reservation_id, data, if_match=if_match_version(if_match)
    )
    return schemas.Reservation.model_validate(reservation)


@router.delete(
    "/{reservation_id}",
    operation_id="deleteReservation",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, 412),
)
async def delete_reservation(
    reservation_id: ReservationId, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Removes the reservation for good; a guest it checked in stays, with `reservationId`
    null."""
    await service.delete_reservation(
        uow, scope, reservation_id, if_match=if_match_version(if_match)
    )


@router.post(
    "/{reservation_id}/check-in",
    operation_id="checkInReservation",
    response_model=schemas.Reservation,
    responses=errors(401, 404, conflicts=SEATING),
)
async def check_in(
    reservation_id: ReservationId,
    uow: UnitOfWorkDep,
    scope: Scope,
    data: Annotated[schemas.CheckInRequest | None, Body(json_schema_extra=never_null)] = None,
) -> schemas.Reservation:
    """Creates the guest (linked by `reservationId`, `arrivedAt` now), seated at `tableId`
    or the reservation's own table with the seating rules, or waiting when neither names
    a table. The body may be omitted. No time window is enforced."""
    reservation = await service.check_in(
        uow, scope, reservation_id, data or schemas.CheckInRequest()
    )
    return schemas.Reservation.model_validate(reservation)
