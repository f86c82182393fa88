"""The real-time feed: every committed transaction of a restaurant, sent to its sockets.

What is sent comes from the change log (``app.models.change_log``), never from memory alone: a
commit only says "restaurant R is at revision N" (:meth:`Hub.notify`, after the commit, never
failing and never waiting), and the restaurant's *pump* reads the change log after the last
revision it sent and sends each entry, in revision order, to each socket of the restaurant.
A notice that is lost (Redis down, a process killed between commit and notice) costs only
time: the next notice of the restaurant, or the poll every ``realtime_poll_seconds``, reads
from where each socket stands, so a gap is filled from the change log, and nothing is sent
twice or out of order.

Several processes share their notices through Redis pub/sub (:class:`RedisBridge`) when
``QTABLE_REDIS_URL`` is set: a notice is a hint, the change log is the record, so a lossy
channel is enough and nothing is kept in Redis. Without Redis, a process sees another's writes
at its next poll (within ``realtime_poll_seconds``).

Each cursor sent is of the restaurant's current window (its local day, ``app.sync.cursor``).
When the window moves, at local midnight (the pump wakes then) or with a time zone change, a
socket is sent ``resync`` instead of changes, and nothing more until it sends ``resume``.

A socket's queue is bounded: a client that does not read falls behind, its queue is dropped and
it is sent ``resync``; it is sent nothing more until it sends ``resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, select

from app.db import rows
from app.db.session import Database, UnitOfWork
from app.db.tenancy import RestaurantScope
from app.models import User
from app.realtime.bridge import RedisBridge
from app.sync.changes import ENTITIES, fold
from app.sync.cursor import Cursors, Window
from app.sync.log import LOG_AFTER, STATE

logger = logging.getLogger("qtable.realtime")

# A socket further behind than this many revisions is sent `resync` rather than each one.
MAX_CATCH_UP = 1000
RESYNC = '{"type":"resync"}'

_USERS = rows.RowQuery(
    select(User.id, User.role, User.token_generation).where(
        User.restaurant_id == bindparam(rows.SCOPE_PARAM),
        User.id.in_(bindparam("ids", expanding=True)),
    )
)


class Socket:
    """One client's place in its restaurant's feed, and the messages waiting for it."""

    def __init__(
        self,
        scope: RestaurantScope,
        generation: int,
        queue_size: int,
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.scope = scope
        self.generation = generation
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        # The revision of the last change sent, the cursor it was sent with and that cursor's
        # window; revision None while the socket waits for `resume` (after `resync`).
        self.revision: int | None = None
        self.cursor = ""
        self.window: Window | None = None
        self._close = close

    def put(self, message: str) -> bool:
        """Queue a message; on overflow drop the queue, queue `resync` and stop: False."""
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resync()
            return False

    def resync(self) -> None:
        """Tell the client to ask the dashboard; send it nothing more until `resume`."""
        self.queue.put_nowait(RESYNC)
        self.revision = None

    async def close(self, code: int, reason: str) -> None:
        await self._close(code, reason)


class Hub:
    """The sockets of this process, by restaurant, and each restaurant's pump."""

    def __init__(
        self,
        db: Database,
        cursors: Callable[[], Awaitable[Cursors]],
        *,
        poll_seconds: float = 1.0,
        queue_size: int = 100,
        max_sockets_per_user: int = 5,
    ) -> None:
        self.db = db
        self._cursors = cursors
        self.poll_seconds = poll_seconds
        self.queue_size = queue_size
        self.max_sockets_per_user = max_sockets_per_user
        self.sockets: dict[int, set[Socket]] = {}
        self._wake: dict[int, asyncio.Event] = {}
        # When each restaurant's window (its local day, app.sync.cursor) ends, in seconds
        # since the epoch: its pump wakes then, whether or not anything was committed.
        self._window_ends: dict[int, int] = {}
        self._pumps: dict[int, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.bridge: RedisBridge | None = None

    # -- the process's side ----------------------------------------------------------------

    def start(self, redis_url: str | None = None) -> None:
        self._tasks.append(asyncio.create_task(self._poll(), name="realtime-poll"))
        if redis_url:
            self.bridge = RedisBridge(redis_url, self)
            self._tasks.append(asyncio.create_task(self.bridge.run(), name="realtime-redis"))

    async def close(self) -> None:
        """Shut down: every socket is closed with 1001 (going away)."""
        for task in [*self._tasks, *self._pumps.values()]:
            task.cancel()
        for task in [*self._tasks, *self._pumps.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sockets in list(self.sockets.values()):
            for socket in list(sockets):
                with contextlib.suppress(Exception):
                    await socket.close(1001, "server shutting down")
        self.sockets.clear()

    def notify(self, restaurant_id: int, revision: int) -> None:
        """A transaction of the restaurant committed this revision (called after the commit;
        returns at once, never raises)."""
        try:
            self.wake(restaurant_id)
            if self.bridge is not None:
                self.bridge.publish(restaurant_id, revision)
        except Exception:  # a notice is a hint: the poll makes up for it
            logger.exception("realtime notice failed")

    def wake(self, restaurant_id: int) -> None:
        event = self._wake.get(restaurant_id)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        for event in self._wake.values():
            event.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            self.wake_all()

    # -- sockets ---------------------------------------------------------------------------

    def user_sockets(self, scope: RestaurantScope) -> int:
        return sum(
            s.scope.user_id == scope.user_id for s in self.sockets.get(scope.restaurant_id, ())
        )

    async def join(self, socket: Socket) -> str:
        """Add the socket at the restaurant's current revision; the cursor for `hello`."""
        rid = socket.scope.restaurant_id
        cursors = await self._cursors()
        async with self._reading(socket.scope) as read:
            revision, _, timezone = (await read(STATE))[0]
        position = cursors.position(revision, timezone)
        socket.revision = position.revision
        socket.window = position.window
        socket.cursor = cursors.issue(rid, position)
        self._window_ends[rid] = position.window.end
        self.sockets.setdefault(rid, set()).add(socket)
        if rid not in self._pumps:
            self._wake[rid] = asyncio.Event()
            self._pumps[rid] = asyncio.create_task(self._pump(rid), name=f"realtime-pump-{rid}")
        return socket.cursor

    def leave(self, socket: Socket) -> None:
        rid = socket.scope.restaurant_id
        sockets = self.sockets.get(rid)
        if sockets is None:
            return
        sockets.discard(socket)
        if not sockets:
            del self.sockets[rid]
            self._wake.pop(rid, None)
            self._window_ends.pop(rid, None)
            pump = self._pumps.pop(rid, None)
            if pump is not None:
                pump.cancel()

    async def resume(self, socket: Socket, cursor: Any) -> None:
        """Everything since ``cursor`` as one `changes` message, or `resync` when that
        cursor cannot be served; later changes continue from there."""
        rid = socket.scope.restaurant_id
        cursors = await self._cursors()
        after = cursors.read(rid, cursor) if isinstance(cursor, str) else None
        async with self._reading(socket.scope) as read:
            revision, log_start, timezone = (await read(STATE))[0]
            current = cursors.position(revision, timezone)
            if (
                after is None
                or not current.serves(after, log_start)
                or revision - after.revision > MAX_CATCH_UP
            ):
                socket.resync()
                return
            entries = await read(LOG_AFTER, {"after": after.revision, "upto": revision})
        merged = _merge(changes for _, changes in entries)
        now = cursors.issue(rid, current)
        socket.revision = int(revision)
        socket.window = current.window
        socket.cursor = now
        socket.put(_changes_message(now, cursor, merged))

    # -- a restaurant's pump ---------------------------------------------------------------

    async def _pump(self, rid: int) -> None:
        event = self._wake[rid]
        cursors = await self._cursors()
        while True:
            end = self._window_ends.get(rid)
            # Just past the window's end, so that the clock read next is in the new window.
            wait = None if end is None else max(0.0, end - cursors.now().timestamp()) + 0.01
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait)
            event.clear()
            try:
                await self._send_new(rid)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: the next wake tries again
                logger.warning("realtime pump of restaurant %s failed", rid, exc_info=True)

    async def _send_new(self, rid: int) -> None:
        """Each socket of the restaurant is sent every revision committed after its own, one
        `changes` message each (empty for a transaction that changed no floor row, such as a
        settings or staff change: every cursor stays in the chain), all in the restaurant's
        current window; a socket whose window has passed (local midnight, a time zone change)
        is sent `resync` instead: what a full sync holds has changed although no row did."""
        sockets = [s for s in self.sockets.get(rid, ()) if s.revision is not None]
        if not sockets:
            return
        cursors = await self._cursors()
        async with self._reading(sockets[0].scope) as read:
            revision, log_start, timezone = (await read(STATE))[0]
            current = cursors.position(revision, timezone)
            self._window_ends[rid] = current.window.end
            behind = [
                s
                for s in sockets
                if s.revision is not None and s.revision < revision and s.window == current.window
            ]
            entries: list[Any] = []
            users: list[Any] = []
            if behind:
                oldest = min(s.revision for s in behind if s.revision is not None)
                if revision - oldest <= MAX_CATCH_UP and oldest >= log_start:
                    entries = await read(LOG_AFTER, {"after": oldest, "upto": revision})
                users = await read(_USERS, {"ids": sorted({s.scope.user_id for s in sockets})})
        for socket in sockets:
            if socket.revision is not None and socket.window != current.window:
                socket.resync()
        if not behind:
            return
        await self._close_revoked(sockets, users)
        for socket in behind:
            if socket.revision is None:
                continue
            if not entries:
                socket.resync()
                continue
            for entry_revision, changes in entries:
                if entry_revision <= socket.revision:
                    continue
                cursor = cursors.issue(rid, current.at(entry_revision))
                if not socket.put(_changes_message(cursor, socket.cursor, changes)):
                    break
                socket.cursor = cursor
                socket.revision = int(entry_revision)
            else:
                socket.revision = int(revision)

    async def _close_revoked(self, sockets: list[Socket], users: list[Any]) -> None:
        """A socket whose user was deleted or changed role or password is closed 4401."""
        current = {row[0]: (row[1], row[2]) for row in users}
        for socket in sockets:
            if current.get(socket.scope.user_id) != (socket.scope.role, socket.generation):
                socket.revision = None
                await socket.close(4401, "the access token is no longer valid")

    def _reading(self, scope: RestaurantScope) -> Any:
        return _Reader(self.db, scope)


class _Reader:
    """A read unit of work bound to a socket's scope (every read is that restaurant's)."""

    def __init__(self, db: Database, scope: RestaurantScope) -> None:
        self.uow = UnitOfWork(db, write=False)
        self.uow.bind(scope)

    async def __aenter__(self) -> Callable[..., Awaitable[list[Any]]]:
        async def read(query: rows.RowQuery, params: dict[str, Any] | None = None) -> list[Any]:
            return await rows.fetch(self.uow, query, params)

        return read

    async def __aexit__(self, *_: Any) -> None:
        await self.uow.close()


def _changes_message(cursor: str, previous: str, changes: str) -> str:
    """A `changes` message around a change log entry's JSON (or several merged)."""
    return f'{{"type":"changes","cursor":"{cursor}","previousCursor":"{previous}",' + changes[1:]


def _merge(entries: Any) -> str:
    """Change log entries, oldest first, as one: each row's last state, or its deletion."""
    last = fold(entries)
    merged: dict[str, Any] = {
        entity: [row for row in last[entity].values() if row is not None] for entity in ENTITIES
    }
    merged["deleted"] = {
        entity: sorted(i for i, row in last[entity].items() if row is None) for entity in ENTITIES
    }
    return json.dumps(merged, separators=(",", ":"), ensure_ascii=False)


def close_sockets_on_exit_signals(hub: Hub) -> Callable[[], None]:
    """Make SIGTERM and SIGINT close every socket with 1001 (going away) first, then do what
    the process's handler did (uvicorn's: stop, closing the connections still open with 1012,
    service restart). uvicorn notices its exit flag within 0.1 s; the close frames are on their
    way by then. Returns what undoes it. Signals are the main thread's only: elsewhere, and
    where no Python handler is installed, nothing is wrapped."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    wrapped: dict[int, tuple[Any, Any]] = {}

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(hub.close()))
            previous(signum, frame)

        signal.signal(sig, handler)
        wrapped[sig] = (previous, handler)

    def undo() -> None:
        for sig, (previous, handler) in wrapped.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return undo
