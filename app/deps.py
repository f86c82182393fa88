"""The request dependencies, as Annotated aliases in one place."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.requests import HTTPConnection
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import bindparam, select

from app.core.config import Settings
from app.core.errors import Forbidden, Unauthorized, field_error
from app.core.schemas import never_null
from app.core.security import InvalidToken, decode_access_token
from app.core.vocabulary import Role
from app.db import rows
from app.db.session import UnitOfWork, UnitOfWorkDep, unit_of_work_of
from app.db.tenancy import RestaurantScope, _make_scope
from app.models import User

# Highest last: a role may do what any role before it may.
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(reversed(Role))}

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def _settings(connection: HTTPConnection) -> Settings:
    """The settings this app was created with (create_app may be given its own)."""
    settings: Settings = connection.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


# The user a token names, in the restaurant it names: what must still match its claims.
TOKEN_USER = rows.RowQuery(
    select(User.role, User.token_generation).where(
        User.id == bindparam("id"), User.restaurant_id == bindparam(rows.SCOPE_PARAM)
    )
)


async def authenticate(token: str | None, uow: UnitOfWork, settings: Settings) -> RestaurantScope:
    """Verify an access token against the current user row; any doubt is a 401. ``uow`` is
    bound to the token's restaurant (a unit of work never serves two)."""
    return (await authenticate_reading(token, uow, settings, TOKEN_USER))[0]


async def authenticate_reading(
    token: str | None, uow: UnitOfWork, settings: Settings, query: rows.RowQuery
) -> tuple[RestaurantScope, Any]:
    """:func:`authenticate`, with the user row read by ``query``: its first two columns are
    the user's role and token generation, by ``:id``; what else it reads of the restaurant
    comes back with the scope (the dashboard's revision: one statement, not two)."""
    if not token:
        raise Unauthorized()
    try:
        claims = decode_access_token(token, secret=settings.jwt_secret)
    except InvalidToken:
        raise Unauthorized("The access token is not valid") from None
    # The unit of work serves the restaurant the signed token names from here on: the user row
    # is read in it, and a row that no longer matches the claims ends the request with a 401.
    # Read outside the request's transaction: a write transaction begins only when the service
    # first writes, after any slow work such as password hashing.
    claimed = _make_scope(claims.restaurant_id, claims.user_id, claims.role)
    uow.bind(claimed)
    found = await rows.fetch(uow, query, {"id": claims.user_id}, in_transaction=False)
    if not found or found[0][0] != claims.role or found[0][1] != claims.generation:
        raise Unauthorized("The access token is no longer valid")
    return claimed, found[0]


async def current_scope(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> RestaurantScope:
    return (await scope_reading(request, token, TOKEN_USER))[0]


async def scope_reading(
    request: Request, token: str | None, query: rows.RowQuery
) -> tuple[RestaurantScope, Any]:
    """:func:`current_scope` by :func:`authenticate_reading`: the scope, bound to the
    request's unit of work, and the row ``query`` read."""
    uow = unit_of_work_of(request)
    scope, row = await authenticate_reading(token, uow, request.app.state.settings, query)
    request.state.restaurant_id = scope.restaurant_id
    request.state.scope = scope
    return scope, row


Scope = Annotated[RestaurantScope, Depends(current_scope)]


def bearer_token(connection: HTTPConnection) -> str | None:
    """The access token of ``Authorization: Bearer <token>``, as the ``Scope`` dependency
    reads it (FastAPI's OAuth2PasswordBearer), for a route (or a WebSocket) that
    authenticates by calling :func:`current_scope` or :func:`authenticate_reading` itself."""
    authorization = connection.headers.get("authorization")
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and scheme.lower() == "bearer" else None


def require_role(minimum: Role):  # type: ignore[no-untyped-def]
    async def _check(scope: Scope) -> RestaurantScope:
        if ROLE_RANK[scope.role] < ROLE_RANK[minimum]:
            raise Forbidden(f"This needs the {minimum} role or above")
        return scope

    return _check


ManagerScope = Annotated[RestaurantScope, Depends(require_role(Role.MANAGER))]


IfMatch = Annotated[
    str | None,
    Header(
        description='Optional `"<version>"`: the write is refused with 412 unless the row '
        "still has that version. `*` matches any version.",
        json_schema_extra=never_null,
    ),
]
"""The If-Match header as sent; :func:`if_match_version` reads it. A plain header parameter
rather than a dependency: FastAPI spends ~20 us on each dependency of a request."""


def if_match_version(if_match: str | None) -> int | None:
    """The version an If-Match header names (None: any), or 422."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    # ASCII digits only (isdigit() alone takes "²", which int() refuses: a 500), and no more
    # than a 64-bit version has (int() of thousands of digits raises too).
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise field_error(["header", "If-Match"], 'If-Match must be "<version>"')
    return int(value)


__all__ = [
    "IfMatch",
    "ManagerScope",
    "Scope",
    "SettingsDep",
    "UnitOfWork",
    "UnitOfWorkDep",
    "authenticate",
    "if_match_version",
    "require_role",
]
