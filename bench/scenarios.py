"""The scenarios, in the order they run: a registry that later scenarios (the dashboard, the
batch, a WebSocket rush hour) join by appending an entry.

A scenario names the server it drives, its connection groups (how many connections, each
one's own cycle of requests, the status every answer must have), what it is compared to, and
its target. Reads come before writes: writes change the database, and every run starts from
the pristine seed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bench.seed import Manifest

API = "/api/v1"

# Servers a scenario may drive (started by bench.__main__).
RAW = "raw"  # bench.raw_server: the load generator's own ceiling
QTABLE = "qtable"  # QTable on the full database
QTABLE_SOLO = "qtable-solo"  # QTable on the database holding only the measured restaurant
READ_CEILING = "read-ceiling"  # bench.ceiling
WRITE_CEILING = "write-ceiling"  # bench.write_ceiling (SQLite only)
# Started for their scenarios only, each on a database of its own, and stopped after them.
NORMAL_DISK = "qtable-normal-disk"  # QTable on a fresh copy of the seed
SLOW_DISK = "qtable-slow-disk"  # the same, every fsync delayed (bench.slow_disk)
PURGING = "qtable-purging"  # QTable starting on a copy holding expired change-log entries
QTABLE_PG = "qtable-postgres"  # QTable on PostgreSQL (in a PostgreSQL run: QTABLE itself)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None  # sent as JSON
    auth: bool = True  # with the measured owner's bearer token
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, host: str, token: str | None) -> bytes:
        """The request's bytes, built once before the measurement."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        if self.auth and token:
            lines.append(f"Authorization: Bearer {token}")
        lines += [f"{name}: {value}" for name, value in self.headers]
        payload = b""
        if self.body is not None:
            payload = json.dumps(self.body, separators=(",", ":")).encode()
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


@dataclass(frozen=True)
class Context:
    """What request generators may use: the measured restaurant's rows, the run's size, and
    what the bench read from QTable before measuring (``Bench.sync_state``): the dashboard's
    current cursor and the ETag of a delta from it."""

    manifest: Manifest
    connections: int
    sync: dict[str, str] = field(default_factory=dict)


Requests = Callable[[Context, int], list[Request]]  # connection index -> its request cycle


@dataclass(frozen=True)
class Group:
    name: str
    requests: Requests
    expected: int = 200
    connections: Callable[[Context], int] = lambda ctx: ctx.connections
    pace: float = 0.0  # seconds between a connection's requests; 0: each as soon as answered


@dataclass(frozen=True)
class Target:
    """``ratio``: req/s over the reference's, at least ``value``; ``growth``: the reference's
    p50 over this one's, at most ``value``; ``p99``: at most ``value`` ms; ``rate``: at least
    ``value`` req/s; ``speedup``: the run's own ratio (set by a sequence), at least
    ``value``; ``max``: the slowest answer, at most ``value`` ms; ``spread``: p99 over p50
    (the ratio column), at most ``value``."""

    kind: Literal["ratio", "growth", "p99", "rate", "speedup", "max", "spread"]
    value: float
    label: str


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str
    groups: tuple[Group, ...]
    reference: str | None = None  # the scenario it is compared to (its ceiling)
    target: Target | None = None
    also: str | None = None  # a second ceiling shown in the notes
    serves: str | None = None  # read ceilings: the QTable scenario whose answer is served
    primary: str | None = None  # the group the row reports (default: the first)
    backends: tuple[str, ...] = ("sqlite", "postgres")
    description: str = field(default="", compare=False)
    # Run by the bench process itself, not by bench.load: "batch" (bench.sequence) or "rush"
    # (bench.rush); "purge" drives bench.load for as long as the change log's purge runs.
    sequence: str | None = None
    # Another row of the named scenario's measurement (its group ``primary``): not run again.
    shares: str | None = None
    # How long it takes, when that is minutes: then it runs only with --long (or by name).
    long: str | None = None

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "-")

    @property
    def main_group(self) -> str:
        return self.primary or self.groups[0].name


# ----- request generators --------------------------------------------------------------------


def _get_guest(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", f"{API}/guests/{ctx.manifest.waiting[i % len(ctx.manifest.waiting)]}")]


def _healthz(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", "/healthz", auth=False)]


def _list_tables(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", f"{API}/tables?limit=200")]


def _list_guests(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", f"{API}/guests?limit=200")]


def _create_guest(ctx: Context, i: int) -> list[Request]:
    body = {
        "name": f"Walk-in {i}",
        "partySize": 2,
        "phone": "+33612345678",
        "quotedWaitMinutes": 15,
        "notes": "Asked for the terrace",
    }
    return [Request("POST", f"{API}/guests", body)]


def _seat(ctx: Context, i: int) -> list[Request]:
    """Connection i moves its own seated guest between its own two free tables: every request
    is a real move (the old table freed, the new one taken)."""
    guest, first, second = ctx.manifest.movers[i]
    path = f"{API}/guests/{guest}/seat"
    return [Request("POST", path, {"tableId": first}), Request("POST", path, {"tableId": second})]


def _patch_guest(ctx: Context, i: int) -> list[Request]:
    """Each connection its own guest; the notes alternate, so every PATCH changes the row (a
    PATCH that changes nothing writes nothing)."""
    waiting = ctx.manifest.waiting
    path = f"{API}/guests/{waiting[-1 - i % len(waiting)]}"
    return [Request("PATCH", path, {"notes": f"Window table, please ({n})"}) for n in "ab"]


DASHBOARD = f"{API}/dashboard/data"


def _dashboard(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", f"{DASHBOARD}?minimal=true")]


def _delta(ctx: Context, i: int) -> list[Request]:
    return [Request("GET", f"{DASHBOARD}?minimal=true&since={ctx.sync['cursor']}")]


def _not_modified(ctx: Context, i: int) -> list[Request]:
    path = f"{DASHBOARD}?minimal=true&since={ctx.sync['cursor']}"
    return [Request("GET", path, headers=(("If-None-Match", ctx.sync["etag"]),))]


def _login(ctx: Context, i: int) -> list[Request]:
    body = {"email": ctx.manifest.email, "password": ctx.manifest.password}
    return [Request("POST", f"{API}/auth/login", body, auth=False)]


def _mixed_reads(ctx: Context, i: int) -> list[Request]:
    return [*_get_guest(ctx, i), *_list_tables(ctx, i)]


def _logins(ctx: Context) -> int:
    """10 of 16 connections log in (the same share at any --connections), at least one."""
    return max(1, min(ctx.connections - 1, round(ctx.connections * 10 / 16)))


def _same_bytes(scenario: Scenario) -> Scenario:
    """The read ceiling answering, byte for byte, what QTable answered for ``scenario``."""

    source = scenario.groups[0].requests

    def requests(ctx: Context, i: int) -> list[Request]:
        return [replace(r, path=f"/same/{scenario.slug}") for r in source(ctx, i)]

    return Scenario(
        name=f"ceiling {scenario.name}",
        server=READ_CEILING,
        groups=(Group("main", requests),),
        serves=scenario.name,
        description=f"the read ceiling answering the bytes QTable gave for '{scenario.name}'",
    )


def _write_ceiling(scenario: Scenario) -> Scenario:
    """The write ceiling taking the very same requests as ``scenario``."""
    return Scenario(
        name=f"ceiling {scenario.name}",
        server=WRITE_CEILING,
        groups=scenario.groups,
        backends=("sqlite",),
        description=f"the same rows written as '{scenario.name}', through sqlite3",
    )


# ----- the registry --------------------------------------------------------------------------

EMPTY = Scenario(
    "ceiling {}",
    READ_CEILING,
    (Group("main", lambda ctx, i: [Request("GET", "/empty")]),),
    description="GET /empty on the read ceiling: the reference",
)
GET_GUEST = Scenario(
    "get guest",
    QTABLE,
    (Group("main", _get_guest),),
    reference=EMPTY.name,
    target=Target("ratio", 1 / 3, "≥ 1/3"),
    also="ceiling get guest",
)
LIST_TABLES = Scenario(
    "list tables",
    QTABLE,
    (Group("main", _list_tables),),
    reference="ceiling list tables",
    target=Target("ratio", 1 / 5, "≥ 1/5"),
)
LIST_GUESTS = Scenario(
    "list guests",
    QTABLE,
    (Group("main", _list_guests),),
    reference="ceiling list guests",
    target=Target("ratio", 1 / 5, "≥ 1/5"),
)
CREATE_GUEST = Scenario(
    "create guest",
    QTABLE,
    (Group("main", _create_guest, expected=201),),
    reference="ceiling create guest",
    target=Target("ratio", 1 / 4, "≥ 1/4"),
)
SEAT = Scenario(
    "seat",
    QTABLE,
    (Group("main", _seat),),
    reference="ceiling seat",
    target=Target("ratio", 1 / 4, "≥ 1/4"),
)
DASHBOARD_FULL = Scenario(
    "dashboard",
    QTABLE,
    (Group("main", _dashboard),),
    reference="ceiling dashboard",
    target=Target("ratio", 1 / 3, "≥ 1/3"),
    description="the full dashboard, minimal=true: 150 tables, 600 guests, today's bookings",
)
DASHBOARD_DELTA = Scenario(
    "dashboard delta",
    QTABLE,
    (Group("main", _delta),),
    reference=EMPTY.name,
    description="since = the current cursor, without If-None-Match: nothing new (200, empty "
    "arrays); shown beside the 304, which is the target",
)
DASHBOARD_304 = Scenario(
    "dashboard 304",
    QTABLE,
    (Group("main", _not_modified, expected=304),),
    reference=EMPTY.name,
    target=Target("ratio", 1 / 2, "≥ 1/2"),
    description="since = the current cursor and If-None-Match: nothing new, 304",
)
BATCH = Scenario(
    "batch 150",
    QTABLE,
    (),
    target=Target("speedup", 15.0, "≥ 15x singles"),
    sequence="batch",
    description="150 guest changes (complete, seat, move, status) as one batch; ratio = the "
    "same changes as single requests over one keep-alive connection, end to end, over this",
)
RUSH = Scenario(
    "rush hour",
    QTABLE,
    (),
    target=Target("p99", 100.0, "p99 ≤ 100 ms, every change once"),
    sequence="rush",
    description="30 s: 20 HTTP devices across 10 restaurants (80% dashboard deltas, 20% "
    "writes and batches) on two QTable processes sharing Redis, 50 WebSocket listeners",
)
PATCH_GUEST = Scenario(
    "patch guest",
    QTABLE,
    (Group("main", _patch_guest),),
    reference="ceiling patch guest",
    target=Target("ratio", 1 / 4, "≥ 1/4"),
)

# A disk that takes its time: writers commit back to back while one connection asks for
# /healthz and another for one guest, each every 5 ms; the same on a normal disk first.
DISK_WRITERS = 4
SAMPLE_EVERY = 0.005
_DISK_GROUPS = (
    Group("healthz", _healthz, connections=lambda ctx: 1, pace=SAMPLE_EVERY),
    Group("get guest", _get_guest, connections=lambda ctx: 1, pace=SAMPLE_EVERY),
    Group("writes", _create_guest, expected=201, connections=lambda ctx: DISK_WRITERS),
)


def _disk(server: str, label: str, targets: tuple[Target | None, Target | None]) -> list[Scenario]:
    """Three rows of one measurement: the two samplers and the writers."""
    first = f"{label}: healthz"
    what = (
        f"{DISK_WRITERS} connections create guests back to back; /healthz and GET one guest "
        f"sampled every {SAMPLE_EVERY * 1000:.0f} ms on two more"
    )
    return [
        Scenario(
            first,
            server,
            _DISK_GROUPS,
            target=targets[0],
            primary="healthz",
            backends=("sqlite",),
            description=f"{label}: {what}",
        ),
        Scenario(
            f"{label}: get guest",
            server,
            _DISK_GROUPS,
            target=targets[1],
            primary="get guest",
            backends=("sqlite",),
            shares=first,
            description=f"{label}: GET one guest while the writers commit",
        ),
        Scenario(
            f"{label}: writes",
            server,
            _DISK_GROUPS,
            primary="writes",
            backends=("sqlite",),
            shares=first,
            description=f"{label}: the writers (req/s: guests created a second)",
        ),
    ]


# The allowance over the 20 ms stall limit: /healthz's own answer on an idle loop is about a
# millisecond, and a sample may land up to that much after a stall began.
PURGE_STALL_MS = 20.0
PURGE_ALLOWANCE_MS = 2.0
PURGE_SAMPLE_EVERY = 0.002
PURGE = Scenario(
    "change log purge",
    PURGING,
    (Group("healthz", _healthz, connections=lambda ctx: 1, pace=PURGE_SAMPLE_EVERY),),
    target=Target(
        "max",
        PURGE_STALL_MS + PURGE_ALLOWANCE_MS,
        f"slowest ≤ {PURGE_STALL_MS:.0f} ms (+{PURGE_ALLOWANCE_MS:.0f} ms)",
    ),
    backends=("sqlite",),
    sequence="purge",
    long="about 3 minutes on 2 cores",
    description="QTable starts on a copy of the seed holding expired change-log entries over "
    "every restaurant (1,000,000; a smoke run 10,000) and purges them at once; /healthz every "
    f"{PURGE_SAMPLE_EVERY * 1000:.0f} ms until the log holds no expired entry",
)
POSTGRES_WRITERS = Scenario(
    "create guest on postgres",
    QTABLE_PG,
    CREATE_GUEST.groups,
    target=Target("spread", 5.0, "p99 ≤ 5x p50"),
    description="every connection creates guests in the measured restaurant on PostgreSQL "
    "(in a SQLite run, on a QTable started for it); ratio = p99 / p50: do writers queue fairly",
)

SCENARIOS: list[Scenario] = [
    Scenario(
        "load generator",
        RAW,
        (Group("main", lambda ctx, i: [Request("GET", "/empty")]),),
        target=Target("rate", 7000, "≥ 7000 req/s"),
        description="the load generator against a server that only answers: its own ceiling",
    ),
    EMPTY,
    Scenario(
        "healthz",
        QTABLE,
        (Group("main", _healthz),),
        reference=EMPTY.name,
    ),
    _same_bytes(GET_GUEST),
    GET_GUEST,
    _same_bytes(LIST_TABLES),
    LIST_TABLES,
    _same_bytes(LIST_GUESTS),
    LIST_GUESTS,
    _same_bytes(DASHBOARD_FULL),
    DASHBOARD_FULL,
    DASHBOARD_DELTA,
    DASHBOARD_304,
    Scenario(
        "growth",
        QTABLE_SOLO,
        LIST_GUESTS.groups,
        reference=LIST_GUESTS.name,
        target=Target("growth", 1.5, "≤ 1.5"),
        description="list guests on a database holding only the measured restaurant; "
        "ratio = p50 with all restaurants / p50 alone",
    ),
    Scenario(
        "logins",
        QTABLE,
        (
            Group("login", _login, connections=_logins),
            Group("reads", _mixed_reads, connections=lambda ctx: ctx.connections - _logins(ctx)),
        ),
        target=Target("p99", 100.0, "p99 ≤ 100 ms"),
        primary="reads",
        description="get guest and list tables while other connections log in (argon2)",
    ),
    _write_ceiling(CREATE_GUEST),
    CREATE_GUEST,
    _write_ceiling(SEAT),
    SEAT,
    _write_ceiling(PATCH_GUEST),
    PATCH_GUEST,
    BATCH,
    RUSH,
    *_disk(NORMAL_DISK, "normal disk", (None, None)),
    *_disk(
        SLOW_DISK,
        "slow disk",
        (Target("p99", 5.0, "p99 ≤ 5 ms"), Target("p99", 10.0, "p99 ≤ 10 ms")),
    ),
    PURGE,
    POSTGRES_WRITERS,
]


def by_name() -> dict[str, Scenario]:
    return {s.name: s for s in SCENARIOS}


def max_connections(manifest: Manifest) -> int:
    """The seat scenario needs a seated guest and two free tables per connection."""
    return len(manifest.movers)
