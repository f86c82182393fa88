"""Staff management: roles never above one's own, and a restaurant always keeps an owner."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.service import email_taken
from app.core.errors import Conflict, Duplicate, Forbidden
from app.core.schemas import Page
from app.core.security import hash_password
from app.db.repository import check_version, columns_of, load, page_of
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.deps import ROLE_RANK
from app.models import User
from app.users import schemas


def _outranks(scope: RestaurantScope, role: str) -> bool:
    return ROLE_RANK[scope.role] >= ROLE_RANK[role]


def _require_manager(scope: RestaurantScope) -> None:
    if ROLE_RANK[scope.role] < ROLE_RANK["manager"]:
        raise Forbidden("Managing staff needs the manager role or above")


async def list_users(
    uow: UnitOfWork, scope: RestaurantScope, *, limit: int, cursor: str | None
) -> Page[schemas.User]:
    stmt = select(*columns_of(User)).where(User.restaurant_id == scope.restaurant_id)
    return await page_of(uow, stmt, schemas.User, (User.id,), (int,), limit=limit, cursor=cursor)


async def get_user(uow: UnitOfWork, scope: RestaurantScope, user_id: int) -> schemas.User:
    return schemas.User.model_validate(await load(uow, scope, User, user_id))


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


async def _remaining_owners(uow: UnitOfWork, scope: RestaurantScope, excluding: int) -> int:
    # Locks the owner rows on PostgreSQL so two demotions cannot both pass this check.
    owners = (
        await uow.session.scalars(
            select(User.id)
            .where(User.restaurant_id == scope.restaurant_id, User.role == "owner")
            .with_for_update()
        )
    ).all()
    return len([o for o in owners if o != excluding])


async def update_user(
    uow: UnitOfWork,
    scope: RestaurantScope,
    user_id: int,
    data: schemas.UserUpdate,
    if_match: int | None,
) -> schemas.User:
    """Managers and owners edit staff up to their own rank; anyone edits their own name,
    email and password."""
    changes = data.changes()
    if user_id != scope.user_id or "role" in changes:
        _require_manager(scope)
    password = changes.pop("password", None)
    password_hash = await hash_password(password) if password is not None else None
    user = await load(uow, scope, User, user_id, lock=True)
    check_version(user, if_match)
    new_role = changes.get("role", user.role)
    if not _outranks(scope, user.role) or not _outranks(scope, new_role):
        raise Forbidden(f"A {scope.role} cannot make a {user.role} a {new_role}")
    if changes.get("email", user.email) != user.email and await email_taken(uow, changes["email"]):
        raise Duplicate("That email is already registered", details={"field": "email"})
    if (
        user.role == "owner"
        and new_role != "owner"
        and await _remaining_owners(uow, scope, excluding=user.id) == 0
    ):
        raise Conflict("A restaurant must keep at least one owner")
    if new_role != user.role:
        # Outstanding access tokens carry the old role: they stop working now.
        user.token_generation += 1
    for field, value in changes.items():
        setattr(user, field, value)
    if password_hash is not None:
        user.password_hash = password_hash
    await uow.session.flush()
    return schemas.User.model_validate(user)


async def delete_user(
    uow: UnitOfWork, scope: RestaurantScope, user_id: int, if_match: int | None
) -> None:
    _require_manager(scope)
    user = await load(uow, scope, User, user_id, lock=True)
    check_version(user, if_match)
    if not _outranks(scope, user.role):
        raise Forbidden(f"A {scope.role} cannot remove a {user.role}")
    if user.role == "owner" and await _remaining_owners(uow, scope, excluding=user.id) == 0:
        raise Conflict("A restaurant must keep at least one owner")
    await uow.session.delete(user)
    await uow.session.flush()
