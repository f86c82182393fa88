"""QTable's SQLite driver (app.db.sqlite): sqlite3 on the event loop's thread, never blocked.

Statements run on the loop's own thread, so the loop must never sleep in SQLite's busy
handler: writers of one process queue on ``WriteTurns`` as futures, a lock held by another
connection is retried after asyncio sleeps until the busy timeout, and readers (WAL) never
wait at all. While one request waits for the write lock, every other request must still be
served. The 503 after the busy timeout runs out is tested in tests/core/test_errors.py
(``test_503_when_sqlite_is_locked_then_the_retry_succeeds``).
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.util.concurrency import greenlet_spawn

from app.core.config import Settings
from app.db.engine import off_loop
from app.db.rows import fetch
from app.db.session import UnitOfWork
from app.db.sqlite import BEGIN_WRITE, WriteTurns, connect
from app.db.tenancy import _make_scope
from app.models import Guest, Restaurant
from tests.conftest import make_settings
from tests.fixtures.auth import Actor
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.floor import GUEST_STATUSES, GUESTS, create_guest, guest_url, list_all

BUSY_TIMEOUT_MS = 5000
# Far below the busy timeout: an answer this fast did not wait for the write lock.
PROMPT = 1.5


@pytest.fixture
def sqlite_url(sqlite_template: SQLiteTemplate, tmp_path: Path) -> str:
    return sqlite_template.fresh(tmp_path)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite alone (the conftest's app, client and owner then run on it)."""
    return sqlite_url


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Waiting up to 5 s for a lock held elsewhere."""
    return make_settings(sqlite_url, sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS)


@contextmanager
def write_lock_held_elsewhere(url: str) -> Iterator[sqlite3.Connection]:
    """Another connection, as another process would hold it, inside BEGIN IMMEDIATE; it
    commits when the block ends."""
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield holder
        holder.execute("COMMIT")
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


@asynccontextmanager
async def loop_watch() -> AsyncIterator[list[float]]:
    """The longest stretch, in seconds, during which the event loop ran nothing else."""
    longest = [0.0]

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            longest[0] = max(longest[0], now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        yield longest
    finally:
        ticker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticker


async def wait_until_pending(task: asyncio.Task[Any], seconds: float = 0.3) -> None:
    """Give ``task`` time to reach its wait; it must still be waiting then."""
    await asyncio.sleep(seconds)
    assert not task.done(), task.result()


# ----- a write waits as a coroutine ------------------------------------------------------------


async def test_a_write_waiting_for_the_lock_leaves_the_loop_serving_others(
    app: FastAPI, client: AsyncClient, owner: Actor, sqlite_url: str
) -> None:
    """While another connection holds the write lock, a POST waits for it (retrying after
    asyncio sleeps, not in SQLite's busy handler): /healthz and authenticated reads answer at
    once meanwhile, the loop never stalls, and once the holder commits the POST succeeds."""
    async with loop_watch() as stall:
        with write_lock_held_elsewhere(sqlite_url):
            write = asyncio.create_task(
                client.post(GUESTS, headers=owner.headers, json={"name": "Ana", "partySize": 2})
            )
            await wait_until_pending(write)

            started = time.monotonic()
            health = await client.get("/healthz")
            listed = await client.get(GUESTS, headers=owner.headers)
            me = await client.get("/api/v1/auth/me", headers=owner.headers)
            served_in = time.monotonic() - started

            assert not write.done(), "the write did not wait for the lock"
            assert health.status_code == 200, health.text
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"] == []
            assert me.status_code == 200, me.text
            assert served_in < PROMPT
        created = await asyncio.wait_for(write, BUSY_TIMEOUT_MS / 1000)

    assert created.status_code == 201, created.text
    assert stall[0] < PROMPT, f"the event loop stalled for {stall[0]:.3f} s"
    listed = await client.get(GUESTS, headers=owner.headers)
    assert [g["id"] for g in listed.json()["items"]] == [created.json()["id"]]


async def test_concurrent_writes_of_one_process_all_succeed(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """Twenty POSTs at once (more than the pool holds) take the write lock in turn: every one
    answers 201, none 503, and all twenty rows are there afterwards."""
    async with loop_watch() as stall:
        responses = await asyncio.gather(
            *(
                client.post(
                    GUESTS, headers=owner.headers, json={"name": f"Guest {n}", "partySize": 2}
                )
                for n in range(20)
            )
        )

    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    created = {r.json()["id"] for r in responses}
    assert len(created) == 20
    listed = await list_all(client, owner, GUESTS, {"limit": 200})
    assert {g["id"] for g in listed} == created
    assert stall[0] < PROMPT, f"the event loop stalled for {stall[0]:.3f} s"


# ----- write turns ------------------------------------------------------------------------------


async def take(turns: WriteTurns, wait: float = 5.0) -> bool:
    """``WriteTurns.take`` as SQLAlchemy calls it: from inside a greenlet."""
    return await greenlet_spawn(turns.take, wait)


async def test_a_writer_cancelled_in_the_queue_does_not_keep_the_turn() -> None:
    """A waiting writer that is cancelled (its request went away) is skipped when the turn
    is handed on: the writer behind it gets the turn, and after it the turn is free."""
    turns = WriteTurns()
    assert await take(turns)
    second = asyncio.create_task(take(turns))
    third = asyncio.create_task(take(turns))
    await wait_until_pending(second, 0.05)

    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert not third.done()
    turns.give_back()  # the first writer ends its transaction

    assert await asyncio.wait_for(third, 1) is True
    turns.give_back()
    assert await asyncio.wait_for(take(turns, 0.05), 1) is True


async def test_a_writer_cancelled_as_the_turn_reaches_it_passes_it_on() -> None:
    """The turn is handed to a waiting writer that is cancelled before it resumes. Either
    the writer gets the turn (and ends it), or it goes away and the turn passes on; never is
    the turn lost, so the next writer proceeds."""
    turns = WriteTurns()
    assert await take(turns)
    second = asyncio.create_task(take(turns))
    third = asyncio.create_task(take(turns))
    await wait_until_pending(second, 0.05)

    turns.give_back()  # handed to `second`, which has not run since
    second.cancel()
    (outcome,) = await asyncio.gather(second, return_exceptions=True)
    if outcome is True:  # the hand-over won over the cancellation: its transaction ends
        turns.give_back()
    else:
        assert isinstance(outcome, asyncio.CancelledError), outcome

    assert await asyncio.wait_for(third, 1) is True
    turns.give_back()
    assert await asyncio.wait_for(take(turns, 0.05), 1) is True


async def test_a_writer_that_times_out_leaves_the_queue() -> None:
    """A writer that waited its whole busy timeout gives up (False), and is no longer in
    the queue: the turn, when given back, is free for the next writer at once."""
    turns = WriteTurns()
    assert await take(turns)
    assert await asyncio.wait_for(take(turns, 0.05), 1) is False
    turns.give_back()
    assert await asyncio.wait_for(take(turns, 0.05), 1) is True


async def test_turns_are_handed_out_in_arrival_order() -> None:
    """Writers queued behind a holder get the turn in the order they asked for it."""
    turns = WriteTurns()
    assert await take(turns)
    order: list[int] = []

    async def writer(n: int) -> None:
        assert await take(turns)
        order.append(n)
        await asyncio.sleep(0)
        turns.give_back()

    writers = []
    for n in range(5):
        writers.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.01)
    turns.give_back()
    await asyncio.wait_for(asyncio.gather(*writers), 2)
    assert order == [0, 1, 2, 3, 4]
    assert await asyncio.wait_for(take(turns, 0.05), 1) is True


async def test_a_write_transaction_cancelled_while_waiting_does_not_stall_the_engine(
    app: FastAPI, owner: Actor
) -> None:
    """Through the engine: while one write transaction is open, a second one waiting for
    its turn is cancelled. After the first ends, new write transactions begin at once, and
    no pool connection is left checked out."""
    db = app.state.db

    async def write_once(name: str) -> None:
        async with db.write_engine.begin() as conn:
            await conn.execute(
                update(Restaurant.__table__)
                .where(Restaurant.__table__.c.id == owner.restaurant_id)
                .values(name=name)
            )

    async with db.write_engine.connect() as first:
        await first.begin()  # BEGIN IMMEDIATE: this connection has the turn
        waiting = asyncio.create_task(write_once("cancelled"))
        await wait_until_pending(waiting, 0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await first.rollback()

    for n in range(3):
        await asyncio.wait_for(write_once(f"after {n}"), 2)
    async with db.engine.connect() as conn:
        name = await conn.scalar(
            select(Restaurant.__table__.c.name).where(
                Restaurant.__table__.c.id == owner.restaurant_id
            )
        )
    assert name == "after 2"
    assert db.engine.pool.checkedout() == 0


# ----- reads never wait ---------------------------------------------------------------------------


async def test_reads_do_not_wait_for_a_write_lock_held_elsewhere(
    app: FastAPI, client: AsyncClient, owner: Actor, sqlite_url: str
) -> None:
    """With the write lock held by another connection (and an uncommitted change in it),
    every kind of read answers at once with the committed state: driver reads through
    ``rows``, Core reads on the engine, ORM reads and the HTTP routes built on them."""
    guest = await create_guest(client, owner, "Ana", 2)
    scope = _make_scope(owner.restaurant_id, owner.user_id, owner.role)
    with write_lock_held_elsewhere(sqlite_url) as holder:
        holder.execute("UPDATE guests SET name = 'Uncommitted' WHERE id = ?", (guest["id"],))
        started = time.monotonic()

        uow = UnitOfWork(app.state.db, write=False)
        uow.bind(scope)
        try:
            found = await fetch(
                uow,
                select(Guest.name).where(
                    Guest.restaurant_id == scope.restaurant_id, Guest.id == guest["id"]
                ),
            )
            orm_name = await uow.session.scalar(select(Guest.name).where(Guest.id == guest["id"]))
        finally:
            await uow.close()
        async with app.state.db.engine.connect() as conn:
            core_name = await conn.scalar(
                select(Guest.__table__.c.name).where(Guest.__table__.c.id == guest["id"])
            )
        answers = [
            await client.get(path, headers=owner.headers)
            for path in (
                guest_url(guest["id"]),
                GUESTS,
                "/api/v1/restaurant",
                "/api/v1/auth/me",
                "/readyz",
            )
        ]
        elapsed = time.monotonic() - started

    assert [row[0] for row in found] == ["Ana"]
    assert orm_name == "Ana"
    assert core_name == "Ana"
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    assert answers[0].json()["name"] == "Ana"
    assert elapsed < PROMPT, f"reads took {elapsed:.3f} s with the write lock held elsewhere"
    listed = await list_all(client, owner, GUESTS, {"status": list(GUEST_STATUSES)})
    assert [g["name"] for g in listed] == ["Uncommitted"]


async def test_reads_do_not_wait_for_a_write_of_this_process(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """Readers take no write turn: while a write transaction of this process holds the
    turn and the lock, reads of every kind answer at once."""
    guest = await create_guest(client, owner, "Ana", 2)
    async with app.state.db.write_engine.connect() as writer:
        await writer.begin()
        await writer.execute(
            update(Guest.__table__).where(Guest.__table__.c.id == guest["id"]).values(name="Bo")
        )
        started = time.monotonic()
        answers = [
            await client.get(path, headers=owner.headers)
            for path in (guest_url(guest["id"]), GUESTS, "/api/v1/restaurant")
        ]
        elapsed = time.monotonic() - started
        await writer.rollback()

    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert answers[0].json()["name"] == "Ana"
    assert elapsed < PROMPT, f"reads took {elapsed:.3f} s behind a write of this process"


async def test_the_driver_read_retries_as_a_coroutine_until_the_busy_timeout(
    tmp_path: Path,
) -> None:
    """``Connection.read`` is a coroutine: a read that finds the database locked (here an
    exclusive lock in rollback-journal mode, which blocks readers) sleeps on the loop and
    retries, succeeding once the lock goes; after the busy timeout it raises SQLite's own
    "database is locked"."""
    path = str(tmp_path / "journal.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t (x)")
    setup.execute("INSERT INTO t VALUES (1)")
    setup.execute("BEGIN EXCLUSIVE")
    reader = connect(path, busy_timeout_ms=3000)
    try:
        async with loop_watch() as stall:
            pending = asyncio.create_task(reader.read("SELECT x FROM t", ()))
            await wait_until_pending(pending, 0.2)
            setup.execute("COMMIT")
            assert await asyncio.wait_for(pending, 3) == [(1,)]
        assert stall[0] < PROMPT

        setup.execute("BEGIN EXCLUSIVE")
        reader.busy_timeout = 0.2
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await reader.read("SELECT x FROM t", ())
        assert 0.2 <= time.monotonic() - started < PROMPT
        setup.execute("COMMIT")
    finally:
        reader.close()
        setup.close()


# ----- the disk is waited for off the loop ---------------------------------------------------


def _on_the_loop_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


async def test_a_commit_waits_for_the_disk_on_a_worker_thread(app: FastAPI, owner: Actor) -> None:
    """A write's statements run on the loop's thread; its COMMIT (the fsync, a checkpoint)
    on one of the engine's worker threads, so the loop serves others while the disk works."""
    seen: list[tuple[str, bool]] = []
    async with app.state.db.write_engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        raw.set_trace_callback(lambda sql: seen.append((sql.split()[0], _on_the_loop_thread())))
        try:
            await conn.begin()
            await conn.execute(
                update(Restaurant.__table__)
                .where(Restaurant.__table__.c.id == owner.restaurant_id)
                .values(name="Committed off the loop")
            )
            await conn.commit()
        finally:
            raw.set_trace_callback(None)
    assert ("UPDATE", True) in seen
    assert ("COMMIT", False) in seen
    assert ("COMMIT", True) not in seen


async def test_a_statement_that_may_be_long_runs_and_is_fetched_on_a_worker_thread(
    app: FastAPI,
) -> None:
    """On a connection of ``off_loop(engine)`` every statement runs, and its rows are read,
    on a worker thread; the rows arrive whole, however SQLAlchemy fetches them."""
    numbers = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
        "SELECT i, on_the_loop() FROM n"
    )
    engine = app.state.db.engine
    for chosen, on_the_loop in ((off_loop(engine), False), (engine, True)):
        async with chosen.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            raw.create_function("on_the_loop", 0, _on_the_loop_thread)
            result = await conn.execute(numbers)
            first = result.fetchone()
            some = result.fetchmany(10)
            rest = result.fetchall()
            rows = [first, *some, *rest]
            assert [row[0] for row in rows] == list(range(1, 1001))
            assert {bool(row[1]) for row in rows} == {on_the_loop}


async def test_a_cancelled_commit_still_ends_before_its_connection_is_used_again(
    tmp_path: Path,
) -> None:
    """A request cancelled while its COMMIT runs on a worker thread: the cancellation is
    raised only once SQLite is done with the connection, and the write is committed."""
    path = str(tmp_path / "cancel.db")
    conn = connect(path)
    started = threading.Event()
    release = threading.Event()

    def write() -> None:
        conn.cursor().execute(BEGIN_WRITE)
        conn.cursor().execute("CREATE TABLE t (x)")
        conn.commit()

    def trace(sql: str) -> None:
        # On the commit's thread, as it begins: hold it there until released.
        if sql == "COMMIT":
            started.set()
            release.wait(5)

    try:
        conn.set_trace_callback(trace)
        writing = asyncio.create_task(greenlet_spawn(write))
        assert await asyncio.to_thread(started.wait, 5)
        writing.cancel()
        await asyncio.sleep(0.05)
        assert not writing.done(), "the cancellation waits for the commit"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await writing
        conn.set_trace_callback(None)
        assert not conn.in_transaction
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        release.set()
        conn.close()


# ----- a lost connection wedges nothing ------------------------------------------------------


async def test_a_write_connection_lost_without_a_close_gives_its_turn_back(
    tmp_path: Path,
) -> None:
    """A connection that holds the write turn, mid-transaction, garbage-collected without a
    close: SQLite drops its lock, and the turn passes on, so the next write of the process
    begins at once (within a busy timeout of one second, else "database is locked")."""
    path = str(tmp_path / "lost.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x)")
    setup.close()
    turns = WriteTurns()

    def write_and_lose_it() -> None:
        lost = connect(path, write_turns=turns, busy_timeout_ms=1000)
        lost.cursor().execute(BEGIN_WRITE)
        lost.cursor().execute("INSERT INTO t VALUES (1)")

    await greenlet_spawn(write_and_lose_it)
    gc.collect()
    await asyncio.sleep(0)  # the turn is handed on through the loop

    after = connect(path, write_turns=turns, busy_timeout_ms=1000)
    try:

        def write() -> None:
            after.cursor().execute(BEGIN_WRITE)
            after.cursor().execute("INSERT INTO t VALUES (2)")
            after.commit()

        await greenlet_spawn(write)
        assert after.execute("SELECT x FROM t").fetchall() == [(2,)]
    finally:
        after.close()


async def test_a_session_dropped_mid_write_does_not_wedge_the_app(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """The same through SQLAlchemy: a write connection of the app's engine, dropped
    mid-transaction without a close (the pool cannot close it from the garbage collector), and
    the next POST succeeds instead of waiting out the busy timeout."""
    conn = await app.state.db.write_engine.connect()
    await conn.begin()
    await conn.execute(
        update(Restaurant.__table__)
        .where(Restaurant.__table__.c.id == owner.restaurant_id)
        .values(name="Never committed")
    )
    del conn
    # The first collection runs the pool's finalizer, which lets the connection go; the
    # next one collects the connection itself.
    gc.collect()
    gc.collect()
    await asyncio.sleep(0)
    response = await asyncio.wait_for(
        client.post(GUESTS, headers=owner.headers, json={"name": "Ana", "partySize": 2}), 4
    )
    assert response.status_code == 201, response.text
