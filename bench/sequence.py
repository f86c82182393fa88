"""The batch scenario: the same guest changes as one batch and as single requests, end to end.

Run by the bench process itself, not by the load generator: each trial is a plan of changes
made on the restaurant as it stands (read over the API first), then sent either as one
``POST /batch/update`` or as one request per change, one after the other over one keep-alive
connection. Each trial uses parties no other trial touched, so every change is a real one.

A trial of size k (k = 30 gives 150 changes):

- k completes: seated parties leave, freeing their tables (now dirty);
- k - 1 seats: waiting parties take all but one of those tables;
- k moves, in a chain: the first new party moves to the free table, each next one to the
  table the previous one left, and the first one once more to the last table freed;
- 2k + 1 status changes: k + 1 waiting parties are notified, k of them go back to waiting.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.servers import HOST

API = "/api/v1"
TRIAL_SIZE = 30  # k: 150 changes
# Parties and tables come in all sizes: a host seats a party of six at a four-top on purpose.
_ANY_SIZE = {"allowOverCapacity": True}


@dataclass
class Floor:
    """The parties this scenario may use: seated (guest, table) pairs, waiting guests, and
    notified ones (who may be seated, not notified again)."""

    seated: list[tuple[int, int]]
    waiting: list[int]
    notified: list[int]


@dataclass
class Change:
    method: str
    path: str
    body: dict[str, Any] | None
    item: dict[str, Any]  # the same change as a batch item


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    changes: int = 0
    errors: list[str] = field(default_factory=list)


class Connection:
    """One keep-alive HTTP/1.1 connection to QTable."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def read_floor(conn: Connection, avoid_guests: set[int], avoid_tables: set[int]) -> Floor:
    def rows(status: str) -> list[dict[str, Any]]:
        found, cursor = [], None
        while True:
            path = f"{API}/guests?status={status}&limit=200" + (
                f"&cursor={cursor}" if cursor else ""
            )
            status_code, body = conn.send("GET", path)
            if status_code != 200:
                raise RuntimeError(f"reading guests: {status_code} {body[:200]!r}")
            page = json.loads(body)
            found += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return found

    seated = [
        (g["id"], g["tableId"])
        for g in rows("seated")
        if g["id"] not in avoid_guests and g["tableId"] not in avoid_tables
    ]
    waiting = [g["id"] for g in rows("waiting") if g["id"] not in avoid_guests]
    notified = [g["id"] for g in rows("notified") if g["id"] not in avoid_guests]
    return Floor(seated, waiting, notified)


def plan(floor: Floor, k: int) -> list[Change]:
    """One trial's changes (see the module's docstring); ``floor`` is updated to match."""
    if len(floor.seated) < k or len(floor.waiting) < k + 1 or k < 2:
        raise RuntimeError(f"not enough parties left for a trial of {k}")
    if len(floor.notified) < k - 1:
        floor.notified, floor.waiting = floor.waiting[: k - 1], floor.waiting[k - 1 :]
    leaving, floor.seated = floor.seated[:k], floor.seated[k:]
    tables = [table for _, table in leaving]
    arriving, floor.notified = floor.notified[: k - 1], floor.notified[k - 1 :]
    notified, floor.waiting = floor.waiting[: k + 1], floor.waiting[k + 1 :]
    changes: list[Change] = []

    def guest(method: str, guest_id: int, suffix: str, body: dict[str, Any] | None) -> None:
        changes.append(
            Change(
                method, f"{API}/guests/{guest_id}{suffix}", body, {"id": guest_id, **(body or {})}
            )
        )

    for guest_id, _ in leaving:
        changes.append(
            Change(
                "POST",
                f"{API}/guests/{guest_id}/complete",
                None,
                {"id": guest_id, "status": "completed"},
            )
        )
    for guest_id, table in zip(arriving, tables[:-1], strict=True):
        changes.append(
            Change(
                "POST",
                f"{API}/guests/{guest_id}/seat",
                {**_ANY_SIZE, "tableId": table},
                {"id": guest_id, **_ANY_SIZE, "tableId": table},
            )
        )
    at = dict(zip(arriving, tables[:-1], strict=True))
    free = tables[-1]
    for guest_id in [*arriving, arriving[0]]:  # the chain of moves, k of them
        leaves = at[guest_id]
        guest("PATCH", guest_id, "", {**_ANY_SIZE, "tableId": free})
        at[guest_id], free = free, leaves
    for guest_id in notified:
        guest("PATCH", guest_id, "", {"status": "notified"})
    for guest_id in notified[:k]:
        guest("PATCH", guest_id, "", {"status": "waiting"})
    floor.seated += [(g, t) for g, t in at.items()]
    floor.waiting += notified[:k]
    floor.notified.append(notified[k])
    assert len(changes) == 5 * k
    return changes


def run(
    port: int,
    token: str,
    avoid_guests: set[int],
    avoid_tables: set[int],
    trials: int,
    k: int = TRIAL_SIZE,
) -> dict[str, Timing]:
    """``trials`` trials each way, alternating; the seconds each took, end to end."""
    conn = Connection(port, token)
    try:
        floor = read_floor(conn, avoid_guests, avoid_tables)
        parties = len(floor.waiting) + len(floor.notified)
        k = min(k, len(floor.seated) - 2 * trials + 1, parties // (2 * trials + 2))
        timings = {"batch": Timing(), "singles": Timing()}
        for _ in range(trials):
            for way in ("batch", "singles"):
                changes = plan(floor, k)
                timing = timings[way]
                timing.changes = len(changes)
                started = time.perf_counter()
                if way == "batch":
                    status, body = conn.send(
                        "POST", f"{API}/batch/update", {"guests": [c.item for c in changes]}
                    )
                    if status != 200:
                        timing.errors.append(f"{status}: {body[:300]!r}")
                else:
                    for change in changes:
                        status, body = conn.send(change.method, change.path, change.body)
                        if status != 200:
                            timing.errors.append(f"{status}: {body[:300]!r}")
                timing.seconds.append(time.perf_counter() - started)
        return timings
    finally:
        conn.close()


def summary(timing: Timing) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in timing.seconds)
    return {
        "trials": len(ms),
        "requests": len(ms),
        "changes": timing.changes,
        "p50_ms": statistics.median(ms) if ms else None,
        "max_ms": ms[-1] if ms else None,
        "errors": len(timing.errors),
        "error_samples": timing.errors[:3],
    }
