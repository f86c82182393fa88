"""Registration, login and the refresh-token lifecycle (rotation with reuse detection)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.auth.rate_limit import AuthRateLimiter
from app.auth.schemas import AuthSession, RegisterRequest
from app.core.config import Settings
from app.core.errors import Duplicate, Unauthorized
from app.core.security import (
    encode_access_token,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from app.db.session import UnitOfWork
from app.db.tenancy import CROSS_TENANT, RestaurantScope, _make_scope, bind_scope
from app.models import RefreshToken, Restaurant, User
from app.restaurants import schemas as restaurant_schemas
from app.restaurants.schemas import WEEKDAYS
from app.users import schemas as user_schemas


class RefreshTokenReused(Unauthorized):
    """An already rotated refresh token came back: its whole family is revoked (and kept so)."""

    message = "The refresh token was already used; please log in again"
    commit_before_raising = True


async def email_taken(uow: UnitOfWork, email: str) -> bool:
    """Emails are unique across the service, so this one lookup spans restaurants."""
    found = await uow.session.scalar(
        select(User.id).where(User.email == email).execution_options(**{CROSS_TENANT: True})
    )
    return found is not None


async def register(uow: UnitOfWork, data: RegisterRequest, settings: Settings) -> AuthSession:
    password_hash = await hash_password(data.password)
    if await email_taken(uow, data.email):
        raise Duplicate("That email is already registered", details={"field": "email"})
    session = uow.session
    restaurant = Restaurant(
        name=data.restaurant_name,
        timezone=data.timezone,
        service_hours={day: [] for day in WEEKDAYS},
    )
    session.add(restaurant)
    await session.flush()
    user = User(
        restaurant_id=restaurant.id,
        email=data.email,
        password_hash=password_hash,
        full_name=data.full_name,
        role="owner",
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise Duplicate("That email is already registered", details={"field": "email"}) from None
    bind_scope(session.sync_session, _make_scope(restaurant.id, user.id, user.role))
    return await _issue(uow, user, restaurant, settings, family_id=None)


async def login(
    uow: UnitOfWork,
    email: str,
    password: str,
    settings: Settings,
    limiter: AuthRateLimiter,
    client: str,
) -> AuthSession:
    email = email.strip().lower()
    limiter.attempt(client)
    # Counted before anything is awaited: attempts that arrive at once are counted in the
    # order they arrive, at most the limit of them are checked, and the others cost nothing.
    limiter.check_password_of(email)
    async with uow.read_connection() as conn:
        row = (
            await conn.execute(select(User.id, User.password_hash).where(User.email == email))
        ).first()
    # The same work whether or not the email exists (a dummy hash is verified otherwise).
    if not await verify_password(password, row.password_hash if row else None) or row is None:
        raise Unauthorized("Wrong email or password")
    limiter.succeeded(email)
    user = await uow.session.scalar(
        select(User).where(User.id == row.id).execution_options(**{CROSS_TENANT: True})
    )
    if user is None:  # deleted between the two reads
        raise Unauthorized("Wrong email or password")
    bind_scope(uow.session.sync_session, _make_scope(user.restaurant_id, user.id, user.role))
    restaurant = await uow.session.get_one(Restaurant, user.restaurant_id)
    return await _issue(uow, user, restaurant, settings, family_id=None)


async def refresh(
    uow: UnitOfWork, token: str, settings: Settings, limiter: AuthRateLimiter, client: str
) -> AuthSession:
    limiter.attempt(client)
    session = uow.session
    stored = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_refresh_token(token))
        .with_for_update()
        .execution_options(**{CROSS_TENANT: True})
    )
    now = datetime.now(UTC)
    if stored is None or stored.expires_at <= now:
        raise Unauthorized("The refresh token is not valid")
    user = await session.get(User, stored.user_id, execution_options={CROSS_TENANT: True})
    if user is None:
        raise Unauthorized("The refresh token is not valid")
    bind_scope(session.sync_session, _make_scope(user.restaurant_id, user.id, user.role))
    if stored.used_at is not None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == stored.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        raise RefreshTokenReused()
    if stored.revoked_at is not None:
        raise Unauthorized("The refresh token was revoked")
    stored.used_at = now
    restaurant = await session.get_one(Restaurant, user.restaurant_id)
    return await _issue(uow, user, restaurant, settings, family_id=stored.family_id)


async def logout(uow: UnitOfWork, scope: RestaurantScope, token: str) -> None:
    """Revoke the caller's own refresh token; anything else is silently ignored."""
    await uow.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == hash_refresh_token(token),
            RefreshToken.user_id == scope.user_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    )


async def _issue(
    uow: UnitOfWork, user: User, restaurant: Restaurant, settings: Settings, family_id: str | None
) -> AuthSession:
    now = datetime.now(UTC)
    refresh_token = new_refresh_token()
    uow.session.add(
        RefreshToken(
            restaurant_id=user.restaurant_id,
            user_id=user.id,
            token_hash=hash_refresh_token(refresh_token),
            family_id=family_id or secrets.token_hex(16),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    await uow.session.flush()
    access_token = encode_access_token(
        user_id=user.id,
        restaurant_id=user.restaurant_id,
        role=user.role,
        generation=user.token_generation,
        secret=settings.jwt_secret,
        minutes=settings.access_token_minutes,
        now=now,
    )
    return AuthSession(
        restaurant=restaurant_schemas.Restaurant.model_validate(restaurant),
        user=user_schemas.User.model_validate(user),
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=settings.access_token_minutes * 60,
    )
