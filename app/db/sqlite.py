"""SQLite on the event loop's own thread: ``sqlite3`` called directly, never blocked on a lock.

aiosqlite runs every call (execute, fetch, commit, even a cursor's close) on a thread of its
own and hands the result back through the event loop. Measured here, one such round trip costs
about 80 us of CPU, while SQLite answers a read by primary key in 5 us; a request made a dozen
of them. This driver calls ``sqlite3`` directly instead, and keeps the one property the thread
bought: the event loop never waits for a lock.

- In WAL mode a reader never waits for a writer. Only a writer waits, for another writer, when
  it takes the write lock (``BEGIN IMMEDIATE``).
- Writers of this process take turns on a :class:`WriteTurns` before ``BEGIN IMMEDIATE``: the
  next one waits as an asyncio future, while the loop serves everyone else.
- ``busy_timeout`` is 0 on these connections: a statement that finds the database locked (by
  another process) fails at once and is retried after an asyncio sleep, with a growing pause,
  until the configured busy timeout has passed; then it raises SQLite's own "database is
  locked", which answers 503.

The loop does block for the statement itself, and for the fsync of a COMMIT with
``synchronous=FULL``: tens to hundreds of microseconds, less than one thread hop costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Generator, Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_

DRIVER = "qtable"
# The statement the engine begins write transactions with (app.db.engine).
BEGIN_WRITE = "BEGIN IMMEDIATE"

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.02


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _BUSY_CODES


def _pauses(timeout: float) -> Iterator[float]:
    """The pauses between tries of a statement that found the database locked: growing, and
    none left once ``timeout`` seconds have passed since the first."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while (left := deadline - time.monotonic()) > 0:
        yield min(pause, left)
        pause = min(pause * 2, _LONGEST_PAUSE)


async def _wait_for(turn: asyncio.Future[None], seconds: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # arrives as the turn does.
    async with asyncio.timeout(seconds):
        await asyncio.shield(turn)


class WriteTurns:
    """The writers of one engine, one at a time, in arrival order, without blocking the loop.

    A turn is handed from the writer that ends its transaction straight to the next waiting
    one, so a writer that keeps arriving cannot overtake those already queued.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take(self, timeout: float) -> bool:
        """Wait (as a coroutine, from a greenlet) for the turn; False after ``timeout``."""
        if not self._held and not self._waiting:
            self._held = True
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await_(_wait_for(turn, timeout))
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                return True  # handed over just as the wait ran out: it is ours
            turn.cancel()
            return False
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give_back()  # handed over, but the writer is going away
            else:
                turn.cancel()
            raise
        return True

    def give_back(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the turn passes on; _held stays True
                return
        self._held = False


class _Ready:
    """An awaitable that is already done: awaiting it costs two greenlet switches, no loop
    iteration. SQLAlchemy's AsyncConnection.execute() insists that its statement awaited
    something (it takes a driver that never does for a blocking one)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_READY = _Ready()


class Cursor(sqlite3.Cursor):
    connection: Connection

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        if sql == BEGIN_WRITE:
            self.connection.take_write_turn()
            try:
                self.connection.retry_busy(super().execute, sql, parameters)
            except BaseException:
                self.connection.end_write_turn()
                raise
            return self
        self.connection.retry_busy(super().execute, sql, parameters)
        await_(_READY)
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Cursor:
        self.connection.retry_busy(super().executemany, sql, seq_of_parameters)
        await_(_READY)
        return self

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's AsyncConnection calls on an async driver's cursor once a
        statement has run; rows here are read on the loop's thread, there is nothing to do."""


class Connection(sqlite3.Connection):
    """A sqlite3 connection that waits for locks as a coroutine would."""

    turns: WriteTurns
    busy_timeout: float
    begins_writes: bool  # whether the next transaction is a write (app.db.engine sets it)
    _has_turn: bool

    def cursor(self, factory: Any = Cursor) -> Cursor:  # type: ignore[override]
        return super().cursor(factory)  # type: ignore[no-any-return]

    def take_write_turn(self) -> None:
        if not self.turns.take(self.busy_timeout):
            raise sqlite3.OperationalError("database is locked")
        self._has_turn = True

    def end_write_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self.turns.give_back()

    def retry_busy(self, call: Any, *args: Any) -> Any:
        pauses = None
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                pauses = pauses or _pauses(self.busy_timeout)
                pause = next(pauses, None) if _is_busy(exc) else None
                if pause is None:
                    raise
                await_(asyncio.sleep(pause))

    async def read(self, sql: str, parameters: Any) -> list[Any]:
        """A read outside SQLAlchemy (``app.db.rows``), as a coroutine: no greenlet here."""
        pauses = None
        while True:
            try:
                return sqlite3.Cursor.execute(self.cursor(), sql, parameters).fetchall()
            except sqlite3.OperationalError as exc:
                pauses = pauses or _pauses(self.busy_timeout)
                pause = next(pauses, None) if _is_busy(exc) else None
                if pause is None:
                    raise
                await asyncio.sleep(pause)

    def commit(self) -> None:
        try:
            self.retry_busy(super().commit)
        finally:
            self.end_write_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_write_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_write_turn()


def connect(
    database: str,
    *,
    write_turns: WriteTurns | None = None,
    busy_timeout_ms: int = 5000,
    **kwargs: Any,
) -> Connection:
    kwargs.pop("timeout", None)
    kwargs.pop("isolation_level", None)
    kwargs.pop("check_same_thread", None)
    # timeout=0: SQLite never sleeps in its busy handler, the loop would sleep with it.
    # check_same_thread=False: the pool may close a connection from the garbage collector's
    # thread; every statement runs on the loop's thread.
    conn = sqlite3.connect(
        database,
        timeout=0,
        isolation_level=None,
        check_same_thread=False,
        factory=Connection,
        **kwargs,
    )
    assert isinstance(conn, Connection)
    conn.turns = write_turns if write_turns is not None else WriteTurns()
    conn.busy_timeout = busy_timeout_ms / 1000
    conn.begins_writes = False
    conn._has_turn = False
    return conn


def _dbapi() -> SimpleNamespace:
    """The sqlite3 module, with this connect()."""
    names = [name for name in dir(sqlite3) if not name.startswith("_")]
    module = SimpleNamespace(**{name: getattr(sqlite3, name) for name in names})
    module.connect = connect
    return module


class SQLiteDialect_qtable(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return _dbapi()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def get_driver_connection(self, connection: Any) -> Any:
        return connection

    def do_begin(self, dbapi_connection: Any) -> None:
        """BEGIN, or BEGIN IMMEDIATE for a write transaction, sent on the connection itself:
        through exec_driver_sql it cost ~60 us more. Errors are wrapped as any statement's."""
        connection = dbapi_connection.driver_connection
        connection.cursor().execute(BEGIN_WRITE if connection.begins_writes else "BEGIN")


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_qtable")
