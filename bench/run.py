"""One benchmark run: seed, start every server, capture the answers the read ceiling serves,
drive each scenario with the load generator, compare, report."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bench import client, purge, report, rush, seed, sequence, servers, slow_disk
from bench.ceiling import BODIES_ENV
from bench.load import STOP_GRACE_SECONDS
from bench.report import Result
from bench.scenarios import (
    NORMAL_DISK,
    PURGE_SAMPLE_EVERY,
    PURGING,
    QTABLE,
    QTABLE_PG,
    QTABLE_SOLO,
    RAW,
    READ_CEILING,
    SCENARIOS,
    SLOW_DISK,
    WRITE_CEILING,
    Context,
    Scenario,
    max_connections,
)
from bench.servers import HOST, ROOT, Server, ServerFailed

# The bench logs in again and again from one address, which the auth limits exist to stop.
AUTH_LIMIT = "1000000000"
AUTH_LIMITS_NOTE = (
    "QTABLE_AUTH_MAX_ATTEMPTS_PER_CLIENT and QTABLE_AUTH_MAX_FAILURES_PER_EMAIL are raised to "
    f"{AUTH_LIMIT}: the bench logs in repeatedly from one address"
)
# Smoke runs hash passwords cheaply; a full run keeps argon2's default cost.
CHEAP_ARGON2 = {"QTABLE_ARGON2_TIME_COST": "1", "QTABLE_ARGON2_MEMORY_KIB": "64"}
SMOKE_PREFIX = "qtable_bench_smoke"  # PostgreSQL databases of a smoke run, dropped after it
POSTGRES_PREFIX = "qtable_bench"  # PostgreSQL databases of a full run, kept as its cache
PURGE_LIMIT_SECONDS = 1800.0  # the purge scenario gives up waiting for the purge after this
PURGE_MIN_SAMPLING_SECONDS = 0.5  # /healthz is sampled this long at least


class RunBroken(RuntimeError):
    """The run could not measure (a server did not start, a scenario made no requests)."""


@dataclass(frozen=True)
class Config:
    db: str  # "sqlite" or "postgres"
    postgres_url: str
    shape: seed.Shape
    connections: int
    warmup: float
    duration: float
    data_dir: Path
    json_path: Path
    smoke: bool
    only: tuple[str, ...] = ()
    redis_url: str = "redis://127.0.0.1:6379/0"  # the rush hour's; skipped when it is away
    fsync_delay_ms: float = slow_disk.DEFAULT_DELAY_MS  # the slow disk's
    long: bool = False  # also the long scenarios (Scenario.long)
    purge_entries: int = 1_000_000  # expired change log entries the purge scenario starts with


@dataclass
class Databases:
    full: seed.Seeded
    solo: seed.Seeded
    write_ceiling: str | None  # SQLite file of the write ceiling
    copy_seconds: float
    version: str  # of the database engine
    pristine: Path | None = None  # SQLite: the full seed, copied for the scenarios' own servers


def prepare(config: Config) -> Databases:
    """The working databases, fresh from the cached (or newly built) seed."""
    if config.db == "postgres":
        prefix = SMOKE_PREFIX if config.smoke else POSTGRES_PREFIX
        started = time.perf_counter()
        full = seed.prepare_postgres(
            config.postgres_url, config.data_dir, prefix, config.shape, cache=not config.smoke
        )
        solo = seed.prepare_postgres(
            config.postgres_url,
            config.data_dir,
            f"{prefix}_solo",
            config.shape.solo(),
            cache=not config.smoke,
        )
        copies = time.perf_counter() - started - full.seconds - solo.seconds
        version = f"postgres {seed.postgres_version(config.postgres_url)}"
        return Databases(full, solo, None, copies, version)
    pristine, manifest, seconds = seed.pristine_sqlite(config.data_dir, "full", config.shape)
    solo_pristine, solo_manifest, solo_seconds = seed.pristine_sqlite(
        config.data_dir, "solo", config.shape.solo()
    )
    copying = time.perf_counter()
    full = seed.Seeded(
        seed.working_sqlite(pristine, config.data_dir / "work-full.db"),
        manifest,
        seconds,
        cached=seconds == 0.0,
    )
    solo = seed.Seeded(
        seed.working_sqlite(solo_pristine, config.data_dir / "work-solo.db"),
        solo_manifest,
        solo_seconds,
        cached=solo_seconds == 0.0,
    )
    ceiling_db = config.data_dir / "work-write-ceiling.db"
    seed.working_sqlite(pristine, ceiling_db)
    copies = time.perf_counter() - copying
    version = f"sqlite {sqlite3.sqlite_version}"
    return Databases(full, solo, str(ceiling_db), copies, version, pristine)


def _qtable_env(url: str, smoke: bool) -> dict[str, str]:
    env = {
        "QTABLE_DATABASE_URL": url,
        "QTABLE_ENV": "production",
        "QTABLE_JWT_SECRET": secrets.token_urlsafe(36),  # 48 characters
        "QTABLE_SQLITE_SYNCHRONOUS": "FULL",
        "QTABLE_AUTH_MAX_ATTEMPTS_PER_CLIENT": AUTH_LIMIT,
        "QTABLE_AUTH_MAX_FAILURES_PER_EMAIL": AUTH_LIMIT,
    }
    return {**env, **CHEAP_ARGON2} if smoke else env


def _clean_environ() -> None:
    """Servers inherit this process's environment: a QTABLE_* setting left in the shell
    (a log level, a pool size) must not change what is measured."""
    for name in [n for n in os.environ if n.startswith("QTABLE_")]:
        del os.environ[name]


class Bench:
    def __init__(
        self, config: Config, dbs: Databases, stack: ExitStack, results: dict[str, Result]
    ) -> None:
        self.config = config
        self.dbs = dbs
        self.stack = stack
        self.results = results  # measured so far, by scenario
        self.servers: dict[str, Server] = {}
        self.tokens: dict[str, client.Token] = {}
        self.manifests = {QTABLE: dbs.full.manifest, QTABLE_SOLO: dbs.solo.manifest}
        self.loop_name = ""
        self._sync: dict[str, str] | None = None
        self.postgres_version = ""  # of the PostgreSQL a SQLite run starts a QTable on

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # -- servers ---------------------------------------------------------------------------

    def _start(self, name: str, command: list[str], env: dict[str, str], port: int) -> None:
        server = servers.start(
            name, command, env, self.config.data_dir / "logs" / f"{name}.log", port
        )
        self.stack.callback(servers.stop, server)
        self.servers[name] = server

    def start_qtable(
        self,
        name: str,
        url: str,
        manifest: seed.Manifest,
        extra: dict[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> Server:
        """One more QTable process, for one scenario (``retire`` stops it)."""
        port = servers.free_port()
        command = servers.uvicorn_command("app.main:create_app", port)
        self._start(name, command, {**_qtable_env(url, self.config.smoke), **(extra or {})}, port)
        self.manifests[name] = manifest
        if wait:
            servers.wait_ready(self.servers[name])
        return self.servers[name]

    def retire(self, name: str) -> None:
        servers.stop(self.servers.pop(name))
        self.tokens.pop(name, None)

    def fresh_sqlite(self, name: str) -> tuple[Path, str]:
        """A copy of the pristine full seed for one scenario's server: its path and URL."""
        assert self.dbs.pristine is not None  # SQLite runs only
        path = self.config.data_dir / f"work-{name}.db"
        return path, seed.working_sqlite(self.dbs.pristine, path)

    def start_servers(self, needed: set[str]) -> None:
        ports = {name: servers.free_port() for name in (RAW, QTABLE, QTABLE_SOLO, WRITE_CEILING)}
        if RAW in needed:
            command = [sys.executable, "-m", "bench.raw_server", "--port", str(ports[RAW])]
            self._start(RAW, command, {}, ports[RAW])
        for name, url in ((QTABLE, self.dbs.full.url), (QTABLE_SOLO, self.dbs.solo.url)):
            if name in needed:
                command = servers.uvicorn_command("app.main:create_app", ports[name])
                self._start(name, command, _qtable_env(url, self.config.smoke), ports[name])
        if WRITE_CEILING in needed and self.dbs.write_ceiling:
            env = {
                "BENCH_WRITE_DB": self.dbs.write_ceiling,
                "BENCH_RESTAURANT_ID": str(self.dbs.full.manifest.restaurant_id),
                "BENCH_SQLITE_SYNCHRONOUS": "FULL",
            }
            command = servers.uvicorn_command(
                "bench.write_ceiling:create_app", ports[WRITE_CEILING]
            )
            self._start(WRITE_CEILING, command, env, ports[WRITE_CEILING])
        for server in self.servers.values():
            servers.wait_ready(server)

    def start_read_ceiling(self, scenarios: list[Scenario]) -> None:
        """Capture QTable's answer for every scenario the read ceiling mirrors, then start the
        read ceiling serving those bytes."""
        ctx = self.context(QTABLE)
        bodies = {}
        for scenario in scenarios:
            if scenario.serves is None:
                continue
            source = next(s for s in SCENARIOS if s.name == scenario.serves)
            request = source.groups[0].requests(ctx, 0)[0]
            status, body = client.send(
                self.servers[QTABLE].port,
                request.method,
                request.path,
                body=request.body,
                token=self.token(QTABLE).value,
            )
            if status != source.groups[0].expected:
                raise RunBroken(f"capturing '{source.name}': {status} {body[:300]!r}")
            bodies[source.slug] = body.decode("latin-1")
        path = self.config.data_dir / "ceiling-bodies.json"
        path.write_text(json.dumps(bodies))
        port = servers.free_port()
        command = servers.uvicorn_command("bench.ceiling:create_app", port)
        self._start(READ_CEILING, command, {BODIES_ENV: str(path)}, port)
        servers.wait_ready(self.servers[READ_CEILING], "/empty")

    # -- auth ------------------------------------------------------------------------------

    def token(self, server: str) -> client.Token:
        """The measured owner's access token on that QTable server, logged in again when it
        would expire before the next scenario ends (access tokens last 15 minutes)."""
        needed = self.config.warmup + self.config.duration + 60
        token = self.tokens.get(server)
        if token is None or not token.lasts(needed):
            manifest = self.manifests[server]
            token = client.login(self.servers[server].port, manifest.email, manifest.password)
            self.tokens[server] = token
        return token

    def context(self, server: str) -> Context:
        manifest = self.manifests.get(server, self.dbs.full.manifest)
        sync = self.sync_state() if server == QTABLE else {}
        return Context(manifest, self.config.connections, sync)

    def sync_state(self) -> dict[str, str]:
        """The dashboard's current cursor on QTable and the ETag of a delta from it, read
        once, before any scenario writes (reads run first)."""
        if self._sync is None:
            port, token = self.servers[QTABLE].port, self.token(QTABLE).value
            path = "/api/v1/dashboard/data?minimal=true"
            status, body, _ = client.exchange(port, "GET", path, token=token)
            if status != 200:
                raise RunBroken(f"the dashboard answered {status}: {body[:300]!r}")
            cursor = json.loads(body)["cursor"]
            status, body, headers = client.exchange(
                port, "GET", f"{path}&since={cursor}", token=token
            )
            if status != 200 or "etag" not in headers:
                raise RunBroken(f"a dashboard delta answered {status}: {body[:300]!r}")
            self._sync = {"cursor": cursor, "etag": headers["etag"]}
        return self._sync

    # -- measuring -------------------------------------------------------------------------

    def measure_sequence(self, scenario: Scenario) -> Result:
        """The batch scenario (bench.sequence): trials of the same changes as one batch and
        as single requests, alternating."""
        manifest = self.manifests[QTABLE]
        movers = manifest.movers[: self.config.connections]  # the seat scenario's
        avoid_guests = {m[0] for m in movers} | {
            manifest.waiting[-1 - i % len(manifest.waiting)]  # the PATCH scenario's
            for i in range(self.config.connections)
        }
        avoid_tables = {t for m in movers for t in m[1:]}
        trials = 1 if self.config.smoke else 5
        self.log(f"  {scenario.name} ({trials} trials each way, one connection)")
        timings = sequence.run(
            self.servers[QTABLE].port,
            self.token(QTABLE).value,
            avoid_guests,
            avoid_tables,
            trials,
        )
        batch = sequence.summary(timings["batch"])
        singles = sequence.summary(timings["singles"])
        changes = batch["changes"]
        result = Result(
            scenario=scenario.name,
            server=scenario.server,
            description=scenario.description,
            connections={"main": 1},
            groups={"batch": batch, "singles": singles},
            requests=batch["trials"],
            req_s=changes / (batch["p50_ms"] / 1000),
            p50_ms=batch["p50_ms"],
            p99_ms=batch["max_ms"],
            errors=batch["errors"] + singles["errors"],
            error_samples=batch["error_samples"] + singles["error_samples"],
            reference_req_s=changes / (singles["p50_ms"] / 1000),
            ratio=singles["p50_ms"] / batch["p50_ms"],
            target=scenario.target.label if scenario.target else None,
        )
        result.notes.append(
            f"{changes} changes a trial; req/s columns are changes/s; p50 of {batch['trials']} "
            f"trials: batch {batch['p50_ms']:.1f} ms, singles {singles['p50_ms']:.1f} ms; "
            "p99 column: the slowest batch"
        )
        return result

    def measure_rush(self, scenario: Scenario) -> Result:
        """The rush hour (bench.rush): two more QTable processes on the same database,
        sharing Redis and one JWT secret."""
        parsed = urlsplit(self.config.redis_url)
        try:
            socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1).close()
        except OSError:
            return Result.skip(scenario, f"Redis does not answer at {self.config.redis_url}")
        env = {
            **_qtable_env(self.dbs.full.url, self.config.smoke),
            "QTABLE_REDIS_URL": self.config.redis_url,
            "QTABLE_LOG_LEVEL": "WARNING",
        }
        ports = (servers.free_port(), servers.free_port())
        for name, port in zip(("rush-a", "rush-b"), ports, strict=True):
            command = servers.uvicorn_command("app.main:create_app", port)
            self._start(name, command, env, port)
            servers.wait_ready(self.servers[name])
        shape = self.config.shape
        logins = [
            (seed.owner_email(i), seed.PASSWORD if i == 0 else f"bench-password-{i}")
            for i in range(min(10, shape.restaurants))
        ]
        smoke = self.config.smoke
        duration = 3.0 if smoke else 30.0
        self.log(f"  {scenario.name} ({duration:.0f} s, two processes, Redis)")
        try:
            outcome = asyncio.run(
                rush.run(
                    ports,
                    logins,
                    duration=duration,
                    devices=4 if smoke else 20,
                    listeners=6 if smoke else 50,
                )
            )
        finally:
            for name in ("rush-a", "rush-b"):
                servers.stop(self.servers[name])
        endpoints = outcome["endpoints"]
        result = Result(
            scenario=scenario.name,
            server="qtable x2 + redis",
            description=scenario.description,
            connections={"devices": 4 if smoke else 20, "listeners": 6 if smoke else 50},
            groups={name: {**values, "errors": 0} for name, values in endpoints.items()},
            requests=sum(e["requests"] for e in endpoints.values()),
            req_s=sum(e["requests"] for e in endpoints.values()) / duration,
            p50_ms=max((e["p50_ms"] or 0.0) for e in endpoints.values()),
            p99_ms=max((e["p99_ms"] or 0.0) for e in endpoints.values()),
            errors=len(outcome["errors"]) + len(outcome["problems"]),
            error_samples=(outcome["errors"] + outcome["problems"])[:3],
            target=scenario.target.label if scenario.target else None,
        )
        result.notes.append(
            "per endpoint (p50 / p99 ms): "
            + ", ".join(
                f"{name} {e['p50_ms']:.1f} / {e['p99_ms']:.1f} ({e['requests']})"
                for name, e in endpoints.items()
            )
        )
        result.notes.append(
            f"{outcome['writes']} changes written, {outcome['deliveries']} deliveries; "
            f"send-to-delivery p50 {outcome['delivery_p50_ms']:.1f} ms, "
            f"p99 {outcome['delivery_p99_ms']:.1f} ms; "
            f"{len(outcome['problems'])} delivery problems (missing, twice, out of chain, "
            "another restaurant's)"
        )
        return result

    # -- the load generator ------------------------------------------------------------------

    def load_spec(
        self, scenario: Scenario, *, warmup: float, duration: float, until_stdin_closes: bool
    ) -> tuple[Path, dict[str, int]]:
        """The load generator's spec file for ``scenario``, and its connections per group."""
        server = self.servers[scenario.server]
        ctx = self.context(scenario.server)
        cycles = {
            group.name: [group.requests(ctx, i) for i in range(group.connections(ctx))]
            for group in scenario.groups
        }
        token = None
        if any(r.auth for lists in cycles.values() for cycle in lists for r in cycle):
            # Ceilings get the same header bytes as the QTable requests they mirror.
            auth = scenario.server if scenario.server in self.manifests else QTABLE
            token = self.token(auth).value
        host = f"{HOST}:{server.port}"
        groups = [
            {
                "name": group.name,
                "expected": group.expected,
                "pace": group.pace,
                "connections": [
                    [r.encode(host, token).decode("latin-1") for r in cycle]
                    for cycle in cycles[group.name]
                ],
            }
            for group in scenario.groups
        ]
        spec = {
            "host": HOST,
            "port": server.port,
            "warmup": warmup,
            "duration": duration,
            "until_stdin_closes": until_stdin_closes,
            "groups": groups,
        }
        spec_path = self.config.data_dir / "load-spec.json"
        spec_path.write_text(json.dumps(spec))
        connections = {name: len(lists) for name, lists in cycles.items()}
        self.log(f"  {scenario.name} ({', '.join(f'{n} {k}' for k, n in connections.items())})")
        return spec_path, connections

    def load_outcome(
        self, scenario: Scenario, returncode: int, stdout: bytes, stderr: bytes
    ) -> dict[str, Any]:
        """The load generator's answer; RunBroken or ServerFailed when there is none to use."""
        if returncode != 0:
            raise RunBroken(f"the load generator failed:\n{stderr.decode()[-2000:]}")
        outcome: dict[str, Any] = json.loads(stdout)
        self.loop_name = outcome["loop"]
        if outcome["fatal"]:
            raise RunBroken(f"{scenario.name}: {outcome['fatal']}")
        server = self.servers[scenario.server]
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited during '{scenario.name}':\n{server.tail()}")
        return outcome

    def measure_load(self, scenario: Scenario) -> Result:
        """Drive ``scenario`` with the load generator for the run's warm-up and duration."""
        spec_path, connections = self.load_spec(
            scenario,
            warmup=self.config.warmup,
            duration=self.config.duration,
            until_stdin_closes=False,
        )
        done = subprocess.run(
            [sys.executable, "-m", "bench.load", str(spec_path)],
            cwd=ROOT,
            capture_output=True,
            timeout=self.config.warmup + self.config.duration + 120,
            preexec_fn=servers.die_with_parent,
            check=False,
        )
        outcome = self.load_outcome(scenario, done.returncode, done.stdout, done.stderr)
        return Result.measured(
            scenario, connections, outcome["groups"], outcome["client_cpu_percent"]
        )

    # -- scenarios with servers of their own --------------------------------------------------

    def measure_disk(self, scenario: Scenario) -> Result:
        """QTable on a fresh copy of the seed, started for this measurement alone; on the
        slow disk, with every fsync of the process delayed (bench.slow_disk)."""
        delay = self.config.fsync_delay_ms
        extra: dict[str, str] = {}
        if scenario.server == SLOW_DISK:
            try:
                shim = slow_disk.build(
                    Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="qtable-")))
                )
                commit = slow_disk.check(shim, delay)
            except slow_disk.Unavailable as exc:
                return Result.skip(scenario, str(exc))
            extra = slow_disk.environment(shim, delay)
            note = (
                f"every fsync and fdatasync of the server waits {delay:g} ms first (LD_PRELOAD, "
                f"built with {slow_disk.compiler()}); a SQLite commit so: {commit:.1f} ms"
            )
        else:
            try:
                note = f"a SQLite commit on this disk: {slow_disk.commit_ms({}):.2f} ms"
            except slow_disk.Unavailable as exc:
                note = str(exc)
        _, url = self.fresh_sqlite("disk")
        self.start_qtable(scenario.server, url, self.dbs.full.manifest, extra)
        try:
            result = self.measure_load(scenario)
        finally:
            self.retire(scenario.server)
        result.notes.append(
            f"{note}; synchronous=FULL; samplers: one connection each, a request every "
            f"{scenario.groups[0].pace * 1000:g} ms"
        )
        return result

    def measure_purge(self, scenario: Scenario) -> Result:
        """QTable starting on a copy of the seed with expired change log entries: it purges
        them at once. /healthz is sampled from its first answer until a reader of the file
        sees no expired entry left; then the event loop lag histogram is read."""
        entries = self.config.purge_entries
        retention = purge.retention_days()
        path, url = self.fresh_sqlite("purge")
        self.log(f"  {scenario.name}: adding {entries:,} expired change log entries")
        expired = purge.add_expired(path, entries, retention)
        watch = purge.Watch(path, expired)
        watch.start()
        server = self.start_qtable(PURGING, url, self.dbs.full.manifest, wait=False)
        started = time.monotonic()
        try:
            servers.wait_ready(server)
            ready = time.monotonic()
            spec_path, connections = self.load_spec(
                scenario, warmup=0.0, duration=PURGE_LIMIT_SECONDS, until_stdin_closes=True
            )
            sampler = subprocess.Popen(
                [sys.executable, "-m", "bench.load", str(spec_path)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=servers.die_with_parent,
            )
            try:
                deadline = started + PURGE_LIMIT_SECONDS
                while not watch.done.wait(0.2) and time.monotonic() < deadline:
                    if server.process.poll() is not None:
                        break
                time.sleep(max(0.0, ready + PURGE_MIN_SAMPLING_SECONDS - time.monotonic()))
            finally:
                # Closes the sampler's standard input: its measured window ends.
                stdout, stderr = sampler.communicate(timeout=STOP_GRACE_SECONDS + 60)
            outcome = self.load_outcome(scenario, sampler.returncode, stdout, stderr)
            status, metrics = client.send(server.port, "GET", "/metrics")
            if status != 200:
                raise RunBroken(f"/metrics answered {status}: {metrics[:300]!r}")
        finally:
            watch.stop()
            self.retire(PURGING)
        result = Result.measured(
            scenario, connections, outcome["groups"], outcome["client_cpu_percent"]
        )
        result.notes += purge_notes(expired, watch, retention, started, ready, metrics)
        result.notes.append(
            f"/healthz every {PURGE_SAMPLE_EVERY * 1000:g} ms from the server's first answer "
            f"until the purge was done: {result.requests} answers, the slowest "
            f"{result.max_ms or 0.0:.2f} ms (the target's measure; the p99 column is the p99)"
        )
        if watch.ended is None:
            result.errors += 1
            result.error_samples.append(
                watch.error or f"expired entries were left after {PURGE_LIMIT_SECONDS:.0f} s"
            )
        elif watch.left != expired.kept:
            result.errors += 1
            result.error_samples.append(
                f"{watch.left:,} entries left, not the {expired.kept:,} unexpired ones"
            )
        return result

    def start_postgres(self) -> str | None:
        """The QTable on PostgreSQL: in a PostgreSQL run the main one; in a SQLite run one
        started on the seed's PostgreSQL database (seeded the first time, then re-created
        from its template). Why it cannot run, or None."""
        if QTABLE_PG in self.servers:
            return None
        if self.config.db == "postgres":
            self.servers[QTABLE_PG] = self.servers[QTABLE]
            self.manifests[QTABLE_PG] = self.manifests[QTABLE]
            return None
        url = make_url(self.config.postgres_url)
        host, port = url.host or HOST, url.port or 5432
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return f"PostgreSQL does not answer at {host}:{port}"
        prefix = SMOKE_PREFIX if self.config.smoke else POSTGRES_PREFIX
        if self.config.smoke:
            names = [prefix, f"{prefix}_seed"]
            self.stack.callback(seed.drop_postgres, self.config.postgres_url, names)
        self.log(f"  preparing PostgreSQL database {prefix} (seeded once, then from a template)")
        try:
            seeded = seed.prepare_postgres(
                self.config.postgres_url,
                self.config.data_dir,
                prefix,
                self.config.shape,
                cache=not self.config.smoke,
            )
            self.postgres_version = seed.postgres_version(self.config.postgres_url)
        except Exception as exc:  # an unreachable or refusing server: the scenario is skipped
            return f"PostgreSQL could not be prepared: {type(exc).__name__}: {exc}"
        self.start_qtable(QTABLE_PG, seeded.url, seeded.manifest)
        return None

    def measure(self, scenario: Scenario) -> Result:
        if scenario.shares:
            first = self.results[scenario.shares]
            if first.skipped:
                return Result.skip(scenario, first.skipped)
            return Result.measured(
                scenario, first.connections, first.groups, first.client_cpu_percent or 0.0
            )
        if scenario.sequence == "rush":
            return self.measure_rush(scenario)
        if scenario.sequence == "purge":
            return self.measure_purge(scenario)
        if scenario.sequence:
            return self.measure_sequence(scenario)
        if scenario.server in (NORMAL_DISK, SLOW_DISK):
            return self.measure_disk(scenario)
        if scenario.server == QTABLE_PG:
            why = self.start_postgres()
            if why:
                return Result.skip(scenario, why)
            result = self.measure_load(scenario)
            if self.config.db != "postgres":
                result.notes.append(f"a QTable of its own on postgres {self.postgres_version}")
            return result
        return self.measure_load(scenario)


def purge_notes(
    expired: purge.Expired,
    watch: purge.Watch,
    retention: int,
    started: float,
    ready: float,
    metrics: bytes,
) -> list[str]:
    """What the purge scenario saw, besides /healthz's numbers."""
    notes = [
        f"{expired.entries:,} expired entries over {expired.restaurants} restaurants, "
        f"{retention + 1} to {retention + purge.SPREAD_DAYS} days old (retention {retention} "
        f"days), added in {expired.seconds:.1f} s beside {expired.kept:,} unexpired ones"
    ]
    if watch.began is not None and watch.ended is not None:
        answered = (
            f"{watch.ended - ready:.1f} s after its first answer"
            if watch.ended >= ready
            else "before its first answer"
        )
        notes.append(
            f"the purge took {watch.ended - watch.began:.1f} s (from its first chunk's commit "
            f"to no expired entry left, seen by a read-only reader every "
            f"{watch.every * 1000:.0f} ms); done {watch.ended - started:.1f} s after the "
            f"server was started, {answered}; {watch.left:,} entries left"
        )
    try:
        lag = purge.loop_lag(metrics.decode())
    except ValueError as exc:
        notes.append(str(exc))
    else:
        low, high = (bound * 1000 for bound in lag.worst)
        notes.append(
            f"{purge.HISTOGRAM} over the server's life: {lag.observations} observations, "
            f"{lag.over} over {lag.limit * 1000:.0f} ms, the longest in ({low:g}, {high:g}] ms"
        )
    return notes


def selected(config: Config) -> list[Scenario]:
    """The scenarios of ``--only`` (all without it), with every row of their measurements."""
    family = {s.shares or s.name for s in SCENARIOS if s.name in config.only}
    chosen = [s for s in SCENARIOS if not config.only or (s.shares or s.name) in family]
    unknown = set(config.only) - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return chosen


def metadata(config: Config, dbs: Databases, loop_name: str) -> dict[str, Any]:
    import fastapi
    import sqlalchemy
    import uvicorn

    def version(module: str) -> str | None:
        try:
            return str(__import__(module).__version__)
        except (ImportError, AttributeError):
            return None

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=False
    )
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "db": config.db,
        "smoke": config.smoke,
        "connections": config.connections,
        "warmup_s": config.warmup,
        "duration_s": config.duration,
        "load_generator": f"asyncio Protocol client, one process, {loop_name or 'not run'}",
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "fastapi": fastapi.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "database": dbs.version,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "commit": commit.stdout.decode().strip() or None,
        "shape": dict(config.shape.__dict__),
        "seed_seconds": dbs.full.seconds + dbs.solo.seconds,
        "seed_cached": dbs.full.cached and dbs.solo.cached,
        "working_copy_seconds": dbs.copy_seconds,
        "rows": dbs.full.manifest.rows,
        "auth_limits": AUTH_LIMITS_NOTE,
        "fsync_delay_ms": config.fsync_delay_ms,
        "purge_entries": config.purge_entries,
    }


def parameters(meta: dict[str, Any]) -> str:
    seeding = (
        "cached seed reused" if meta["seed_cached"] else f"seeded in {meta['seed_seconds']:.1f} s"
    )
    rows = ", ".join(f"{k} {v}" for k, v in meta["rows"].items())
    return "\n".join(
        [
            f"- db: {meta['db']} ({seeding}; "
            f"working copies in {meta['working_copy_seconds']:.1f} s)",
            f"- rows: {rows}",
            f"- connections: {meta['connections']}, warm-up {meta['warmup_s']} s, "
            f"measured {meta['duration_s']} s per scenario",
            f"- load generator: {meta['load_generator']}",
            f"- python {meta['python']}, uvicorn {meta['uvicorn']} (uvloop {meta['uvloop']}, "
            f"httptools {meta['httptools']}), fastapi {meta['fastapi']}, "
            f"sqlalchemy {meta['sqlalchemy']}, {meta['database']}, {meta['cpus']} CPUs",
            f"- {meta['auth_limits']}",
            f"- slow disk: every fsync of its server delayed {meta['fsync_delay_ms']:g} ms; "
            f"change log purge: {meta['purge_entries']:,} expired entries",
        ]
    )


def measure_all(
    config: Config, dbs: Databases, scenarios: list[Scenario]
) -> tuple[dict[str, Result], str | None, str]:
    """Start the servers, measure each scenario in order, stop the servers. Returns the
    results, why the run broke (None if it did not) and the load generator's event loop."""
    results: dict[str, Result] = {}
    with ExitStack() as stack:
        bench = Bench(config, dbs, stack, results)
        try:
            print("Starting servers...", file=sys.stderr, flush=True)
            # QTable always runs: every other server is sent its token's header bytes, and
            # the read ceiling serves answers captured from it.
            bench.start_servers({QTABLE} | {s.server for s in scenarios})
            if any(s.server == READ_CEILING for s in scenarios):
                bench.start_read_ceiling(scenarios)
            print("Measuring:", file=sys.stderr, flush=True)
            for scenario in scenarios:
                result = bench.measure(scenario)
                results[scenario.name] = result
                idle = [name for name, group in result.groups.items() if not group["requests"]]
                if idle:
                    raise RunBroken(
                        f"'{scenario.name}' made no requests ({', '.join(idle)}): "
                        f"{result.error_samples}"
                    )
        except (RunBroken, ServerFailed, client.RequestFailed) as exc:
            return results, str(exc), bench.loop_name
        except subprocess.TimeoutExpired as exc:
            return results, f"the load generator did not finish: {exc}", bench.loop_name
    return results, None, bench.loop_name


def run(config: Config) -> int:
    """Measure every selected scenario; 0 unless the run itself broke."""
    started = time.monotonic()
    _clean_environ()
    chosen = selected(config)
    # Long scenarios run in smoke runs, with --long, or when --only names them.
    skipped_long = {
        s.name
        for s in chosen
        if s.long and not (config.smoke or config.long or s.name in config.only)
    }
    scenarios = [s for s in chosen if config.db in s.backends and s.name not in skipped_long]
    if config.smoke:
        from app.core.security import configure_password_hashing

        configure_password_hashing(time_cost=1, memory_kib=64)
    print(f"Seeding ({config.db})...", file=sys.stderr, flush=True)
    dbs = prepare(config)
    try:
        limit = max_connections(dbs.full.manifest)
        if config.connections > limit or config.connections < 2:
            raise SystemExit(
                f"--connections must be between 2 and {limit} (the seat scenario's movers)"
            )
        results, broken, loop_name = measure_all(config, dbs, scenarios)
    finally:
        if config.smoke and config.db == "postgres":
            # A smoke run leaves nothing behind; full runs keep their seed for the next run.
            names = [
                f"{n}{s}" for n in (SMOKE_PREFIX, f"{SMOKE_PREFIX}_solo") for s in ("", "_seed")
            ]
            seed.drop_postgres(config.postgres_url, names)
    for s in chosen:
        if config.db not in s.backends:
            results[s.name] = Result.skip(s, f"{s.server} runs on {'/'.join(s.backends)} only")
        elif s.name in skipped_long:
            results[s.name] = Result.skip(s, f"long ({s.long}): run with --long")
    ordered = [results[s.name] for s in chosen if s.name in results]
    for scenario in chosen:
        if scenario.name in results and results[scenario.name].skipped is None:
            report.compare(scenario, results[scenario.name], results)
    meta = metadata(config, dbs, loop_name)
    meta["total_seconds"] = time.monotonic() - started
    meta["broken"] = broken
    print(f"## QTable benchmark ({config.db})\n")
    print(parameters(meta) + f"\n- total wall time: {meta['total_seconds']:.0f} s\n")
    print(report.table(ordered))
    report.write_json(config.json_path, meta, ordered)
    print(f"\nJSON: {config.json_path}")
    if broken:
        print(f"\nThe run broke: {broken}", file=sys.stderr)
        return 1
    return 0
