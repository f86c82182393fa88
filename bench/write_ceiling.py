"""The write ceiling: for each write scenario, the same JSON body parsed into a small pydantic
model, the same rows written, one commit, and nothing else.

It runs on its own copy of the seeded SQLite file with the pragmas QTable's engine sets
(``app.db.engine``: WAL, the same ``synchronous``, foreign keys on, a busy timeout) and the
same ``BEGIN IMMEDIATE`` ... ``COMMIT``, so the fsync and the index upkeep of each write cost
what they cost QTable. The writes are QTable's:

- create: the INSERT of a new guest with every column the service gives it;
- seat: a move frees the guest's table, then moves the guest and takes the new table (the
  UPDATEs of ``app.guests.service.seat_at``), each row's version bumped once;
- patch: the UPDATE of the fields sent and the version.

The routes are ``async def`` and call sqlite3 directly on one connection: SQLite admits one
writer at a time anyway, and a thread hop per request would only add cost to the ceiling.
SQLite only: on PostgreSQL the bench reports the writes without a ratio.

Environment: ``BENCH_WRITE_DB`` (the file), ``BENCH_RESTAURANT_ID`` (the guests' restaurant),
``BENCH_SQLITE_SYNCHRONOUS`` (``FULL`` unless set), ``BENCH_SQLITE_BUSY_TIMEOUT_MS``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import FastAPI, Request, status
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class GuestCreate(Body):
    name: str
    party_size: int
    phone: str | None = None
    quoted_wait_minutes: int | None = None
    notes: str | None = None


class GuestPatch(Body):
    name: str | None = None
    phone: str | None = None
    party_size: int | None = None
    quoted_wait_minutes: int | None = None
    notes: str | None = None


class Seat(Body):
    table_id: int
    allow_over_capacity: bool = False


def now_text() -> str:
    """A timestamp as SQLAlchemy stores it on SQLite (naive UTC text)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={os.environ.get('BENCH_SQLITE_SYNCHRONOUS', 'FULL')}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(os.environ.get('BENCH_SQLITE_BUSY_TIMEOUT_MS', 5000))}")
    return conn


def transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def create_guest(conn: sqlite3.Connection, restaurant_id: int, data: GuestCreate) -> int:
    now = now_text()
    cursor = conn.execute(
        "INSERT INTO guests (restaurant_id, name, phone, party_size, status, table_id,"
        " quoted_wait_minutes, notes, reservation_id, arrived_at, seated_at, completed_at,"
        " version, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 'waiting', NULL, ?, ?, NULL, ?, NULL, NULL, 1, ?, ?)",
        (
            restaurant_id,
            data.name.strip(),
            data.phone,
            data.party_size,
            data.quoted_wait_minutes,
            data.notes,
            now,
            now,
            now,
        ),
    )
    return int(cursor.lastrowid or 0)


def seat_guest(conn: sqlite3.Connection, guest_id: int, table_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT g.table_id, r.table_after_guest_leaves FROM guests g"
        " JOIN restaurants r ON r.id = g.restaurant_id WHERE g.id = ?",
        (guest_id,),
    ).fetchone()
    old_table, after_leave = row
    if old_table == table_id:
        return {"id": guest_id, "tableId": table_id}
    now = now_text()
    if old_table is not None:
        conn.execute(
            "UPDATE dining_tables SET current_guest_id = NULL, status = ?,"
            " version = version + 1, updated_at = ? WHERE id = ?",
            (after_leave, now, old_table),
        )
    conn.execute(
        "UPDATE guests SET status = 'seated', table_id = ?, seated_at = coalesce(seated_at, ?),"
        " version = version + 1, updated_at = ? WHERE id = ?",
        (table_id, now, now, guest_id),
    )
    conn.execute(
        "UPDATE dining_tables SET status = 'occupied', current_guest_id = ?,"
        " version = version + 1, updated_at = ? WHERE id = ?",
        (guest_id, now, table_id),
    )
    return {"id": guest_id, "tableId": table_id}


COLUMNS = {"name", "phone", "party_size", "quoted_wait_minutes", "notes"}


def patch_guest(conn: sqlite3.Connection, guest_id: int, data: GuestPatch) -> dict[str, Any]:
    changes = data.model_dump(exclude_unset=True)
    assert set(changes) <= COLUMNS  # column names come from the model, never from the body
    assignments = "".join(f"{column} = ?, " for column in changes)
    (version,) = conn.execute(
        f"UPDATE guests SET {assignments}version = version + 1, updated_at = ?"  # noqa: S608
        " WHERE id = ? RETURNING version",
        (*changes.values(), now_text(), guest_id),
    ).fetchone()
    return {"id": guest_id, "version": version}


def create_app() -> FastAPI:
    restaurant_id = int(os.environ.get("BENCH_RESTAURANT_ID", "1"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.conn = connect(os.environ["BENCH_WRITE_DB"])
        try:
            yield
        finally:
            app.state.conn.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/guests", status_code=status.HTTP_201_CREATED)
    async def create(data: GuestCreate, request: Request) -> dict[str, Any]:
        conn = request.app.state.conn
        return {"id": transaction(conn, lambda: create_guest(conn, restaurant_id, data))}

    @app.post("/api/v1/guests/{guest_id}/seat")
    async def seat(guest_id: int, data: Seat, request: Request) -> dict[str, Any]:
        conn = request.app.state.conn
        return transaction(conn, lambda: seat_guest(conn, guest_id, data.table_id))

    @app.patch("/api/v1/guests/{guest_id}")
    async def patch(guest_id: int, data: GuestPatch, request: Request) -> dict[str, Any]:
        conn = request.app.state.conn
        return transaction(conn, lambda: patch_guest(conn, guest_id, data))

    return app
