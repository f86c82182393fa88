"""One unit of work per request: one session, one commit at the end, events after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.core.errors import AppError
from app.db import locks
from app.db.engine import write_engine

CHANGES_KEY = "qtable_changes"
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


class Database:
    """The engine, and session factories for read and write units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.write_engine = write_engine(engine)
        self._read_sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(
            self.write_engine, expire_on_commit=False, autoflush=False
        )

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write_sessions if write else self._read_sessions)()

    async def dispose(self) -> None:
        await self.engine.dispose()


class UnitOfWork:
    """The request's session and the change events it records for after the commit."""

    def __init__(self, db: Database, *, write: bool, publish: Any = None) -> None:
        self.db = db
        self.session = db.session(write=write)
        self.session.info[locks.WRITE_KEY] = write
        self._publish = publish

    def read_connection(self) -> AsyncConnection:
        """A short read outside this unit of work, for lookups that precede slow work
        (password checks) so the write transaction is not held open during it."""
        return self.db.engine.connect()

    @property
    def changes(self) -> list[ChangeEvent]:
        return list(self.session.info.get(CHANGES_KEY, {}).values())

    async def commit(self) -> None:
        await self.session.commit()
        changes = self.session.info.pop(CHANGES_KEY, None)
        if changes and self._publish is not None:
            await self._publish(list(changes.values()))

    async def rollback(self) -> None:
        self.session.info.pop(CHANGES_KEY, None)
        await self.session.rollback()

    async def close(self) -> None:
        await self.session.close()


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


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """Commit when the handler succeeds, roll back on any error, before the response is sent."""
    db: Database = request.app.state.db
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    uow = UnitOfWork(db, write=write, publish=getattr(request.app.state, "publish", None))
    request.state.uow = uow
    try:
        yield uow
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


UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
