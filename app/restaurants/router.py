"""GET and PATCH /restaurant: the caller's own restaurant."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.openapi import API_PREFIX, errors
from app.db.session import UnitOfWorkRoute
from app.deps import IfMatch, ManagerScope, Scope, UnitOfWorkDep, if_match_version
from app.restaurants import schemas, service

router = APIRouter(
    prefix=f"{API_PREFIX}/restaurant", tags=["restaurant"], route_class=UnitOfWorkRoute
)


@router.get(
    "", operation_id="getRestaurant", response_model=schemas.Restaurant, responses=errors(401)
)
async def get_restaurant(uow: UnitOfWorkDep, scope: Scope) -> schemas.Restaurant:
    return await service.get_restaurant(uow, scope)


@router.patch(
    "",
    operation_id="updateRestaurant",
    response_model=schemas.Restaurant,
    responses=errors(401, 403, 412),
)
async def update_restaurant(
    data: schemas.RestaurantUpdate,
    uow: UnitOfWorkDep,
    scope: ManagerScope,
    if_match: IfMatch = None,
) -> schemas.Restaurant:
    """Owners and managers only."""
    return await service.update_restaurant(uow, scope, data, if_match_version(if_match))
