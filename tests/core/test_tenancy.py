"""The tenancy guard: unscoped ORM queries on tenant rows fail loudly; scoped ones are filtered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tenancy import (
    CROSS_TENANT,
    RestaurantScope,
    UnscopedQueryError,
    _make_scope,
    bind_scope,
)
from app.models import RefreshToken, Restaurant, User
from tests.fixtures.auth import Actor, add_staff


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A bare session of the app's database, as a service would get it, with no scope yet."""
    async with app.state.db.session(write=True) as db_session:
        yield db_session
        await db_session.rollback()


def scope_for(actor: Actor) -> RestaurantScope:
    return _make_scope(actor.restaurant_id, actor.user_id, actor.role)


async def all_user_ids(app: FastAPI) -> list[int]:
    """Every user row, read outside the ORM guard (a plain Core connection)."""
    async with app.state.db.engine.connect() as conn:
        return list((await conn.scalars(select(User.__table__.c.id).order_by("id"))).all())


@pytest.mark.parametrize(
    "statement",
    [
        select(User),
        select(User.id),
        select(User).where(User.id == 1),
        select(func.count()).select_from(User),
        select(RefreshToken),
        select(Restaurant.name).join(User, User.restaurant_id == Restaurant.id),
    ],
    ids=["entity", "column", "by-id", "count", "refresh-tokens", "join"],
)
async def test_an_unscoped_select_on_a_tenant_model_raises(
    session: AsyncSession, owner: Actor, statement: object
) -> None:
    with pytest.raises(UnscopedQueryError):
        await session.execute(statement)  # type: ignore[call-overload]


async def test_unscoped_get_update_and_delete_raise(
    app: FastAPI, session: AsyncSession, owner: Actor
) -> None:
    with pytest.raises(UnscopedQueryError):
        await session.get(User, owner.user_id)
    with pytest.raises(UnscopedQueryError):
        await session.execute(update(User).values(full_name="Everyone"))
    with pytest.raises(UnscopedQueryError):
        await session.execute(delete(User))
    assert await all_user_ids(app) == [owner.user_id]


async def test_a_non_tenant_model_needs_no_scope(session: AsyncSession, owner: Actor) -> None:
    names = (await session.scalars(select(Restaurant.name))).all()
    assert names == ["Restaurant A"]


async def test_cross_tenant_statements_must_say_so(
    session: AsyncSession, owner: Actor, rival: Actor
) -> None:
    ids = (
        await session.scalars(
            select(User.id).order_by(User.id).execution_options(**{CROSS_TENANT: True})
        )
    ).all()
    assert ids == [owner.user_id, rival.user_id]


async def test_a_scoped_session_sees_only_its_restaurant(
    client: AsyncClient, session: AsyncSession, owner: Actor, rival: Actor
) -> None:
    mine = [owner.user_id, (await add_staff(client, owner, "host")).user_id]
    await add_staff(client, rival, "host")
    bind_scope(session.sync_session, scope_for(owner))

    # None of these statements filters by restaurant: the guard does it for them.
    assert (await session.scalars(select(User.id).order_by(User.id))).all() == mine
    assert await session.scalar(select(func.count()).select_from(User)) == len(mine)
    assert await session.scalar(select(User).where(User.id == rival.user_id)) is None
    assert await session.get(User, rival.user_id) is None
    tokens = (await session.scalars(select(RefreshToken.user_id).distinct())).all()
    assert set(tokens) <= set(mine) and tokens
    joined = (
        await session.scalars(
            select(Restaurant.name).join(User, User.restaurant_id == Restaurant.id).distinct()
        )
    ).all()
    assert joined == ["Restaurant A"]


async def test_scoped_update_and_delete_touch_only_their_restaurant(
    app: FastAPI, client: AsyncClient, session: AsyncSession, owner: Actor, rival: Actor
) -> None:
    staff = await add_staff(client, owner, "server")
    bind_scope(session.sync_session, scope_for(owner))

    renamed = await session.execute(update(User).values(full_name="Renamed"))
    removed = await session.execute(delete(User).where(User.role == "server"))
    await session.commit()

    assert renamed.rowcount == 2  # type: ignore[attr-defined]
    assert removed.rowcount == 1  # type: ignore[attr-defined]
    assert await all_user_ids(app) == [owner.user_id, rival.user_id]
    assert staff.user_id not in await all_user_ids(app)
    response = await client.get(f"/api/v1/users/{rival.user_id}", headers=rival.headers)
    assert response.json()["fullName"] == "Olive Owner"


async def test_a_scoped_session_cannot_write_another_restaurants_row(
    app: FastAPI, session: AsyncSession, owner: Actor, rival: Actor
) -> None:
    bind_scope(session.sync_session, scope_for(owner))
    session.add(
        User(
            restaurant_id=rival.restaurant_id,
            email="planted@example.com",
            password_hash="x",
            full_name="Planted",
            role="owner",
        )
    )

    with pytest.raises(UnscopedQueryError):
        await session.flush()
    await session.rollback()
    assert await all_user_ids(app) == [owner.user_id, rival.user_id]


async def test_a_session_cannot_serve_two_restaurants(
    session: AsyncSession, owner: Actor, rival: Actor
) -> None:
    bind_scope(session.sync_session, scope_for(owner))
    bind_scope(session.sync_session, scope_for(owner))  # the same restaurant again is fine

    with pytest.raises(UnscopedQueryError):
        bind_scope(session.sync_session, scope_for(rival))
    assert (await session.scalars(select(User.id))).all() == [owner.user_id]


@pytest.mark.parametrize(
    "args",
    [(1, 1, "owner"), (1, 1, "owner", object()), (1, 1, "owner", None)],
    ids=["positional", "forged-token", "none-token"],
)
def test_a_scope_cannot_be_constructed_directly(args: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        RestaurantScope(*args)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RestaurantScope(restaurant_id=1, user_id=1, role="owner")


def test_a_scope_is_immutable() -> None:
    scope = _make_scope(1, 2, "host")
    with pytest.raises(AttributeError):
        scope.restaurant_id = 3  # type: ignore[misc]
    assert (scope.restaurant_id, scope.user_id, scope.role) == (1, 2, "host")
