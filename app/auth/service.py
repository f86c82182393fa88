"""Registration, login and the refresh-token lifecycle (rotation with reuse detection)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.rate_limit import AuthRateLimiter
from app.auth.schemas import AuthSession, RegisterRequest
from app.core.config import Settings
from app.core.errors import Duplicate, NotFound, Unauthorized
from app.core.security import (
    encode_access_token,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from app.core.vocabulary import Role
from app.db.repository import load
from app.db.session import UnitOfWork
from app.db.tenancy import CROSS_TENANT, RestaurantScope, _make_scope
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
        role=Role.OWNER,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise Duplicate("That email is already registered", details={"field": "email"}) from None
    uow.bind(_make_scope(restaurant.id, user.id, user.role))
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
    async with uow.read_connection() as conn:
        row = (
            await conn.execute(
                select(
                    User.id,
                    User.restaurant_id,
                    User.role,
                    User.password_hash,
                    User.token_generation,
                ).where(User.email == email)
            )
        ).first()
    # The same work whether or not the email exists (a dummy hash is verified otherwise).
    password_hash = row.password_hash if row else None
    if not await password_matches(limiter, email, password, password_hash) or row is None:
        raise Unauthorized("Wrong email or password")
    uow.bind(_make_scope(row.restaurant_id, row.id, row.role))
    # Locked and read again: credentials that changed while the password was checked ended
    # every session, and this one must not outlive them; a change still running waits for
    # this commit and then revokes the refresh token issued here.
    try:
        user = await load(uow, User, row.id, lock=True)
    except NotFound:
        raise Unauthorized("Wrong email or password") from None
    if user.token_generation != row.token_generation:
        raise Unauthorized("The account changed during the login; please log in again")
    restaurant = await uow.session.get_one(Restaurant, user.restaurant_id)
    return await _issue(uow, user, restaurant, settings, family_id=None)


async def password_matches(
    limiter: AuthRateLimiter, email: str, password: str, password_hash: str | None
) -> bool:
    """Check the password of the account with that email (``password_hash`` None: there is
    none; the same work, and False). Every check counts against the email's limit before it
    starts, so at most that many run per window even when they arrive at once; past it this
    raises RateLimited without checking. A match clears the count."""
    limiter.check_password_of(email)
    if not await verify_password(password, password_hash):
        return False
    limiter.succeeded(email)
    return True


async def refresh(
    uow: UnitOfWork, token: str, settings: Settings, limiter: AuthRateLimiter, client: str
) -> AuthSession:
    limiter.attempt(client)
    session = uow.session
    # Unlocked, the one look across restaurants: which restaurant and user the token belongs
    # to must be known before any row is locked (write transactions lock their restaurant's
    # row first).
    found = (
        await session.execute(
            select(RefreshToken.id, RefreshToken.user_id, RefreshToken.restaurant_id, User.role)
            .join(User, User.id == RefreshToken.user_id)
            .where(RefreshToken.token_hash == hash_refresh_token(token))
            .execution_options(**{CROSS_TENANT: True})
        )
    ).first()
    if found is None:
        raise Unauthorized("The refresh token is not valid")
    uow.bind(_make_scope(found.restaurant_id, found.user_id, found.role))
    # The user's row, then the token's (the documented lock order), each re-read under its
    # lock. A credential change that committed meanwhile has revoked this token, which the
    # checks below see; one still running waits for this commit and then revokes the
    # successor issued here.
    try:
        user = await load(uow, User, found.user_id, lock=True)
        stored = await load(uow, RefreshToken, found.id, lock=True)
    except NotFound:
        raise Unauthorized("The refresh token is not valid") from None
    now = datetime.now(UTC)
    if stored.expires_at <= now:
        raise Unauthorized("The refresh token is not valid")
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


# What a session was granted on: when any of it changes, every session of that user ends.
CREDENTIALS = ("password_hash", "email", "role")


class SessionsNotEnded(RuntimeError):
    """A user's credentials changed without end_sessions(): a bug, never a client error."""


def changed_credentials(user: User) -> list[str]:
    """Which of the user's credentials were set to a new value since the last flush."""
    attrs = inspect(user).attrs
    return [name for name in CREDENTIALS if attrs[name].history.has_changes()]


async def end_sessions(uow: UnitOfWork, user: User) -> None:
    """End every session of this user, in the transaction that changes their credentials:
    access tokens carry the old generation (authentication answers 401) and every refresh
    token is revoked. The caller holds the user's row lock (users before refresh_tokens)."""
    user.token_generation += 1
    await uow.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


@event.listens_for(Session, "before_flush")
def _credential_changes_end_sessions(session: Session, _ctx: Any, _instances: Any) -> None:
    """The guard behind end_sessions(): a flush that changes a user's credentials without it
    fails loudly, so a new path that forgets it cannot pass its tests."""
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        changed = changed_credentials(obj)
        if changed and not inspect(obj).attrs.token_generation.history.has_changes():
            raise SessionsNotEnded(
                f"user {obj.id}: {', '.join(changed)} changed without end_sessions()"
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
