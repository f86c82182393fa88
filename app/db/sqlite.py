"""SQLite for the event loop: short statements on the loop's thread, disk waits off it.

Where each call runs was decided by measurement (bench/, README's Performance section):

- A statement runs on the loop's own thread. A thread hop per call (a worker thread that runs
  each statement and hands the result back through the loop) costs about 80 us of CPU, while
  SQLite answers a read by primary key in 5 us; a request makes a dozen such calls.
- A COMMIT runs on a worker thread of the engine (:class:`DiskWork`). It is where SQLite waits
  for the disk: the fsync of the write-ahead log (``synchronous=FULL``), and the WAL
  checkpoint every ~1000 pages. An fsync takes 4 ms here at the median and tens of ms on a busy
  volume; on the loop it froze every request of the process for as long. ``sqlite3`` lets go
  of the GIL while SQLite works, so the loop serves others meanwhile. One hop per write
  transaction is within the noise of write throughput.
- A statement that may be long (the change log's purge, and later reports and exports) asks for
  the worker thread too: a connection whose transaction began with the execution option
  :data:`OFF_LOOP` (``app.db.engine.off_loop``) runs each statement there and fetches its rows
  there, then hands them over.

Locks are waited for as coroutines, never by the loop's thread:

- In WAL mode a reader never waits for a writer. Only a writer waits, for another writer, when
  it takes the write lock (``BEGIN IMMEDIATE``).
- Writers of this process take turns on a :class:`WriteTurns` before ``BEGIN IMMEDIATE``: the
  next one waits as an asyncio future, while the loop serves everyone else. A turn is given
  back when its transaction ends, and also when its connection is garbage-collected without
  being closed (SQLite then drops the connection's lock too): a lost connection cannot wedge
  the writers that come after it.
- ``busy_timeout`` is 0 on these connections: a statement that finds the database locked (by
  another process) fails at once and is retried after an asyncio sleep, with a growing pause,
  until the configured busy timeout has passed; then it raises SQLite's own "database is
  locked", which answers 503.

A statement handed to a worker thread is waited for to its end even when the request is
cancelled: the connection is not used again (nor returned to the pool) while SQLite works on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_

# The URL names it: sqlite+qtable:// (app.core.config.SQLITE_SCHEME).
DRIVER = "qtable"
# The statement the engine begins write transactions with (app.db.engine).
BEGIN_WRITE = "BEGIN IMMEDIATE"
# Execution option: every statement of the transaction runs on a worker thread.
OFF_LOOP = "qtable_off_loop"

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


class DiskWork:
    """The worker threads of one engine, for the calls that wait for the disk.

    Commits are one at a time (one writer per process holds the write turn); the other
    threads serve long statements, which may run beside a commit."""

    def __init__(self, threads: int = 4) -> None:
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    def run(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` on a worker thread, waited for (from a greenlet) as a coroutine."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="qtable-disk")
        future = asyncio.get_running_loop().run_in_executor(self._executor, call, *args)
        return await_(_to_the_end(future))

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


async def _to_the_end(future: asyncio.Future[Any]) -> Any:
    """The call's result, once it has finished, even if the waiter is cancelled meanwhile (the
    cancellation is raised after): its connection must not be used while SQLite works on it."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def _turn_lost(turns: WriteTurns, loop: asyncio.AbstractEventLoop) -> None:
    """A connection holding the write turn was garbage-collected without being closed (maybe
    on another thread): the turn passes on, on its loop."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(turns.give_back)


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
    # The rows of a statement run off the loop, fetched there; None for one run on the loop.
    _fetched: deque[Any] | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        connection = self.connection
        if sql == BEGIN_WRITE:
            connection.take_write_turn()
            try:
                connection.retry_busy(super().execute, sql, parameters)
            except BaseException:
                connection.end_write_turn()
                raise
            return self
        self._fetched = None
        if connection.off_loop:
            rows = connection.retry_busy(
                connection.disk.run, self._execute_and_fetch, sql, parameters
            )
            self._fetched = deque(rows)
            return self
        connection.retry_busy(super().execute, sql, parameters)
        await_(_READY)
        return self

    def _execute_and_fetch(self, sql: str, parameters: Any) -> list[Any]:
        """On a worker thread: the statement, and all its rows."""
        return sqlite3.Cursor.execute(self, sql, parameters).fetchall()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Cursor:
        self._fetched = None
        connection = self.connection
        run = super().executemany
        if connection.off_loop:
            connection.retry_busy(connection.disk.run, run, sql, seq_of_parameters)
            return self
        connection.retry_busy(run, sql, seq_of_parameters)
        await_(_READY)
        return self

    def fetchone(self) -> Any:
        if self._fetched is None:
            return super().fetchone()
        return self._fetched.popleft() if self._fetched else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._fetched is None:
            return super().fetchmany(self.arraysize if size is None else size)
        count = self.arraysize if size is None else size
        return [self._fetched.popleft() for _ in range(min(count, len(self._fetched)))]

    def fetchall(self) -> list[Any]:
        if self._fetched is None:
            return super().fetchall()
        rows = list(self._fetched)
        self._fetched.clear()
        return rows

    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's AsyncConnection calls on an async driver's cursor once a
        statement has run; rows here are read on the loop's thread, there is nothing to do."""


class Connection(sqlite3.Connection):
    """A sqlite3 connection that waits for locks as a coroutine would."""

    turns: WriteTurns
    disk: DiskWork
    busy_timeout: float
    begins_writes: bool  # whether the next transaction is a write (app.db.engine sets it)
    off_loop: bool  # whether its statements run on a worker thread (app.db.engine sets it)
    _turn_guard: weakref.finalize[Any, Any] | None

    def cursor(self, factory: Any = Cursor) -> Cursor:  # type: ignore[override]
        return super().cursor(factory)  # type: ignore[no-any-return]

    def take_write_turn(self) -> None:
        if not self.turns.take(self.busy_timeout):
            raise sqlite3.OperationalError("database is locked")
        loop = asyncio.get_running_loop()
        self._turn_guard = weakref.finalize(self, _turn_lost, self.turns, loop)

    def end_write_turn(self) -> None:
        guard, self._turn_guard = self._turn_guard, None
        if guard is not None and guard.detach() is not None:
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
            if self.in_transaction:
                # The fsync, and now and then a checkpoint: on a worker thread.
                self.retry_busy(self.disk.run, super().commit)
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
    disk: DiskWork | None = None,
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
    conn.disk = disk if disk is not None else DiskWork()
    conn.busy_timeout = busy_timeout_ms / 1000
    conn.begins_writes = False
    conn.off_loop = False
    conn._turn_guard = None
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
