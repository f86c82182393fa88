"""One unit of work per request: one session, one commit at the end, events after the commit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import greenlet_spawn

from app.core.errors import AppError, lost_connection
from app.core.openapi import DocumentedRoute
from app.db import locks
from app.db.engine import write_engine
from app.db.revision import CHANGES_KEY, COMMITTED_KEY  # its hooks take the revision
from app.db.tenancy import (
    RestaurantScope,
    UnscopedQueryError,
    bind_scope,
    check_rebind,
    scope_of,
)

# What CHANGES_KEY held when each open savepoint began, to go back to if it is rolled back.
SAVEPOINTS_KEY = "qtable_change_savepoints"


@dataclass(slots=True)
class ChangeEvent:
    """One row changed by a transaction, recorded at flush, published after commit."""

    restaurant_id: int
    entity: str  # "guests" | "tables" | "reservations"
    id: int
    deleted: bool
    row: dict[str, Any] | None  # the minimal row; None when deleted


class PageCache:
    """List pages already written as JSON, by (restaurant, query, limit, cursor), each with
    the restaurant revision it was read at (``repository.page_of``). Bounded by size; the
    least recently used pages go first."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[tuple[Any, ...], tuple[int, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[Any, ...], revision: int) -> bytes | None:
        found = self._pages.get(key)
        if found is None or found[0] != revision:
            return None
        self._pages.move_to_end(key)
        return found[1]

    def put(self, key: tuple[Any, ...], revision: int, body: bytes) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
        if len(body) > self.max_bytes:
            return
        self._pages[key] = (revision, body)
        self._bytes += len(body)
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._pages.popitem(last=False)
            self._bytes -= len(dropped)


class Database:
    """The engine, and session factories for read and write units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pages = PageCache()
        self.write_engine = write_engine(engine)
        self._read_sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(
            self.write_engine, expire_on_commit=False, autoflush=False
        )

        # SQLite: one connection serves every read outside a transaction (app.db.rows). Each
        # such read runs and fetches on the loop's thread without yielding, so reads cannot
        # interleave on it, and it spares each request a pool checkout. It comes from a pool
        # of its own, made like the engine's (same connect hooks, so the same pragmas).
        self._reader_pool = (
            engine.sync_engine.pool.recreate() if engine.dialect.name == "sqlite" else None
        )
        self._reader: Any = None

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write_sessions if write else self._read_sessions)()

    @property
    def writers_exclusive(self) -> bool:
        """Whether a write transaction excludes every other writer from its first statement
        (SQLite's ``BEGIN IMMEDIATE``), so rows it has read cannot change under it."""
        return self.engine.dialect.name == "sqlite"

    @property
    def shares_a_reader(self) -> bool:
        return self._reader_pool is not None

    async def reader(self) -> Any:
        """The shared read connection's driver connection (SQLite only)."""
        if self._reader is None:
            assert self._reader_pool is not None
            self._reader = await greenlet_spawn(self._reader_pool.connect)
        return self._reader.driver_connection

    async def forget_connections(self) -> None:
        """Close the pool's idle connections (a connection in use goes when it comes back):
        after one was found closed by the database, the next checkout connects anew."""
        await self.engine.dispose()

    async def dispose(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await greenlet_spawn(reader.close)
        if self._reader_pool is not None:
            await greenlet_spawn(self._reader_pool.dispose)
        await self.engine.dispose()


class UnitOfWork:
    """The request's session and the change events it records for after the commit.

    The ORM session is made on first use: a read served by ``app.db.rows`` alone never
    makes one, and runs on the driver connection :meth:`read_driver` gives."""

    def __init__(self, db: Database, *, write: bool, publish: Any = None) -> None:
        self.db = db
        self.write = write
        self._session: AsyncSession | None = None
        self._scope: RestaurantScope | None = None
        self._raw: Any = None
        self._publish = publish

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            session = self.db.session(write=self.write)
            session.info[locks.WRITE_KEY] = self.write
            if self._scope is not None:
                bind_scope(session.sync_session, self._scope)
            self._session = session
        return self._session

    @property
    def scope(self) -> RestaurantScope | None:
        """The restaurant every statement of this unit of work is scoped to, if any: what
        :meth:`bind` gave it, or its session was given (``tenancy.bind_scope``)."""
        if self._scope is None and self._session is not None:
            return scope_of(self._session.sync_session)
        return self._scope

    def bound_scope(self) -> RestaurantScope:
        """:attr:`scope`, or :class:`UnscopedQueryError` when it has none: every read and
        write of ``app.db.rows`` and ``app.db.repository`` takes its restaurant from here,
        never from its caller."""
        scope = self._scope or self.scope
        if scope is None:
            raise UnscopedQueryError("a unit of work bound to no restaurant reads or writes no row")
        return scope

    def bind(self, scope: RestaurantScope) -> None:
        """Scope every statement of this unit of work to the scope's restaurant."""
        check_rebind(self._scope, scope)
        if self._session is not None:
            bind_scope(self._session.sync_session, scope)
        self._scope = scope

    def read_connection(self) -> AsyncConnection:
        """A short read outside this unit of work, for lookups that precede slow work
        (password checks) so the write transaction is not held open during it."""
        return self.db.engine.connect()

    @asynccontextmanager
    async def read_driver(self) -> AsyncIterator[Any]:
        """The driver's own connection for ``app.db.rows`` reads outside any transaction.

        On SQLite, the connection every such read shares (:meth:`Database.reader`). Otherwise
        a read unit of work checks one out once and keeps it until :meth:`close`: one pool
        checkout per request; a write unit of work gives it back at once, so that no
        connection is held during slow work (password hashing) before its transaction."""
        if self.db.shares_a_reader:
            yield await self.db.reader()
            return
        if self._raw is not None:
            yield self._raw.driver_connection
            return
        raw = await self.db.engine.raw_connection()
        if not self.write:
            self._raw = raw
            yield raw.driver_connection
            return
        try:
            yield raw.driver_connection
        finally:
            await greenlet_spawn(raw.close)

    @property
    def changes(self) -> list[ChangeEvent]:
        if self._session is None:
            return []
        return list(self._session.info.get(CHANGES_KEY, {}).values())

    async def commit(self) -> None:
        """Commit; then tell the real-time feed which revision of which restaurant was
        committed (``publish``: it returns at once and never raises, so it can neither fail
        nor slow the request; a notice it loses is made up from the change log)."""
        if self._session is None:
            return
        await self._session.commit()
        self._session.info.pop(CHANGES_KEY, None)
        committed = self._session.info.pop(COMMITTED_KEY, None)
        if committed is not None and self._publish is not None:
            self._publish(*committed)

    async def rollback(self) -> None:
        if self._session is None:
            return
        self._session.info.pop(CHANGES_KEY, None)
        await self._session.rollback()

    async def close(self) -> None:
        raw, self._raw = self._raw, None
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            if raw is not None:
                await greenlet_spawn(raw.close)


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _ctx: Any) -> None:
    """Every flushed change of a realtime entity becomes an event; the last state wins."""
    changes: dict[tuple[str, int], ChangeEvent] = session.info.setdefault(CHANGES_KEY, {})
    for obj in session.new:
        _record(changes, obj, deleted=False)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            _record(changes, obj, deleted=False)
    for obj in session.deleted:
        _record(changes, obj, deleted=True)


def record_change(session: Session, obj: Any) -> None:
    """A row written outside the ORM's flush (``repository.flush``) is recorded as one."""
    _record(session.info.setdefault(CHANGES_KEY, {}), obj, deleted=False)


def _record(changes: dict[tuple[str, int], ChangeEvent], obj: Any, *, deleted: bool) -> None:
    entity = getattr(obj, "__entity__", None)
    if entity is None:
        return
    row = None if deleted else {f: getattr(obj, f) for f in obj.__minimal_fields__}
    changes[(entity, obj.id)] = ChangeEvent(obj.restaurant_id, entity, obj.id, deleted, row)


@event.listens_for(Session, "after_transaction_create")
def _remember_changes_at_savepoint(session: Session, transaction: Any) -> None:
    # A savepoint flushes pending changes before it begins, so this copy is complete.
    if transaction.nested:
        saved = dict(session.info.get(CHANGES_KEY, {}))
        session.info.setdefault(SAVEPOINTS_KEY, {})[transaction] = saved


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoints(session: Session, transaction: Any) -> None:
    # A released savepoint's copy is simply never used; all go with the transaction.
    if transaction.parent is None:
        session.info.pop(SAVEPOINTS_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_changes(session: Session, previous: Any) -> None:
    """A rolled-back savepoint takes back only its own changes; a rolled-back transaction
    takes back all of them."""
    if previous.nested:
        saved = session.info.get(SAVEPOINTS_KEY, {}).pop(previous, None)
        if saved is not None:
            session.info[CHANGES_KEY] = saved
    elif previous.parent is None:
        session.info.pop(CHANGES_KEY, None)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class UnitOfWorkRoute(DocumentedRoute):
    """A route whose request has one unit of work: made before the dependencies run,
    committed when the handler succeeds and rolled back on any error, before the response
    is sent.

    Done here rather than in a generator dependency, which FastAPI wraps in an exit stack,
    a context manager and a shielded exit: ~40 us of every request."""

    def get_route_handler(self) -> Handler:
        handler = self.inside_unit_of_work(super().get_route_handler())

        async def unit_of_work_handler(request: Request) -> Response:
            try:
                return await once(request)
            except Exception as exc:
                if not lost_connection(exc):
                    raise
                # A connection the database had closed (a restart, a failover): the pool's
                # other connections are as old, so they go too. Checking each one as it leaves
                # the pool instead would cost every request a round trip.
                await request.app.state.db.forget_connections()
                if request.method not in _READ_METHODS:
                    raise  # 503 with Retry-After: the client retries, with its Idempotency-Key
            # A read is tried once more, on a new connection.
            return await once(request)

        async def once(request: Request) -> Response:
            state = request.app.state
            uow = UnitOfWork(
                state.db,
                write=request.method not in _READ_METHODS,
                publish=getattr(state, "publish", None),
            )
            request.state.uow = uow
            try:
                response = await handler(request)
            except AppError as exc:
                if exc.commit_before_raising:
                    await uow.commit()
                else:
                    await uow.rollback()
                raise
            except BaseException:
                await uow.rollback()
                raise
            else:
                await uow.commit()
            finally:
                await uow.close()
            return response

        return unit_of_work_handler

    def inside_unit_of_work(self, handler: Handler) -> Handler:
        """For subclasses: wrap the handler inside the unit of work (before its commit)."""
        return handler


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def unit_of_work_of(request: Request) -> UnitOfWork:
    """The request's unit of work; only a :class:`UnitOfWorkRoute` has one."""
    uow: UnitOfWork | None = getattr(request.state, "uow", None)
    if uow is None:
        raise RuntimeError(f"{request.url.path}: its router needs route_class=UnitOfWorkRoute")
    return uow


async def current_unit_of_work(request: Request) -> UnitOfWork:
    """The dependency form of :func:`unit_of_work_of`, for route handlers. Other
    dependencies call the function itself: FastAPI spends ~20 us on each dependency it
    resolves, even one it has already resolved for the request."""
    return unit_of_work_of(request)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(current_unit_of_work)]
