"""GET and PATCH /restaurant: the caller's own restaurant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.core.openapi import API_PREFIX, errors
from app.db.session import UnitOfWorkRoute
from app.deps import IfMatch, ManagerScope, Scope, UnitOfWorkDep, if_match_version
from app.restaurants import schemas, service

router = APIRouter(
    prefix=f"{API_PREFIX}/restaurant", tags=["restaurant"], route_class=UnitOfWorkRoute
)

UPDATE_EXAMPLES = {
    "hours": {
        "summary": "Lunch and dinner on weekdays, dinner until midnight on Saturday",
        "value": {
            "serviceHours": {
                day: [{"open": "11:30", "close": "14:30"}, {"open": "17:00", "close": "22:00"}]
                for day in ("mon", "tue", "wed", "thu", "fri")
            }
            | {"sat": [{"open": "18:00", "close": "24:00"}]}
        },
    },
    "settings": {
        "summary": "Tables are free again at once, bookings last two hours",
        "value": {"tableAfterGuestLeaves": "available", "defaultReservationMinutes": 120},
    },
}


@router.get(
    "", operation_id="getRestaurant", response_model=schemas.Restaurant, responses=errors(401)
)
async def get_restaurant(uow: UnitOfWorkDep, scope: Scope) -> schemas.Restaurant:
    """Your own restaurant and its settings."""
    return await service.get_restaurant(uow, scope)


@router.patch(
    "",
    operation_id="updateRestaurant",
    response_model=schemas.Restaurant,
    responses=errors(401, 403, 412),
)
async def update_restaurant(
    data: Annotated[schemas.RestaurantUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: ManagerScope,
    if_match: IfMatch = None,
) -> schemas.Restaurant:
    """Owners and managers only."""
    return await service.update_restaurant(uow, scope, data, if_match_version(if_match))
