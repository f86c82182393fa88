"""The change log's purge at start: a database holding many expired entries, a reader that
tells when the purge began and ended, and the server's event-loop lag histogram.

The entries are added to a copy of the seed through ``sqlite3``, in one transaction: spread
over every restaurant in turn, each restaurant's revisions increasing with their age, all
older than the retention (``QTABLE_CHANGE_LOG_RETENTION_DAYS``, ``app.core.config``). They
come before what the seed logged: its entries move up by as many revisions, and each
restaurant's revision with them, so every restaurant still has one unbroken log from
revision 1 on (``change_log_start`` is 0), as if it had been written over the past weeks.
Each entry is one guest's change, as a PATCH logs it.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core.config import Settings
from app.sync.changes import EMPTY_DELETED

# The oldest entry is this many days past the retention, the newest one day past it.
SPREAD_DAYS = 30


def retention_days() -> int:
    """What a server started without QTABLE_CHANGE_LOG_RETENTION_DAYS keeps."""
    return int(Settings.model_fields["change_log_retention_days"].default)


def stamp(moment: datetime) -> str:
    """A timestamp as QTable stores it on SQLite (naive UTC text, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@dataclass(frozen=True)
class Expired:
    entries: int
    restaurants: int
    oldest: str  # created_at of the oldest entry
    cutoff: str  # every entry added is older than this
    kept: int  # entries the purge must leave (the seed's own)
    seconds: float  # to add them


def _one_guest_change(conn: sqlite3.Connection) -> str:
    """A change log entry holding one guest, taken from what the seed logged."""
    found = conn.execute(
        "SELECT changes FROM change_log WHERE changes LIKE '{\"guests\":[{%'"
        " ORDER BY length(changes) LIMIT 1"
    ).fetchone()
    guest = json.loads(found[0])["guests"][0] if found else {"id": 1, "version": 2}
    row = json.dumps(guest, separators=(",", ":"))
    return f'{{"guests":[{row}],"tables":[],"reservations":[],"deleted":{EMPTY_DELETED}}}'


def add_expired(path: Path, entries: int, retention: int, now: datetime | None = None) -> Expired:
    """Add ``entries`` expired change log entries to the SQLite file at ``path``."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    newest = now - timedelta(days=retention + 1)
    oldest = now - timedelta(days=retention + SPREAD_DAYS)
    step = (newest - oldest) / max(1, entries)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # the file is checkpointed and synced below
        restaurants = [r for (r,) in conn.execute("SELECT id FROM restaurants ORDER BY id")]
        count = len(restaurants)
        added = {r: (entries - k + count - 1) // count for k, r in enumerate(restaurants)}
        changes = _one_guest_change(conn)
        (kept,) = conn.execute("SELECT count(*) FROM change_log").fetchone()

        def rows() -> Iterator[tuple[int, int, str, str]]:
            for n in range(entries):
                yield restaurants[n % count], n // count + 1, stamp(oldest + step * n), changes

        conn.execute("BEGIN IMMEDIATE")
        # Negated first, then back: no revision collides with another on the way.
        conn.executemany(
            "UPDATE change_log SET revision = -(revision + ?) WHERE restaurant_id = ?",
            [(n, r) for r, n in added.items()],
        )
        conn.execute("UPDATE change_log SET revision = -revision WHERE revision < 0")
        conn.executemany(
            "UPDATE restaurants SET revision = revision + ? WHERE id = ?",
            [(n, r) for r, n in added.items()],
        )
        conn.executemany(
            "INSERT INTO change_log (restaurant_id, revision, created_at, changes)"
            " VALUES (?, ?, ?, ?)",
            rows(),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with path.open("rb+") as written:  # on disk before the server starts
        os.fsync(written.fileno())
    return Expired(
        entries=entries,
        restaurants=count,
        oldest=stamp(oldest),
        cutoff=stamp(now - timedelta(days=retention)),
        kept=int(kept),
        seconds=time.perf_counter() - started,
    )


class Watch:
    """A reader of the file (read-only) asking every ``every`` seconds for the oldest expired
    entry, through the index the purge uses: when it first changes the purge has committed
    its first chunk; when none is left it is done. A thread of the bench process."""

    def __init__(self, path: Path, expired: Expired, every: float = 0.02) -> None:
        self.path = path
        self.expired = expired
        self.every = every
        self.began: float | None = None  # time.monotonic() of the first chunk seen gone
        self.ended: float | None = None  # of no expired entry left
        self.left = -1  # entries in the log once done
        self.error: str | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="purge-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            self.error = f"the watch could not open the file: {exc}"
            self.done.set()
            return
        query = "SELECT created_at FROM change_log WHERE created_at < ? ORDER BY created_at LIMIT 1"
        try:
            while not self._stop.is_set():
                # fetchall: the statement ends, so no read transaction stays open.
                found = conn.execute(query, (self.expired.cutoff,)).fetchall()
                now = time.monotonic()
                if self.began is None and (not found or found[0][0] != self.expired.oldest):
                    self.began = now
                if not found:
                    self.ended = now
                    self.left = int(conn.execute("SELECT count(*) FROM change_log").fetchone()[0])
                    return
                self._stop.wait(self.every)
        except sqlite3.Error as exc:
            self.error = f"the watch failed: {exc}"
        finally:
            conn.close()
            self.done.set()


HISTOGRAM = "qtable_event_loop_lag_seconds"
_BUCKET = re.compile(rf'^{HISTOGRAM}_bucket{{le="([^"]+)"}} ([0-9.e+]+)$', re.MULTILINE)


@dataclass(frozen=True)
class LoopLag:
    observations: int
    over: int  # observations above ``limit``
    limit: float  # seconds: the bucket bound closest to 20 ms from above (0.025)
    worst: tuple[float, float]  # the slowest observation lies in (worst[0], worst[1]] seconds


def loop_lag(metrics: str, limit: float = 0.025) -> LoopLag:
    """The event loop lag histogram of a /metrics answer (Prometheus text format)."""
    buckets = sorted((float(le), float(count)) for le, count in _BUCKET.findall(metrics))
    if not buckets:
        raise ValueError(f"no {HISTOGRAM} in the metrics")
    total = buckets[-1][1]  # le="+Inf"
    within = next((count for le, count in buckets if le == limit), total)
    lower, worst = 0.0, (0.0, 0.0)
    for le, count in buckets:
        if total and count >= total:
            worst = (lower, le)
            break
        lower = le
    return LoopLag(int(total), int(total - within), limit, worst)
