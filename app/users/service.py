"""Staff management: roles never above one's own, and a restaurant always keeps an owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from app.auth.rate_limit import AuthRateLimiter
from app.auth.service import changed_credentials, email_taken, end_sessions, password_matches
from app.core.errors import Conflict, Duplicate, Forbidden, RateLimited
from app.core.security import hash_password
from app.core.vocabulary import Role
from app.db.repository import JSONBody, check_version, columns_of, load, page_of, read_one
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.deps import ROLE_RANK
from app.models import User
from app.users import schemas


def _outranks(scope: RestaurantScope, role: str) -> bool:
    return ROLE_RANK[scope.role] >= ROLE_RANK[role]


def _require_manager(scope: RestaurantScope) -> None:
    if ROLE_RANK[scope.role] < ROLE_RANK[Role.MANAGER]:
        raise Forbidden("Managing staff needs the manager role or above")


async def list_users(
    uow: UnitOfWork, scope: RestaurantScope, *, limit: int, cursor: str | None
) -> JSONBody:
    stmt = select(*columns_of(User)).where(User.restaurant_id == scope.restaurant_id)
    return await page_of(uow, stmt, schemas.User, (User.id,), (int,), limit=limit, cursor=cursor)


async def get_user(uow: UnitOfWork, scope: RestaurantScope, user_id: int) -> schemas.User:
    return schemas.User.model_validate(await load(uow, User, user_id))


async def read_user(uow: UnitOfWork, scope: RestaurantScope, user_id: int) -> JSONBody:
    return await read_one(uow, User, schemas.User, user_id)


async def create_user(
    uow: UnitOfWork, scope: RestaurantScope, data: schemas.UserCreate
) -> schemas.User:
    _require_manager(scope)
    if not _outranks(scope, data.role):
        raise Forbidden(f"A {scope.role} cannot create a {data.role}")
    password_hash = await hash_password(data.password)
    if await email_taken(uow, data.email):
        raise Duplicate("That email is already registered", details={"field": "email"})
    user = User(
        restaurant_id=scope.restaurant_id,
        email=data.email,
        full_name=data.full_name,
        role=data.role,
        password_hash=password_hash,
    )
    uow.session.add(user)
    await uow.session.flush()
    return schemas.User.model_validate(user)


async def _remaining_owners(
    uow: UnitOfWork, scope: RestaurantScope, excluding: int, *, lock: bool
) -> int:
    stmt = select(User.id).where(User.restaurant_id == scope.restaurant_id, User.role == Role.OWNER)
    if lock:
        # Locks the owner rows on PostgreSQL so two demotions cannot both pass this check.
        stmt = stmt.with_for_update()
    owners = (await uow.session.scalars(stmt)).all()
    return len([o for o in owners if o != excluding])


@asynccontextmanager
async def _short_read(uow: UnitOfWork) -> AsyncIterator[UnitOfWork]:
    """A read-only unit of work beside the request's, bound to its restaurant and closed at
    once: checks run on it before slow work (argon2) without opening the request's write
    transaction."""
    reader = UnitOfWork(uow.db, write=False)
    reader.bind(uow.bound_scope())
    try:
        yield reader
    finally:
        await reader.close()


def _check_allowed(
    scope: RestaurantScope,
    user: User,
    changes: dict[str, Any],
    if_match: int | None,
    *,
    early: bool = False,
) -> None:
    """412 for a stale If-Match, 403 for a user or role above the caller's own."""
    check_version(user, if_match, early=early)
    new_role = changes.get("role", user.role)
    if not _outranks(scope, user.role) or not _outranks(scope, new_role):
        raise Forbidden(f"A {scope.role} cannot make a {user.role} a {new_role}")


async def _check_conflicts(
    uow: UnitOfWork, scope: RestaurantScope, user: User, changes: dict[str, Any], *, lock: bool
) -> None:
    """409 for an email registered anywhere, or for the restaurant's last owner demoted."""
    if changes.get("email", user.email) != user.email and await email_taken(uow, changes["email"]):
        raise Duplicate("That email is already registered", details={"field": "email"})
    if (
        user.role == Role.OWNER
        and changes.get("role", user.role) != Role.OWNER
        and await _remaining_owners(uow, scope, excluding=user.id, lock=lock) == 0
    ):
        raise Conflict("A restaurant must keep at least one owner")


async def _confirm_own_password(
    limiter: AuthRateLimiter, user: User, current_password: str | None
) -> None:
    """A stolen access token alone must not be enough to take an account over. The check
    counts against the email's login limit, so it is no faster a way to guess the password;
    past that limit it is refused unchecked, with 403 since only the auth endpoints answer
    429 (docs/contract.md)."""
    if current_password is None:
        raise Forbidden("Changing your own password or email needs currentPassword")
    try:
        matches = await password_matches(limiter, user.email, current_password, user.password_hash)
    except RateLimited as exc:
        raise Forbidden(
            "Too many wrong passwords for this account; try again later", headers=exc.headers
        ) from None
    if not matches:
        raise Forbidden("currentPassword is not your password")


async def update_user(
    uow: UnitOfWork,
    scope: RestaurantScope,
    user_id: int,
    data: schemas.UserUpdate,
    if_match: int | None,
    limiter: AuthRateLimiter,
) -> schemas.User:
    """Managers and owners edit staff up to their own rank; anyone edits their own name,
    email and password, the last two with their current password. A new password, email or
    role ends every session of that user, the caller's own included."""
    changes = data.changes()
    current_password = changes.pop("current_password", None)
    if user_id != scope.user_id or "role" in changes:
        _require_manager(scope)
    # Every refusal is found on a short read before any argon2 work, so a refused request
    # costs none, and no write transaction waits on a password being verified or hashed.
    async with _short_read(uow) as reader:
        seen = await load(reader, User, user_id)
        _check_allowed(scope, seen, changes, if_match, early=True)
        confirming = user_id == scope.user_id and (
            "password" in changes or changes.get("email", seen.email) != seen.email
        )
        if not confirming:
            await _check_conflicts(reader, scope, seen, changes, lock=False)
    if confirming:
        await _confirm_own_password(limiter, seen, current_password)
        # Only now: without the password, nobody learns from a 409 whether an email is taken.
        async with _short_read(uow) as reader:
            await _check_conflicts(reader, scope, seen, changes, lock=False)
    password = changes.pop("password", None)
    password_hash = await hash_password(password) if password is not None else None

    # The write: the row locked and every check made again, since it may have changed.
    user = await load(uow, User, user_id, lock=True)
    _check_allowed(scope, user, changes, if_match)
    if confirming and user.password_hash != seen.password_hash:
        raise Forbidden("currentPassword is no longer your password")
    await _check_conflicts(uow, scope, user, changes, lock=True)
    for field, value in changes.items():
        setattr(user, field, value)
    if password_hash is not None:
        user.password_hash = password_hash
    if changed_credentials(user):
        await end_sessions(uow, user)
    await uow.session.flush()
    return schemas.User.model_validate(user)


async def delete_user(
    uow: UnitOfWork, scope: RestaurantScope, user_id: int, if_match: int | None
) -> None:
    _require_manager(scope)
    user = await load(uow, User, user_id, lock=True)
    check_version(user, if_match)
    if not _outranks(scope, user.role):
        raise Forbidden(f"A {scope.role} cannot remove a {user.role}")
    if (
        user.role == Role.OWNER
        and await _remaining_owners(uow, scope, excluding=user.id, lock=True) == 0
    ):
        raise Conflict("A restaurant must keep at least one owner")
    # The row's removal already ends its sessions (refresh tokens go with it); ending them
    # here too keeps every path through one door.
    await end_sessions(uow, user)
    await uow.session.delete(user)
    await uow.session.flush()
