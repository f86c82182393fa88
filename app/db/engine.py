"""Async engine construction: SQLite pragmas and BEGIN IMMEDIATE, PostgreSQL pool settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from app.core.config import Settings
from app.db import sqlite

# Execution option carried by connections of the write engine: their transactions start with
# BEGIN IMMEDIATE on SQLite, so concurrent writers queue on the busy timeout instead of failing
# with "database is locked" when a deferred read transaction tries to upgrade.
WRITE_OPTION = "qtable_write"


def _ensure_sqlite_dir(url: str) -> None:
    path = make_url(url).database or ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_hooks(engine: AsyncEngine, settings: Settings, disk: sqlite.DiskWork) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that "begin" below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # The dialect's do_begin(), called next, sends the BEGIN this says.
        options = conn.get_execution_options()
        dbapi_connection: Any = conn.connection.dbapi_connection
        dbapi_connection.begins_writes = bool(options.get(WRITE_OPTION))
        dbapi_connection.off_loop = bool(options.get(sqlite.OFF_LOOP))

    @event.listens_for(sync_engine, "engine_disposed")
    def _on_dispose(_engine: Any) -> None:
        disk.shutdown()


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        _ensure_sqlite_dir(url)
        disk = sqlite.DiskWork()
        engine = create_async_engine(
            url,
            # The writers of this engine take turns without blocking the loop; a lock held by
            # another process is waited for as a coroutine, up to the busy timeout.
            connect_args={
                "write_turns": sqlite.WriteTurns(),
                # Commits and long statements wait for the disk on these threads.
                "disk": disk,
                "busy_timeout_ms": settings.sqlite_busy_timeout_ms,
            },
            hide_parameters=True,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=30,
        )
        _install_sqlite_hooks(engine, settings, disk)
        return engine
    return create_async_engine(
        url,
        # An error's text must never carry a row's values (emails, password hashes, tokens).
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No liveness round trip on every checkout: a connection found closed is handled
        # when it is found (a read is tried again: app.db.session.UnitOfWorkRoute).
        connect_args=postgres_connect_args(settings),
    )


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg connection options: bounded statements, lock waits and connects, and a name
    that shows in pg_stat_activity."""
    return {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": {
            "application_name": "qtable",
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
        },
    }


def write_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, with connections that begin write transactions."""
    return engine.execution_options(**{WRITE_OPTION: True})


def off_loop(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, with connections whose statements may be long (a purge, a report): on
    SQLite each runs on a worker thread, so the loop serves other requests meanwhile. On
    PostgreSQL the driver never blocks the loop, and this changes nothing."""
    return engine.execution_options(**{sqlite.OFF_LOOP: True})
