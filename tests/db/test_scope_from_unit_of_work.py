"""The restaurant of every read and write of ``app.db.rows`` and ``app.db.repository`` is the
one its unit of work is bound to, never one its caller names.

In a unit of work bound to restaurant A, no argument reaches B's rows: B's ids find nothing
(or the 404 of an id that never existed), B's restaurant named in a statement or a parameter
is refused, and a page cached for A never answers B. A unit of work bound to no restaurant
reads and writes nothing: every helper raises :class:`UnscopedQueryError`. And none of these
helpers has a parameter a scope could be passed through.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import Select, bindparam, select, update

from app.core.errors import NotFound
from app.db import repository, rows
from app.db.rows import SCOPE_PARAM, RowQuery
from app.db.session import UnitOfWork
from app.db.tenancy import UnscopedQueryError, bind_scope
from app.guests.schemas import Guest as GuestSchema
from app.guests.service import table_after_guest_leaves
from app.models import Guest
from app.restaurants.service import load_restaurant
from tests.fixtures.auth import Actor
from tests.fixtures.floor import GUESTS, create_guest
from tests.fixtures.units import scope_for, unit_of_work

BY_ID = RowQuery(
    select(Guest.id, Guest.restaurant_id, Guest.name).where(
        Guest.id == bindparam("id"), Guest.restaurant_id == bindparam(SCOPE_PARAM)
    )
)
RENAME = RowQuery(
    update(Guest)
    .where(Guest.restaurant_id == bindparam(SCOPE_PARAM), Guest.id == bindparam("id"))
    .values(name=bindparam("name"), updated_at=Guest.updated_at)
)
ORDER = (Guest.arrived_at, Guest.id)
KEY_TYPES = (datetime, int)


def guests_of(restaurant_id: int) -> Select[Any]:
    """Every column of the guests of ``restaurant_id``: the shape a guest list reads."""
    return select(*repository.columns_of(Guest)).where(Guest.restaurant_id == restaurant_id)


async def page_ids(
    uow: UnitOfWork, query: Select[Any], *, cache_as: tuple[Any, ...] | None = None
) -> list[int]:
    page = await repository.page_of(
        uow, query, GuestSchema, ORDER, KEY_TYPES, limit=50, cursor=None, cache_as=cache_as
    )
    return [item["id"] for item in json.loads(bytes(page.body))["items"]]


async def two_guests(client: AsyncClient, owner: Actor, rival: Actor) -> tuple[int, int]:
    """The ids of a guest of A's (``Mine``) and of one of B's (``Theirs``)."""
    mine = await create_guest(client, owner, "Mine")
    theirs = await create_guest(client, rival, "Theirs")
    return mine["id"], theirs["id"]


# ----- bound to A: nothing of B's, whatever the arguments ------------------------------------


async def test_a_read_unit_of_work_bound_to_a_returns_no_row_of_b_by_any_argument(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    mine, theirs = await two_guests(client, owner, rival)
    b = rival.restaurant_id
    async with unit_of_work(app, scope_for(owner), write=False) as uow:
        # By id: B's id finds nothing, A's finds A's row.
        assert await rows.fetch(uow, BY_ID, {"id": theirs}) == []
        assert [tuple(r) for r in await rows.fetch(uow, BY_ID, {"id": mine})] == [
            (mine, owner.restaurant_id, "Mine")
        ]
        # B's restaurant as a parameter, or in the statement itself: refused.
        with pytest.raises(UnscopedQueryError):
            await rows.fetch(uow, BY_ID, {"id": theirs, SCOPE_PARAM: b})
        with pytest.raises(UnscopedQueryError):
            await rows.fetch(uow, guests_of(b))
        with pytest.raises(UnscopedQueryError):
            rows.prepare(uow, guests_of(b))

        # The repository: B's id is a 404, as for an id that never existed.
        for lock in (False, True):
            with pytest.raises(NotFound):
                await repository.load(uow, Guest, theirs, lock=lock)
        with pytest.raises(NotFound):
            await repository.read_one(uow, Guest, GuestSchema, theirs)
        with pytest.raises(NotFound):
            await repository.lock_all(uow, Guest, [mine, theirs])
        assert list(await repository.read_existing(uow, Guest, [mine, theirs])) == [mine]
        assert list(await repository.lock_existing(uow, Guest, [mine, theirs])) == [mine]

        # Pages: B's query is refused, cached or not.
        for cache_as in (None, ("guests-of-b",)):
            with pytest.raises(UnscopedQueryError):
                await page_ids(uow, guests_of(b), cache_as=cache_as)
        assert await page_ids(uow, guests_of(owner.restaurant_id)) == [mine]


async def test_a_write_unit_of_work_bound_to_a_reads_and_writes_no_row_of_b(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    mine, theirs = await two_guests(client, owner, rival)
    b = rival.restaurant_id
    async with unit_of_work(app, scope_for(owner), write=True) as uow:
        session = uow.session
        with pytest.raises(NotFound):
            await repository.load(uow, Guest, theirs, lock=True)
        assert list(await repository.lock_existing(uow, Guest, [theirs, mine])) == [mine]
        # Inside the transaction, the statement is the ORM's, scoped to A whatever it names.
        assert await rows.fetch(uow, BY_ID, {"id": theirs, SCOPE_PARAM: b}) == []
        assert await rows.fetch(uow, guests_of(b)) == []
        with pytest.raises(UnscopedQueryError):
            await rows.fetch(uow, guests_of(b), in_transaction=False)

        assert await session.run_sync(rows.run, BY_ID, {"id": theirs}) == []
        renamed = {"id": theirs, "name": "Taken"}
        assert await session.run_sync(rows.execute, RENAME, renamed) == 0
        assert await session.run_sync(rows.execute_many, RENAME, [renamed]) in (0, None)
        for refused in (
            lambda s: rows.run(s, BY_ID, {"id": theirs, SCOPE_PARAM: b}),
            lambda s: rows.execute(s, RENAME, {**renamed, SCOPE_PARAM: b}),
            lambda s: rows.execute_many(s, RENAME, [{**renamed, SCOPE_PARAM: b}]),
        ):
            with pytest.raises(UnscopedQueryError):
                await session.run_sync(refused)
        await uow.commit()
    again = await client.get(f"{GUESTS}/{theirs}", headers=rival.headers)
    assert again.json()["name"] == "Theirs"


async def test_a_page_cached_for_a_never_answers_a_unit_of_work_bound_to_b(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """The page cache is keyed by the unit of work's restaurant, so the same ``cache_as``
    in B's unit of work reads B's page, not the one A's left in the cache."""
    mine, theirs = await two_guests(client, owner, rival)
    same = ("guests", "same name in both")
    async with unit_of_work(app, scope_for(owner), write=False) as uow:
        assert await page_ids(uow, guests_of(owner.restaurant_id), cache_as=same) == [mine]
    async with unit_of_work(app, scope_for(rival), write=False) as uow:
        assert await page_ids(uow, guests_of(rival.restaurant_id), cache_as=same) == [theirs]


async def test_a_unit_of_work_bound_through_its_session_is_bound_to_that_restaurant(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    """A session given its scope directly (``tenancy.bind_scope``, as the seed does) binds
    its unit of work: the helpers read that restaurant's rows, and only those."""
    mine, theirs = await two_guests(client, owner, rival)
    uow = UnitOfWork(app.state.db, write=False)
    bind_scope(uow.session.sync_session, scope_for(owner))
    try:
        assert uow.bound_scope() == scope_for(owner)
        assert await rows.fetch(uow, BY_ID, {"id": theirs}) == []
        assert list(await repository.read_existing(uow, Guest, [mine, theirs])) == [mine]
        with pytest.raises(UnscopedQueryError):
            uow.bind(scope_for(rival))
    finally:
        await uow.close()


# ----- bound to no restaurant: nothing at all -------------------------------------------------


def _reads(uow: UnitOfWork, owner: Actor, guest_id: int) -> Iterator[Callable[[], Awaitable[Any]]]:
    """Every helper that reads in a unit of work, each given A's own restaurant and row."""
    a = owner.restaurant_id
    yield lambda: rows.fetch(uow, BY_ID, {"id": guest_id})
    yield lambda: rows.fetch(uow, guests_of(a))
    yield lambda: rows.fetch(uow, guests_of(a), in_transaction=False)
    yield lambda: repository.load(uow, Guest, guest_id)
    yield lambda: repository.load(uow, Guest, guest_id, lock=True)
    yield lambda: repository.lock_all(uow, Guest, [guest_id])
    yield lambda: repository.lock_existing(uow, Guest, [guest_id])
    yield lambda: repository.read_existing(uow, Guest, [guest_id])
    yield lambda: repository.read_one(uow, Guest, GuestSchema, guest_id)
    yield lambda: page_ids(uow, guests_of(a))
    yield lambda: page_ids(uow, guests_of(a), cache_as=("guests",))
    yield lambda: load_restaurant(uow)
    yield lambda: table_after_guest_leaves(uow)


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
async def test_an_unbound_unit_of_work_reads_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor, write: bool
) -> None:
    guest_id = (await create_guest(client, owner, "Mine"))["id"]
    uow = UnitOfWork(app.state.db, write=write)
    try:
        for read in _reads(uow, owner, guest_id):
            with pytest.raises(UnscopedQueryError):
                await read()
        with pytest.raises(UnscopedQueryError):
            rows.prepare(uow, guests_of(owner.restaurant_id))
    finally:
        await uow.rollback()
        await uow.close()


async def test_an_unbound_session_runs_no_row_statement(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guest_id = (await create_guest(client, owner, "Mine"))["id"]
    renamed = {"id": guest_id, "name": "Taken"}
    uow = UnitOfWork(app.state.db, write=True)
    try:
        for unscoped in (
            lambda s: rows.run(s, BY_ID, {"id": guest_id}),
            lambda s: rows.execute(s, RENAME, renamed),
            lambda s: rows.execute_many(s, RENAME, [renamed]),
        ):
            with pytest.raises(UnscopedQueryError):
                await uow.session.run_sync(unscoped)
    finally:
        await uow.rollback()
        await uow.close()
    again = await client.get(f"{GUESTS}/{guest_id}", headers=owner.headers)
    assert again.json()["name"] == "Mine"


# ----- by construction: no parameter to pass a scope through ---------------------------------


def _helpers() -> Iterator[tuple[str, Callable[..., Any]]]:
    """The public functions and methods of rows and repository, and the services' readers
    of the restaurant's own row (which the ORM's tenancy criteria do not reach)."""
    for module in (rows, repository):
        for name, found in vars(module).items():
            if name.startswith("_") or getattr(found, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(found):
                yield f"{module.__name__}.{name}", found
            elif inspect.isclass(found):
                for attr, member in vars(found).items():
                    if inspect.isfunction(member) and (attr == "__init__" or attr[0] != "_"):
                        yield f"{module.__name__}.{name}.{attr}", member
    yield "load_restaurant", load_restaurant
    yield "table_after_guest_leaves", table_after_guest_leaves


def test_no_helper_takes_a_restaurant_from_its_caller() -> None:
    """Tenancy cannot depend on each caller passing the right scope when no caller passes
    one: no parameter is a RestaurantScope, or a scope or restaurant id by its name."""
    helpers = dict(_helpers())
    for expected in (
        "app.db.rows.fetch",
        "app.db.rows.prepare",
        "app.db.rows.run",
        "app.db.rows.execute",
        "app.db.rows.execute_many",
        "app.db.repository.load",
        "app.db.repository.lock_all",
        "app.db.repository.lock_existing",
        "app.db.repository.read_existing",
        "app.db.repository.read_one",
        "app.db.repository.page_of",
        "app.db.repository.flush",
    ):
        assert expected in helpers, expected
    taking = [
        f"{name}({parameter.name})"
        for name, helper in helpers.items()
        for parameter in inspect.signature(helper).parameters.values()
        if "RestaurantScope" in str(parameter.annotation)
        or parameter.name in ("scope", "restaurant_id", "restaurant")
    ]
    assert taking == []
