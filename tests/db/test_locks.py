"""The lock order (app/db/locks.py): every write locks its restaurant's row before anything
else, versions are compared only on locked rows, and a database that gives up on a
transaction answers 503, never 500."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from app import deps
from app.core.config import Settings
from app.db.locks import LockOrderError
from app.db.repository import check_version, load
from app.db.session import UnitOfWork
from app.db.tenancy import _make_scope, bind_scope
from app.guests import service as guest_service
from app.main import create_app
from app.models import Guest, User
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, Actor, register
from tests.fixtures.floor import API, create_guest, create_table, guest_url, table_url
from tests.reservations.factories import RESERVATIONS, create_reservation

# The statements that take row locks or write; the restaurant lock must come before them.
_LOCKING = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b|\bFOR (NO KEY )?UPDATE\b|\bFOR SHARE\b")
_RESTAURANT_LOCK = re.compile(
    r"SELECT users.role, restaurants.table_after_guest_leaves\s+FROM users, restaurants"
)


def _assert_restaurant_lock_first(seen: list[str], what: str) -> None:
    locking = [s for s in seen if _LOCKING.search(s) or _RESTAURANT_LOCK.search(s)]
    assert locking, f"{what}: no write at all"
    assert _RESTAURANT_LOCK.search(locking[0]), f"{what}: first lock or write was {locking[0]}"
    assert sum(bool(_RESTAURANT_LOCK.search(s)) for s in locking) == 1, what


async def test_every_write_locks_the_restaurant_before_anything_else(
    client: AsyncClient, owner: Actor, statements: list[str]
) -> None:
    table = await create_table(client, owner, "1")
    other = await create_table(client, owner, "2")
    guest = await create_guest(client, owner)
    reservation = await create_reservation(client, owner, tableId=other["id"])
    writes = [
        ("seat", "POST", f"{guest_url(guest['id'])}/seat", {"tableId": table["id"]}),
        ("move", "PATCH", guest_url(guest["id"]), {"tableId": other["id"]}),
        ("table status", "PATCH", table_url(table["id"]), {"status": "dirty"}),
        ("complete", "POST", f"{guest_url(guest['id'])}/complete", None),
        ("delete guest", "DELETE", guest_url(guest["id"]), None),
        (
            "book",
            "POST",
            RESERVATIONS,
            {
                "guestName": "Bo",
                "partySize": 2,
                "startsAt": reservation["startsAt"],
                "tableId": table["id"],
            },
        ),
        ("patch booking", "PATCH", f"{RESERVATIONS}/{reservation['id']}", {"partySize": 3}),
        ("check in", "POST", f"{RESERVATIONS}/{reservation['id']}/check-in", {}),
        ("restaurant", "PATCH", f"{API}/restaurant", {"name": "Renamed"}),
        (
            "new user",
            "POST",
            f"{API}/users",
            {
                "email": "new.host@example.com",
                "password": PASSWORD,
                "fullName": "New Host",
                "role": "host",
            },
        ),
        ("delete table", "DELETE", table_url(table["id"]), None),
    ]
    for what, method, path, body in writes:
        statements.clear()
        response = await client.request(method, path, headers=owner.headers, json=body)
        assert response.status_code < 300, (what, response.text)
        _assert_restaurant_lock_first(statements, what)

    statements.clear()
    login = await client.post(
        f"{API}/auth/login", json={"email": owner.email, "password": PASSWORD}
    )
    assert login.status_code == 200
    _assert_restaurant_lock_first(statements, "login")
    statements.clear()
    refreshed = await client.post(
        f"{API}/auth/refresh", json={"refreshToken": login.json()["refreshToken"]}
    )
    assert refreshed.status_code == 200
    _assert_restaurant_lock_first(statements, "refresh")


async def test_reads_take_no_lock(client: AsyncClient, owner: Actor, statements: list[str]) -> None:
    await create_guest(client, owner)
    statements.clear()
    for path in ("/guests", "/tables", "/reservations", "/users", "/restaurant", "/auth/me"):
        assert (await client.get(f"{API}{path}", headers=owner.headers)).status_code == 200
    assert not [s for s in statements if _LOCKING.search(s) or _RESTAURANT_LOCK.search(s)]


_READS = {
    "guests": re.compile(r"^\s*SELECT\b.*\bFROM guests\b", re.S),
    "dining_tables": re.compile(r"^\s*SELECT\b.*\bFROM dining_tables\b", re.S),
}


async def test_a_write_reads_each_row_once_where_its_transaction_is_exclusive(
    app: FastAPI, client: AsyncClient, owner: Actor, statements: list[str]
) -> None:
    """A move reads the guest, then locks it with its two tables. On SQLite the write
    transaction has excluded every other writer since its first statement, so the guest it
    read is still current and is not read again; the tables are locked in one statement.
    PostgreSQL reads the guest again under its row lock."""
    first = await create_table(client, owner, "1")
    second = await create_table(client, owner, "2")
    guest = await create_guest(client, owner)
    seat = f"{guest_url(guest['id'])}/seat"
    assert (
        await client.post(seat, json={"tableId": first["id"]}, headers=owner.headers)
    ).status_code == 200
    statements.clear()
    moved = await client.post(seat, json={"tableId": second["id"]}, headers=owner.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["tableId"] == second["id"]

    reads = {name: [s for s in statements if rx.search(s)] for name, rx in _READS.items()}
    exclusive = app.state.db.engine.dialect.name == "sqlite"
    assert len(reads["guests"]) == (1 if exclusive else 2), reads["guests"]
    assert len(reads["dining_tables"]) == 1, reads["dining_tables"]
    tables = await client.get(f"{API}/tables", headers=owner.headers)
    by_id = {t["id"]: t for t in tables.json()["items"]}
    assert by_id[first["id"]]["currentGuestId"] is None
    assert by_id[second["id"]]["currentGuestId"] == guest["id"]


async def test_a_row_expired_in_the_transaction_is_read_again(app: FastAPI, owner: Actor) -> None:
    """What the transaction read is trusted only while the session still holds it whole."""
    await create_guest_row(app, owner)
    scope = _make_scope(owner.restaurant_id, owner.user_id, "owner")
    uow = UnitOfWork(app.state.db, write=True)
    uow.bind(scope)
    try:
        guest_id = (await uow.session.scalars(select(Guest.id))).one()
        guest = await load(uow, Guest, guest_id)
        uow.session.expire(guest)
        locked = await load(uow, Guest, guest_id, lock=True)
        assert locked is guest and locked.name == "Ana"
        check_version(locked, locked.version)
    finally:
        await uow.rollback()
        await uow.close()


async def test_a_version_is_never_compared_on_an_unlocked_row(app: FastAPI, owner: Actor) -> None:
    await create_guest_row(app, owner)
    uow = UnitOfWork(app.state.db, write=True)
    bind_scope(uow.session.sync_session, _make_scope(owner.restaurant_id, owner.user_id, "owner"))
    try:
        guest = (await uow.session.scalars(select(Guest))).one()
        with pytest.raises(LockOrderError):
            check_version(guest, guest.version)
        check_version(guest, None)  # no If-Match: nothing to compare
    finally:
        await uow.rollback()
        await uow.close()


async def create_guest_row(app: FastAPI, owner: Actor) -> None:
    async with app.state.db.engine.begin() as conn:
        await conn.execute(
            Guest.__table__.insert().values(
                restaurant_id=owner.restaurant_id,
                name="Ana",
                party_size=2,
                status="waiting",
                arrived_at=text("CURRENT_TIMESTAMP"),
                created_at=text("CURRENT_TIMESTAMP"),
                updated_at=text("CURRENT_TIMESTAMP"),
                version=1,
            )
        )


async def test_a_user_demoted_while_their_request_runs_is_refused(
    app: FastAPI, client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token was checked, then the role changed before the write took its lock: the write
    answers 401, as the next request would, instead of acting with the old role."""
    authenticate = deps.authenticate_reading  # what every route's authentication runs

    async def authenticate_then_demote(*args: Any, **kwargs: Any) -> Any:
        found = await authenticate(*args, **kwargs)
        async with app.state.db.engine.begin() as conn:
            await conn.execute(
                update(User.__table__)
                .where(User.__table__.c.id == owner.user_id)
                .values(role="server")
            )
        return found

    monkeypatch.setattr(deps, "authenticate_reading", authenticate_then_demote)
    response = await client.post(
        f"{API}/tables", headers=owner.headers, json={"tableNumber": "9", "capacity": 2}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    monkeypatch.undo()
    assert (await client.get(f"{API}/tables", headers=owner.headers)).status_code == 401


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("the driver's text, which may quote a row")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "55P03", "57014"])
async def test_a_database_giving_up_on_the_transaction_is_503(
    client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    async def gives_up(*_args: Any, **_kwargs: Any) -> None:
        raise DBAPIError("UPDATE guests ...", None, _DriverError(sqlstate))

    guest = await create_guest(client, owner)
    table = await create_table(client, owner, "1")
    monkeypatch.setattr(guest_service, "seat_at", gives_up)
    response = await seat_response(client, owner, guest["id"], table["id"])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "unavailable"


async def test_another_database_error_is_still_500(
    client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(*_args: Any, **_kwargs: Any) -> None:
        raise DBAPIError("UPDATE guests ...", None, _DriverError("22P02"))

    guest = await create_guest(client, owner)
    table = await create_table(client, owner, "1")
    monkeypatch.setattr(guest_service, "seat_at", fails)
    response = await seat_response(client, owner, guest["id"], table["id"])
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


async def seat_response(client: AsyncClient, actor: Actor, guest_id: int, table_id: int) -> Any:
    return await client.post(
        f"{guest_url(guest_id)}/seat", headers=actor.headers, json={"tableId": table_id}
    )


# ----- PostgreSQL: the real timeouts --------------------------------------------------------


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's lock_timeout and statement_timeout")
    return database_url


@pytest.fixture
async def impatient_client(postgres_url: str) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    settings: Settings = make_settings(postgres_url, db_lock_timeout_ms=200)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = ASGITransport(app=application, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def test_connections_carry_the_configured_timeouts(app: FastAPI, postgres_url: str) -> None:
    settings: Settings = app.state.settings
    async with app.state.db.engine.connect() as conn:
        shown = {
            name: await conn.scalar(text(f"SHOW {name}"))
            for name in ("statement_timeout", "lock_timeout", "application_name")
        }
    assert shown == {
        "statement_timeout": f"{settings.db_statement_timeout_ms // 1000}s",
        "lock_timeout": f"{settings.db_lock_timeout_ms // 1000}s",
        "application_name": "qtable",
    }


async def test_a_lock_wait_past_lock_timeout_is_503(
    impatient_client: tuple[FastAPI, AsyncClient],
) -> None:
    application, http = impatient_client
    owner = await register(http)
    guest = await create_guest(http, owner)
    async with application.state.db.engine.connect() as holder:
        # Another transaction holds the restaurant's row and does not let go.
        await holder.execute(
            text("SELECT id FROM restaurants WHERE id = :id FOR UPDATE"),
            {"id": owner.restaurant_id},
        )
        response = await asyncio.wait_for(
            http.patch(guest_url(guest["id"]), headers=owner.headers, json={"notes": "x"}), 10
        )
        await holder.rollback()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "unavailable"
    # Once the lock is free the same request goes through.
    retried = await http.patch(guest_url(guest["id"]), headers=owner.headers, json={"notes": "x"})
    assert retried.status_code == 200
