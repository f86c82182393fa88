"""repository.load: rows read as compiled SQL and made into the session's own objects, as a
``select(model)`` would make them."""

from __future__ import annotations

from datetime import UTC

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import inspect

from app.db.repository import load, lock_all
from app.db.session import UnitOfWork
from app.db.tenancy import _make_scope
from app.models import DiningTable, Guest
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest, create_table


async def test_a_loaded_row_is_a_persistent_object_with_typed_values(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    made = await create_guest(client, owner)
    scope = _make_scope(owner.restaurant_id, owner.user_id, owner.role)
    uow = UnitOfWork(app.state.db, write=True)
    uow.bind(scope)
    try:
        guest = await load(uow, scope, Guest, made["id"])
        state = inspect(guest)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert guest.arrived_at.tzinfo is UTC
        assert guest.version == made["version"] and guest.name == made["name"]
        assert await load(uow, scope, Guest, made["id"]) is guest  # one object per row

        # A change is written by the ORM with the version it read (its optimistic check).
        guest.notes = "By the window"
        await uow.session.flush()
        assert guest.version == made["version"] + 1
        await uow.commit()
    finally:
        await uow.close()
    again = await client.get(f"/api/v1/guests/{made['id']}", headers=owner.headers)
    assert again.json()["notes"] == "By the window"


async def test_a_lock_reads_over_the_held_object_and_a_plain_load_keeps_it(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """As ``populate_existing``: a locked load puts the row as stored over what the session
    holds; an unlocked load gives back the held object as it is."""
    first = await create_table(client, owner, "1")
    second = await create_table(client, owner, "2")
    scope = _make_scope(owner.restaurant_id, owner.user_id, owner.role)
    uow = UnitOfWork(app.state.db, write=False)
    uow.bind(scope)
    try:
        table = await load(uow, scope, DiningTable, first["id"])
        table.section = "Scribbled"
        assert await load(uow, scope, DiningTable, first["id"]) is table
        assert table.section == "Scribbled"
        locked = await lock_all(uow, scope, DiningTable, [second["id"], first["id"]])
        assert list(locked) == [first["id"], second["id"]]
        assert locked[first["id"]] is table
        assert table.section == first["section"] and not inspect(table).modified
    finally:
        await uow.rollback()
        await uow.close()
