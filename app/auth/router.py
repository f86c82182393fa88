"""Register, log in, refresh, log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status

from app.auth import schemas, service
from app.auth.rate_limit import AuthLimiter
from app.core.openapi import API_PREFIX, errors
from app.core.vocabulary import ErrorCode
from app.db.session import UnitOfWorkRoute
from app.deps import Scope, SettingsDep, UnitOfWorkDep
from app.idempotency.route import IdempotentRoute
from app.restaurants.service import get_restaurant
from app.users.service import get_user

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"], route_class=UnitOfWorkRoute)


async def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Client = Annotated[str, Depends(_client)]


@router.post(
    "/register",
    operation_id="register",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AuthSession,
    responses=errors(429, conflicts=(ErrorCode.DUPLICATE,)),
)
async def register(
    data: schemas.RegisterRequest,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    limiter: AuthLimiter,
    client: Client,
) -> schemas.AuthSession:
    """Create a restaurant and its first owner, and log the owner in."""
    limiter.attempt(client)
    return await service.register(uow, data, settings)


@router.post(
    "/login", operation_id="login", response_model=schemas.AuthSession, responses=errors(401, 429)
)
async def login(
    data: schemas.LoginRequest,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    limiter: AuthLimiter,
    client: Client,
) -> schemas.AuthSession:
    """401 on a wrong email or password (the same answer either way). 429 once one email has
    had its password checked the configured number of times in the window (attempts count as
    they start, so a burst is held to that number too; a success clears the count), or one
    client address has made too many auth attempts."""
    return await service.login(uow, data.email, data.password, settings, limiter, client)


@router.post(
    "/token",
    operation_id="issueToken",
    response_model=schemas.OAuth2Token,
    responses=errors(401, 429),
)
async def token(
    form: Annotated[schemas.TokenForm, Form()],
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    limiter: AuthLimiter,
    client: Client,
) -> schemas.OAuth2Token:
    """OAuth2 password grant (form fields `username`, `password`), for Swagger's Authorize
    button. Answers in the RFC 6749 shape."""
    session = await service.login(uow, form.username, form.password, settings, limiter, client)
    return schemas.OAuth2Token(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_in=session.expires_in,
    )


@router.post(
    "/refresh",
    operation_id="refreshToken",
    response_model=schemas.AuthSession,
    responses=errors(401, 429),
)
async def refresh(
    data: schemas.RefreshRequest,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    limiter: AuthLimiter,
    client: Client,
) -> schemas.AuthSession:
    """Rotate: the presented refresh token stops working and a new pair is returned.
    Presenting an already used refresh token revokes its whole family (401)."""
    return await service.refresh(uow, data.refresh_token, settings, limiter, client)


auth_required = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"], route_class=IdempotentRoute)


@auth_required.post(
    "/logout",
    operation_id="logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401),
)
async def logout(data: schemas.RefreshRequest, uow: UnitOfWorkDep, scope: Scope) -> None:
    """Revoke the given refresh token (of the calling user)."""
    await service.logout(uow, scope, data.refresh_token)


@auth_required.get("/me", operation_id="getMe", response_model=schemas.Me, responses=errors(401))
async def me(uow: UnitOfWorkDep, scope: Scope) -> schemas.Me:
    """The signed-in staff member and their restaurant."""
    return schemas.Me(
        user=await get_user(uow, scope, scope.user_id), restaurant=await get_restaurant(uow, scope)
    )
