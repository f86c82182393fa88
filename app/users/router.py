"""Staff of the caller's restaurant."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.core.openapi import errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import Page
from app.deps import IfMatch, Scope, UnitOfWorkDep
from app.idempotency.route import IdempotentRoute
from app.users import schemas, service

router = APIRouter(prefix="/users", tags=["users"], route_class=IdempotentRoute)


@router.get("", operation_id="listUsers", response_model=Page[schemas.User], responses=errors(401))
async def list_users(
    uow: UnitOfWorkDep, scope: Scope, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[schemas.User]:
    """Staff ordered by id. Every role may read the staff list."""
    return await service.list_users(uow, scope, limit=limit, cursor=cursor)


@router.post(
    "",
    operation_id="createUser",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.User,
    responses=errors(401, 403, 409),
)
async def create_user(data: schemas.UserCreate, uow: UnitOfWorkDep, scope: Scope) -> schemas.User:
    """Owners and managers add staff, never above their own role. 409 `duplicate` when the
    email is registered anywhere in the service."""
    return await service.create_user(uow, scope, data)


@router.get(
    "/{user_id}", operation_id="getUser", response_model=schemas.User, responses=errors(401, 404)
)
async def get_user(user_id: int, uow: UnitOfWorkDep, scope: Scope) -> schemas.User:
    return await service.get_user(uow, scope, user_id)


@router.patch(
    "/{user_id}",
    operation_id="updateUser",
    response_model=schemas.User,
    responses=errors(401, 403, 404, 409, 412),
)
async def update_user(
    user_id: int, data: schemas.UserUpdate, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch
) -> schemas.User:
    """Owners and managers edit staff up to their own role; any user may change their own
    `fullName`, `email` and `password`. Demoting the last owner is 409 `conflict`. A role
    change ends that user's access tokens at once."""
    return await service.update_user(uow, scope, user_id, data, if_match)


@router.delete(
    "/{user_id}",
    operation_id="deleteUser",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 409, 412),
)
async def delete_user(user_id: int, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch) -> None:
    """Deleting the last owner is 409 `conflict`; the user's tokens stop working at once."""
    await service.delete_user(uow, scope, user_id, if_match)
