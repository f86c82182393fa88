"""Staff of the caller's restaurant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.rate_limit import AuthLimiter
from app.core.openapi import API_PREFIX, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.vocabulary import ErrorCode
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.idempotency.route import IdempotentRoute
from app.users import schemas, service

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"], route_class=IdempotentRoute)
UserId = Annotated[
    int,
    Path(description="A staff member's `id`; 404 unless they are one of your restaurant's staff."),
]


@router.get("", operation_id="listUsers", response_model=schemas.UserPage, responses=errors(401))
async def list_users(
    uow: UnitOfWorkDep, scope: Scope, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Response:
    """Staff ordered by id. Every role may read the staff list."""
    return await service.list_users(uow, scope, limit=limit, cursor=cursor)


@router.post(
    "",
    operation_id="createUser",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.User,
    responses=errors(401, 403, conflicts=(ErrorCode.DUPLICATE,)),
)
async def create_user(data: schemas.UserCreate, uow: UnitOfWorkDep, scope: Scope) -> schemas.User:
    """Owners and managers add staff, never above their own role. 409 `duplicate` when the
    email is registered anywhere in the service."""
    return await service.create_user(uow, scope, data)


@router.get(
    "/{user_id}", operation_id="getUser", response_model=schemas.User, responses=errors(401, 404)
)
async def get_user(user_id: UserId, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """One staff member of your restaurant."""
    return await service.read_user(uow, scope, user_id)


@router.patch(
    "/{user_id}",
    operation_id="updateUser",
    response_model=schemas.User,
    responses=errors(401, 403, 404, 412, conflicts=(ErrorCode.DUPLICATE, ErrorCode.CONFLICT)),
)
async def update_user(
    user_id: UserId,
    data: schemas.UserUpdate,
    uow: UnitOfWorkDep,
    scope: Scope,
    limiter: AuthLimiter,
    if_match: IfMatch = None,
) -> schemas.User:
    """Owners and managers edit staff up to their own role; any user may change their own
    `fullName`, `email` and `password`. Demoting the last owner is 409 `conflict`.

    Changing one's own `password` or `email` needs `currentPassword` in the same body: 403
    `forbidden` without it or when it is wrong. A wrong one counts as a failed login for
    that email; once the email's login limit is used up, `currentPassword` is refused with
    403 and `Retry-After` without being checked. A manager or owner changing someone else's
    password or email needs no `currentPassword`.

    A new `password`, `email` or `role` ends every session of that user at once: their
    access tokens answer 401 and their refresh tokens are revoked. That includes the
    caller's own session when they change their own password or email: the answer is 200
    with the updated user, and the app then logs in again with the new credentials. A
    PATCH that changes nothing, or only `fullName`, ends no session."""
    return await service.update_user(uow, scope, user_id, data, if_match_version(if_match), limiter)


@router.delete(
    "/{user_id}",
    operation_id="deleteUser",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 412, conflicts=(ErrorCode.CONFLICT,)),
)
async def delete_user(
    user_id: UserId, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Deleting the last owner is 409 `conflict`; every session of the user ends at once
    (access tokens answer 401, refresh tokens stop working)."""
    await service.delete_user(uow, scope, user_id, if_match_version(if_match))
