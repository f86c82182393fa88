"""The change log: its reads (shared by the dashboard, the batch and the real-time feed) and
its upkeep (the database's epoch, purging entries past their retention)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import rows
from app.db.base import utcnow
from app.db.engine import off_loop, write_engine
from app.models import ChangeLog, DatabaseEpoch, Restaurant
from app.sync.cursor import Cursors

logger = logging.getLogger("qtable.sync")

# Where the restaurant stands: its revision, where its change log begins, its time zone.
STATE = rows.RowQuery(
    select(Restaurant.revision, Restaurant.change_log_start, Restaurant.timezone).where(
        Restaurant.id == bindparam(rows.SCOPE_PARAM)
    )
)
# The entries after one revision, up to another, in revision order: (revision, changes).
LOG_AFTER = rows.RowQuery(
    select(ChangeLog.revision, ChangeLog.changes)
    .where(
        ChangeLog.restaurant_id == bindparam(rows.SCOPE_PARAM),
        ChangeLog.revision > bindparam("after"),
        ChangeLog.revision <= bindparam("upto"),
    )
    .order_by(ChangeLog.revision)
)


async def load_epoch(engine: AsyncEngine) -> str:
    """The database's epoch, made now if the database has none (a database emptied by hand).

    Read on a connection of the engine's own, outside every session: the epoch belongs to
    no restaurant."""
    async with engine.begin() as conn:
        found = await conn.scalar(select(DatabaseEpoch.epoch).where(DatabaseEpoch.id == 1))
        if found is not None:
            return str(found)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(DatabaseEpoch).values(id=1, epoch=secrets.token_hex(16)))
    except DBAPIError:  # another process made it first
        pass
    async with engine.connect() as conn:
        return str(await conn.scalar(select(DatabaseEpoch.epoch).where(DatabaseEpoch.id == 1)))


class CursorSource:
    """The cursors of the database an engine reaches, made on first use: the server starts,
    and answers 503, while the database is unreachable."""

    def __init__(
        self, secret: str, engine: AsyncEngine, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._secret = secret
        self._engine = engine
        self._clock = clock
        self._cursors: Cursors | None = None

    async def get(self) -> Cursors:
        if self._cursors is None:
            epoch = await load_epoch(self._engine)
            if self._clock is None:
                self._cursors = Cursors(self._secret, epoch)
            else:
                self._cursors = Cursors(self._secret, epoch, self._clock)
        return self._cursors


# Entries deleted per transaction: each holds the write lock (and on PostgreSQL the locks of
# the restaurants it moves) for a few milliseconds, so writers are never kept waiting long.
PURGE_CHUNK = 2000


async def purge(engine: AsyncEngine, keep: timedelta, *, chunk: int = PURGE_CHUNK) -> int:
    """Delete the change log's entries older than ``keep``, every restaurant at once, and move
    each restaurant's ``change_log_start`` past them: a cursor from before it gets a full sync.
    How many entries went.

    The oldest ``chunk`` entries at a time, each chunk its own short write transaction, its
    statements off the event loop (``app.db.engine.off_loop``): millions of entries never
    stall the requests of the process, nor keep a writer waiting for long. Entries of one
    restaurant go in revision order: what is left is always a complete log from
    ``change_log_start`` on.

    Across restaurants by design, so on the engine's own connection, outside every session
    (``app.db.tenancy``): the one statement group of the service that is not one restaurant's.
    Restaurants are locked in ascending id, the lock order of every writer."""
    cutoff = utcnow() - keep
    oldest = (
        select(ChangeLog.restaurant_id, ChangeLog.revision)
        .where(ChangeLog.created_at < cutoff)
        .order_by(ChangeLog.created_at)
        .limit(chunk)
        .subquery()
    )
    newest_per_restaurant = (
        select(oldest.c.restaurant_id, func.max(oldest.c.revision), func.count())
        .group_by(oldest.c.restaurant_id)
        .order_by(oldest.c.restaurant_id)
    )
    purging = off_loop(write_engine(engine))
    purged = 0
    while True:
        async with purging.begin() as conn:
            found = (await conn.execute(newest_per_restaurant)).all()
            for restaurant_id, newest, _ in found:
                await conn.execute(
                    update(Restaurant)
                    .where(Restaurant.id == restaurant_id, Restaurant.change_log_start < newest)
                    .values(change_log_start=newest, updated_at=Restaurant.updated_at)
                )
                result = await conn.execute(
                    delete(ChangeLog).where(
                        ChangeLog.restaurant_id == restaurant_id, ChangeLog.revision <= newest
                    )
                )
                purged += int(result.rowcount or 0)
        if sum(count for _, _, count in found) < chunk:
            return purged
        await asyncio.sleep(0)


async def purge_forever(engine: AsyncEngine, keep: timedelta, every: timedelta) -> None:
    """The server's purge loop: at start, then every ``every``. A failure is logged and
    tried again next time; entries kept a little longer harm nothing."""
    while True:
        try:
            purged = await purge(engine, keep)
            if purged:
                logger.info("change log: %d entries older than %s purged", purged, keep)
        except Exception:
            logger.exception("change log purge failed")
        await asyncio.sleep(every.total_seconds())
