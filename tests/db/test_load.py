"""repository.load: rows read as compiled SQL and made into the session's own objects, as a
``select(model)`` would make them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.auth.service import SessionsNotEnded
from app.db.repository import flush, held, load, lock_all, row_body, state_of
from app.db.tenancy import UnscopedQueryError
from app.guests import schemas as guest_schemas
from app.models import DiningTable, Guest, User
from app.tables import schemas as table_schemas
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest, create_table
from tests.fixtures.units import scope_for, unit_of_work


async def test_a_loaded_row_is_a_persistent_object_with_typed_values(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    made = await create_guest(client, owner)
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        guest = await load(uow, Guest, made["id"])
        state = inspect(guest)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert guest.arrived_at.tzinfo is UTC
        assert guest.version == made["version"] and guest.name == made["name"]
        assert await load(uow, Guest, made["id"]) is guest  # one object per row

        # A change is written by the ORM with the version it read (its optimistic check).
        guest.notes = "By the window"
        await uow.session.flush()
        assert guest.version == made["version"] + 1
        await uow.commit()
    again = await client.get(f"/api/v1/guests/{made['id']}", headers=owner.headers)
    assert again.json()["notes"] == "By the window"


async def test_a_lock_reads_over_the_held_object_and_a_plain_load_keeps_it(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """As ``populate_existing``: a locked load puts the row as stored over what the session
    holds; an unlocked load gives back the held object as it is."""
    first = await create_table(client, owner, "1")
    second = await create_table(client, owner, "2")
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=False) as uow:
        table = await load(uow, DiningTable, first["id"])
        table.section = "Scribbled"
        assert await load(uow, DiningTable, first["id"]) is table
        assert table.section == "Scribbled"
        locked = await lock_all(uow, DiningTable, [second["id"], first["id"]])
        assert list(locked) == [first["id"], second["id"]]
        assert locked[first["id"]] is table
        assert table.section == first["section"] and not inspect(table).modified


# ----- flush(): the changed rows of the floor, written by prebuilt UPDATEs --------------------


async def test_flush_writes_the_changed_columns_and_leaves_the_row_clean(
    app: FastAPI, client: AsyncClient, owner: Actor, statements: list[str]
) -> None:
    made = await create_guest(client, owner)
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        guest = await load(uow, Guest, made["id"], lock=True)
        statements.clear()
        guest.notes = "Birthday"
        guest.name = made["name"]  # set to what it was: not a change
        await flush(uow)
        updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE GUESTS")]
        assert len(updates) == 1 and "notes" in updates[0] and "name" not in updates[0]
        assert guest.version == made["version"] + 1 and guest.updated_at > guest.created_at
        assert not inspect(guest).modified
        assert [(c.entity, c.id, c.row["version"]) for c in uow.changes] == [  # type: ignore[index]
            ("guests", guest.id, guest.version)
        ]
        statements.clear()
        await flush(uow)  # nothing changed since
        assert not [s for s in statements if "UPDATE GUESTS" in s.upper()]
        await uow.commit()
    stored = (await client.get(f"/api/v1/guests/{made['id']}", headers=owner.headers)).json()
    assert stored["notes"] == "Birthday" and stored["version"] == made["version"] + 1


async def test_flush_refuses_a_row_changed_since_it_was_read(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """The UPDATE names the version it read, as the ORM's does: a row at another version
    matches nothing, and the write fails instead of overwriting it."""
    made = await create_guest(client, owner)
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        guest = await load(uow, Guest, made["id"], lock=True)
        set_committed_value(guest, "version", guest.version - 1)  # as if read before a write
        guest.notes = "Lost update"
        with pytest.raises(StaleDataError):
            await flush(uow)


async def test_flush_refuses_a_row_of_another_restaurant(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    made = await create_guest(client, owner)
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        guest = await load(uow, Guest, made["id"], lock=True)
        guest.restaurant_id = rival.restaurant_id
        with pytest.raises(UnscopedQueryError):
            await flush(uow)


async def test_flush_leaves_other_changes_to_the_orm_and_its_guards(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """A change to a user goes through the ORM's flush, whose guards still hold: a password
    changed without ending the user's sessions is refused."""
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        user = await load(uow, User, owner.user_id, lock=True)
        user.password_hash = "not-a-hash"
        with pytest.raises(SessionsNotEnded):
            await flush(uow)


async def test_a_written_row_answers_the_bytes_its_schema_would(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """``row_body`` writes a row the unit of work holds as pydantic writes its schema."""
    table = await create_table(client, owner, "1")
    seated = await create_guest(client, owner)
    await client.post(
        f"/api/v1/guests/{seated['id']}/seat", json={"tableId": table["id"]}, headers=owner.headers
    )
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        for model, schema, row_id in (
            (Guest, guest_schemas.Guest, seated["id"]),
            (DiningTable, table_schemas.Table, table["id"]),
        ):
            row = await load(uow, model, row_id)
            expected = schema.model_validate(row).model_dump_json(by_alias=True).encode()
            assert bytes(row_body(row, schema).body) == expected


async def test_flush_inserts_the_row_the_orm_would(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """A new guest written by ``flush`` gets the defaults the ORM's flush would give it (a
    value never set takes its column's default; updated_at equals created_at), becomes a
    persistent object with its id, and is recorded as a change."""
    by_orm: dict[str, object] = {}
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        for writer in ("repository", "orm"):
            guest = Guest(
                restaurant_id=owner.restaurant_id,
                name="Ana",
                party_size=2,
                arrived_at=datetime.now(UTC),
            )
            uow.session.add(guest)
            if writer == "repository":
                await flush(uow)
                mine = guest
            else:
                await uow.session.flush()
                by_orm = {c.key: getattr(guest, c.key) for c in Guest.__table__.c}
        state = inspect(mine)
        assert state.persistent and not state.modified and mine.id is not None
        assert mine.created_at == mine.updated_at
        assert ("guests", mine.id) in {(c.entity, c.id) for c in uow.changes}
        await uow.session.refresh(mine)  # as stored
        stored = {c.key: getattr(mine, c.key) for c in Guest.__table__.c}
        different = {
            key
            for key in stored
            if stored[key] != by_orm[key]
            and key not in ("id", "arrived_at", "created_at", "updated_at")
        }
        assert not different, different
        assert stored["status"] == "waiting" and stored["version"] == 1
        await uow.commit()


async def test_held_finds_what_the_identity_map_holds(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """``held`` builds SQLAlchemy's identity key itself; it must be the very key."""
    guest = await create_guest(client, owner)
    scope = scope_for(owner)
    async with unit_of_work(app, scope, write=True) as uow:
        row = await load(uow, Guest, guest["id"])
        session = uow.session.sync_session
        assert held(session, Guest, guest["id"]) is row
        assert session.identity_map.get(session.identity_key(Guest, guest["id"])) is row
        assert held(session, Guest, guest["id"] + 1000) is None
        assert state_of(row) is inspect(row)
