"""Seeded databases: many restaurants, one of them measured, built with QTable's own code.

The measured restaurant (the first) is built the way the API builds one: its owner as
``app.seed`` makes the demo owner, then every table, active guest, seating, status change and
reservation through the service functions, in write units of work bound to its scope.

The other restaurants have the same shape, so that the measured one is one tenant among many
and every query has to find its rows through an index. Building each of them through the
services too would cost about 1.3 s a restaurant on a 2-core machine (four minutes for 199,
before a single request is measured), so each is a copy of the measured restaurant's rows
(the same values the services wrote, its own ids and references) inserted as model rows in a
write unit of work bound to its own scope: the tenancy guard checks those inserts like any
other write. Seating and status changes reach the copies as UPDATEs through the models, which
bump each row's version once, as the services' updates did.

History (completed guests) is too much for one service call a row anywhere: it is inserted as
model rows in scoped units of work, a few days at a time, restaurant after restaurant, so that
as in real traffic one restaurant's rows are spread among everyone else's. Active guests
arrive in rounds for the same reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import random
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config
from sqlalchemy import case, insert, literal, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import command
from app.core.config import Settings
from app.core.security import hash_password, hash_password_cheaply
from app.db.base import TenantMixin
from app.db.engine import create_engine
from app.db.repository import columns_of
from app.db.session import Database, UnitOfWork
from app.db.tenancy import RestaurantScope, _make_scope, bind_scope
from app.guests import service as guests
from app.guests.schemas import GuestCreate, GuestUpdate
from app.models import DiningTable, Guest, Reservation, Restaurant, User
from app.reservations import service as reservations
from app.reservations.schemas import ReservationCreate
from app.restaurants.schemas import WEEKDAYS
from app.tables import service as tables
from app.tables.schemas import TableCreate

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-owner-password"  # the measured owner's; a local benchmark login
RANDOM_SEED = 20_261_127
CAPACITIES = (2, 4, 4, 6, 8)  # every table seats two, so any mover fits any free table
SECTIONS = ("Window", "Main", "Terrace", "Bar")
TIMEZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney")
HOURS = [["11:30", "14:30"], ["17:00", "23:00"]]
NAMES = (
    "Martin", "Okafor", "Lindqvist", "Haddad", "Rossi", "Nakamura", "Dubois", "Silva",
    "Kowalski", "Nguyen", "Schmidt", "Garcia", "Ivanova", "Mensah", "Cohen", "Park",
)  # fmt: skip
M = TypeVar("M", bound=TenantMixin)
# The ORM's bulk INSERT leaves out null values, and starts a new statement whenever the set of
# columns changes from one row to the next; rendering the nulls keeps one executemany.
BULK = {"render_nulls": True}


@dataclass(frozen=True)
class Shape:
    """What each restaurant holds; every restaurant has the same shape."""

    restaurants: int
    tables: int
    active_guests: int  # waiting, notified or seated
    seated: int  # the oldest arrivals, at the first tables
    notified: int
    completed: int  # history, spread over the past days
    reservations: int  # in the coming days
    history_days: int
    history_chunks: int  # history is written this many times, each time for every restaurant
    arrival_rounds: int  # active guests arrive in this many rounds, interleaved likewise

    @property
    def movers(self) -> int:
        """Seated guests that each own two free tables: the most connections the seat
        scenario can drive with every request a real move."""
        return min(self.seated, (self.tables - self.seated) // 2)

    def solo(self) -> Shape:
        """The same measured restaurant alone in its database (the growth comparison)."""
        return replace(self, restaurants=1)


FULL = Shape(
    restaurants=200,
    tables=150,
    active_guests=600,
    seated=100,
    notified=150,
    completed=5000,
    reservations=300,
    history_days=60,
    history_chunks=10,
    arrival_rounds=6,
)
SMOKE = Shape(
    restaurants=3,
    tables=20,
    active_guests=60,
    seated=8,
    notified=10,
    completed=100,
    reservations=20,
    history_days=5,
    history_chunks=2,
    arrival_rounds=2,
)


@dataclass(frozen=True)
class Manifest:
    """What the scenarios need to know about the measured restaurant's rows."""

    restaurant_id: int
    email: str
    password: str
    tables: list[int]
    waiting: list[int]  # waiting or notified guests
    movers: list[list[int]]  # [seated guest, free table, free table], one per connection
    rows: dict[str, int] = field(default_factory=dict)  # rows of the whole database

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class Owner:
    restaurant_id: int
    user_id: int


@dataclass(frozen=True)
class Seeded:
    """A working database ready for a server, and how it came to be."""

    url: str
    manifest: Manifest
    seconds: float  # spent seeding in this run (0 when the cached seed was used)
    cached: bool


# ----- building the rows ---------------------------------------------------------------------


@asynccontextmanager
async def _scoped(
    db: Database, owner: Owner, *, write: bool = True
) -> AsyncIterator[tuple[UnitOfWork, RestaurantScope]]:
    """A unit of work bound to the owner's restaurant, as a request's would be; committed
    when the block succeeds."""
    uow = UnitOfWork(db, write=write)
    scope = _make_scope(owner.restaurant_id, owner.user_id, "owner")
    bind_scope(uow.session.sync_session, scope)
    try:
        yield uow, scope
        await uow.commit()
    finally:
        await uow.close()


async def _create_owners(db: Database, shape: Shape) -> list[Owner]:
    """Restaurants and their owners, as ``app.seed`` creates the demo's. The measured owner's
    password is hashed with the configured argon2 cost (the bench logs in with it); the
    others never log in, so theirs are hashed at argon2's lowest cost, one hash each."""
    measured_hash = await hash_password(PASSWORD)
    uow = UnitOfWork(db, write=True)
    try:
        session = uow.session
        restaurants = [
            Restaurant(
                name=f"Bench Bistro {i:03d}",
                timezone=TIMEZONES[i % len(TIMEZONES)],
                service_hours={day: HOURS for day in WEEKDAYS},
            )
            for i in range(shape.restaurants)
        ]
        session.add_all(restaurants)
        await session.flush()
        users = [
            User(
                restaurant_id=restaurant.id,
                email=owner_email(i),
                password_hash=(
                    measured_hash if i == 0 else hash_password_cheaply(f"bench-password-{i}")
                ),
                full_name=f"Owner {i:03d}",
                role="owner",
            )
            for i, restaurant in enumerate(restaurants)
        ]
        session.add_all(users)
        await session.flush()
        await uow.commit()
        return [Owner(u.restaurant_id, u.id) for u in users]
    finally:
        await uow.close()


def owner_email(index: int) -> str:
    return f"owner-{index:03d}@bench.qtable.dev"


async def _read(db: Database, owner: Owner, model: type[M], ids: Sequence[int]) -> list[dict]:
    """Every column of these rows, as the services left them."""
    async with _scoped(db, owner, write=False) as (uow, _):
        result = await uow.session.execute(
            select(*columns_of(model)).where(model.id.in_(ids)).order_by(model.id)  # type: ignore[attr-defined]
        )
        return [dict(row) for row in result.mappings()]


async def _copy(
    db: Database,
    owner: Owner,
    model: type[M],
    rows: Sequence[dict],
    remap: dict[str, dict[int, int]] | None = None,
) -> dict[int, int]:
    """Insert copies of another restaurant's rows into the owner's (with references to its own
    rows through ``remap``: column -> template id -> copy id). Returns template id -> copy id."""
    remap = remap or {}
    values = []
    for row in rows:
        copy = {k: v for k, v in row.items() if k != "id"}
        copy["restaurant_id"] = owner.restaurant_id
        for column, ids in remap.items():
            if copy[column] is not None:
                copy[column] = ids[copy[column]]
        values.append(copy)
    key: Any = model.id  # type: ignore[attr-defined]
    async with _scoped(db, owner) as (uow, _):
        await uow.session.execute(insert(model).execution_options(**BULK), values)
        # RETURNING in parameter order would send one INSERT a row. Nothing else writes while
        # seeding, so the rows just inserted are this restaurant's last ones, in id order.
        new_ids = await uow.session.scalars(
            select(key)
            .where(model.restaurant_id == owner.restaurant_id)
            .order_by(key.desc())
            .limit(len(values))
        )
    return {row["id"]: new_id for row, new_id in zip(rows, reversed(new_ids.all()), strict=True)}


async def _follow(
    db: Database,
    owner: Owner,
    seated: Sequence[dict],
    notified: Sequence[dict],
    guest_ids: dict[int, int],
    table_ids: dict[int, int],
) -> None:
    """Seat a copy's guests at the copy's tables and notify the others as the template's were
    (``seated``, ``notified``: the template's rows after the services' updates). Three UPDATEs
    through the models, each bumping every row's version once, as the services' did."""
    now = datetime.now(UTC)
    at = {guest_ids[r["id"]]: table_ids[r["table_id"]] for r in seated}
    since = {guest_ids[r["id"]]: literal(r["seated_at"], Guest.seated_at.type) for r in seated}
    async with _scoped(db, owner) as (uow, _):
        session = uow.session
        await session.execute(
            update(Guest)
            .where(Guest.restaurant_id == owner.restaurant_id, Guest.id.in_(list(at)))
            .values(
                status="seated",
                table_id=case(at, value=Guest.id),
                seated_at=case(since, value=Guest.id),
                version=Guest.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(DiningTable)
            .where(
                DiningTable.restaurant_id == owner.restaurant_id,
                DiningTable.id.in_(list(at.values())),
            )
            .values(
                status="occupied",
                current_guest_id=case({t: g for g, t in at.items()}, value=DiningTable.id),
                version=DiningTable.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Guest)
            .where(
                Guest.restaurant_id == owner.restaurant_id,
                Guest.id.in_([guest_ids[r["id"]] for r in notified]),
            )
            .values(status="notified", version=Guest.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _split(total: int, parts: int) -> list[range]:
    """``range(total)`` cut into ``parts`` consecutive, nearly equal ranges."""
    bounds = [total * i // parts for i in range(parts + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def _phone(rng: random.Random) -> str | None:
    return f"+3361{rng.randrange(10**7):07d}" if rng.random() < 0.6 else None


def _history_rows(
    owner: Owner, days: Sequence[tuple[int, int]], now: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    """Completed parties of past days (days ago, how many): arrived, seated after a wait, gone
    after their meal. Three versions each (created, seated, completed), as the services would
    leave them."""
    rows: list[dict[str, Any]] = []
    for day, count in days:
        midnight = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(count):
            arrived = midnight + timedelta(minutes=rng.randrange(11 * 60, 22 * 60))
            seated = arrived + timedelta(minutes=rng.randrange(0, 45))
            completed = seated + timedelta(minutes=rng.randrange(45, 150))
            rows.append(
                {
                    "restaurant_id": owner.restaurant_id,
                    "name": rng.choice(NAMES),
                    "phone": _phone(rng),
                    "party_size": rng.choice((1, 2, 2, 2, 3, 4, 4, 5, 6, 8)),
                    "status": "completed",
                    "table_id": None,
                    "quoted_wait_minutes": rng.choice((None, 10, 15, 20, 30)),
                    "notes": None,
                    "reservation_id": None,
                    "arrived_at": arrived,
                    "seated_at": seated,
                    "completed_at": completed,
                    "version": 3,
                    "created_at": arrived,
                    "updated_at": completed,
                }
            )
    rows.sort(key=lambda row: row["arrived_at"])
    return rows


async def _seed_history(db: Database, shape: Shape, owners: list[Owner], now: datetime) -> None:
    # (days ago, parties that day), oldest first; each chunk of days for every restaurant in turn.
    days = [
        (shape.history_days - i, len(share))
        for i, share in enumerate(_split(shape.completed, shape.history_days))
    ]
    for chunk in _split(len(days), shape.history_chunks):
        for owner in owners:
            rng = random.Random(RANDOM_SEED + owner.restaurant_id * 7919 + chunk.start)
            rows = _history_rows(owner, days[chunk.start : chunk.stop], now, rng)
            async with _scoped(db, owner) as (uow, _):
                await uow.session.execute(insert(Guest).execution_options(**BULK), rows)


async def build(db: Database, shape: Shape) -> Manifest:
    """Create every restaurant of ``shape`` in an empty, migrated database."""
    rng = random.Random(RANDOM_SEED)
    now = datetime.now(UTC)
    owners = await _create_owners(db, shape)
    measured, others = owners[0], owners[1:]

    # The floor: the measured restaurant's through the service, the others copied.
    capacities = [CAPACITIES[k % len(CAPACITIES)] for k in range(shape.tables)]
    async with _scoped(db, measured) as (uow, scope):
        table_ids = [
            (
                await tables.create_table(
                    uow,
                    scope,
                    TableCreate(
                        table_number=str(k + 1),
                        capacity=capacities[k],
                        section=SECTIONS[k % len(SECTIONS)],
                        pos_x=float(k % 15 * 60),
                        pos_y=float(k // 15 * 60),
                    ),
                )
            ).id
            for k in range(shape.tables)
        ]
    template_tables = await _read(db, measured, DiningTable, table_ids)
    table_maps = {o: await _copy(db, o, DiningTable, template_tables) for o in others}

    await _seed_history(db, shape, owners, now)

    # Tonight's waitlist, in rounds. The oldest arrivals get seated below; the movers' parties
    # are of two so that either of their free tables fits them.
    guest_ids: list[int] = []
    guest_maps: dict[Owner, dict[int, int]] = {o: {} for o in others}
    for arrivals in _split(shape.active_guests, shape.arrival_rounds):
        async with _scoped(db, measured) as (uow, scope):
            for k in arrivals:
                if k < shape.movers:
                    size = 2
                elif k < shape.seated:
                    size = rng.randint(1, capacities[k])
                else:
                    size = rng.choice((1, 2, 2, 3, 4, 4, 5, 6, 8))
                guest = await guests.create_guest(
                    uow,
                    scope,
                    GuestCreate(
                        name=rng.choice(NAMES),
                        party_size=size,
                        phone=_phone(rng),
                        quoted_wait_minutes=rng.choice((None, 5, 10, 15, 20, 30, 45)),
                        notes=rng.choice((None, None, None, "High chair", "Birthday")),
                    ),
                )
                guest_ids.append(guest.id)
        template = await _read(db, measured, Guest, guest_ids[arrivals.start :])
        for owner in others:
            guest_maps[owner].update(await _copy(db, owner, Guest, template))

    # Seating and the notified part of the waitlist, through the service.
    seated = range(shape.seated)
    notified = range(shape.seated, shape.seated + shape.notified)
    async with _scoped(db, measured) as (uow, scope):
        for k in seated:
            await guests.seat_guest(uow, scope, guest_ids[k], table_ids[k])
        for k in notified:
            await guests.update_guest(uow, scope, guest_ids[k], GuestUpdate(status="notified"))
    now_seated = await _read(db, measured, Guest, [guest_ids[k] for k in seated])
    now_notified = await _read(db, measured, Guest, [guest_ids[k] for k in notified])
    for owner in others:
        await _follow(db, owner, now_seated, now_notified, guest_maps[owner], table_maps[owner])

    # The coming days' bookings: at most one per table a day, so none overlaps.
    per_day = min(50, shape.tables)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    reservation_ids = []
    async with _scoped(db, measured) as (uow, scope):
        for i in range(shape.reservations):
            starts = tomorrow + timedelta(days=i // per_day, hours=18, minutes=15 * (i % 12))
            reservation = await reservations.create_reservation(
                uow,
                scope,
                ReservationCreate(
                    guest_name=rng.choice(NAMES),
                    party_size=2,
                    starts_at=starts,
                    table_id=table_ids[i % per_day] if i % 4 else None,
                    phone=_phone(rng),
                ),
            )
            reservation_ids.append(reservation.id)
    template_bookings = await _read(db, measured, Reservation, reservation_ids)
    for owner in others:
        await _copy(db, owner, Reservation, template_bookings, {"table_id": table_maps[owner]})

    return Manifest(
        restaurant_id=measured.restaurant_id,
        email=owner_email(0),
        password=PASSWORD,
        tables=table_ids,
        waiting=[guest_ids[k] for k in range(shape.seated, shape.active_guests)],
        movers=[
            [guest_ids[c], table_ids[shape.seated + 2 * c], table_ids[shape.seated + 2 * c + 1]]
            for c in range(shape.movers)
        ],
        rows=await _count_rows(db),
    )


async def _count_rows(db: Database) -> dict[str, int]:
    # An engine connection is outside every session: the audited door for unscoped reads.
    async with db.engine.connect() as conn:
        return {
            name: int((await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one())  # noqa: S608
            for name in ("restaurants", "users", "dining_tables", "guests", "reservations")
        }


# ----- databases, migrated and cached ------------------------------------------------------


def migrate(url: str) -> None:
    """``app.dev.migrate`` without alembic's logging set-up (it would reconfigure this
    process's loggers and print every revision)."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def cache_key(shape: Shape, backend: str) -> str:
    """Changes whenever the seed would: its parameters, the schema's revisions, this file."""
    digest = hashlib.sha256(json.dumps([backend, asdict(shape)]).encode())
    for path in sorted((ROOT / "alembic" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _seed_into(url: str, shape: Shape) -> Manifest:
    migrate(url)
    # Seeding needs no power-loss durability: the file is checked and renamed when complete.
    settings = Settings(database_url=url, env="test", sqlite_synchronous="NORMAL")

    async def run() -> Manifest:
        db = Database(create_engine(settings))
        try:
            manifest = await build(db, shape)
            if settings.is_sqlite:
                async with db.engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return manifest
        finally:
            await db.dispose()

    return asyncio.run(run())


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite+qtable:///{path}"


def pristine_sqlite(data_dir: Path, name: str, shape: Shape) -> tuple[Path, Manifest, float]:
    """The seeded file for ``shape``, built unless a file with the same key exists.
    Returns its path, manifest and the seconds spent seeding now (0 when cached)."""
    key = cache_key(shape, "sqlite")
    pristine = data_dir / f"seed-{name}-{key}.db"
    manifest_path = data_dir / f"seed-{name}-{key}.json"
    if pristine.exists() and manifest_path.exists():
        return pristine, Manifest.load(manifest_path), 0.0
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*data_dir.glob(f"seed-{name}-*"), *data_dir.glob(f"building-{name}-*")]:
        stale.unlink()
    building = data_dir / f"building-{name}-{key}.db"
    _remove_sqlite(building)
    started = time.perf_counter()
    manifest = _seed_into(sqlite_url(building), shape)
    seconds = time.perf_counter() - started
    _remove_sqlite(Path(f"{building}-wal"))
    os.replace(building, pristine)
    manifest.dump(manifest_path)
    return pristine, manifest, seconds


def working_sqlite(pristine: Path, target: Path) -> str:
    """A fresh copy of the pristine file: every run starts from the same rows. Written to disk
    before it returns, so the kernel is not still flushing it during the first scenarios."""
    _remove_sqlite(target)
    shutil.copyfile(pristine, target)
    with target.open("rb+") as copy:
        os.fsync(copy.fileno())
    return sqlite_url(target)


# PostgreSQL: the seed lives in a template database marked with its key; the working database
# is re-created from it each run (a file copy, seconds), as the SQLite file is copied.


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _admin(url: str) -> Iterator[Callable[[str], Any]]:
    """Run statements (CREATE/DROP DATABASE…) in autocommit on the server of ``url``."""
    loop = asyncio.new_event_loop()
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")

    def run(sql: str) -> Any:
        async def go() -> Any:
            async with engine.connect() as conn:
                result = await conn.execute(text(sql))
                return result.scalar() if result.returns_rows else None

        return loop.run_until_complete(go())

    try:
        yield run
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def postgres_version(admin_url: str) -> str:
    with _admin(admin_url) as admin:
        return str(admin("SHOW server_version"))


def drop_postgres(admin_url: str, names: Sequence[str]) -> None:
    with _admin(admin_url) as admin:
        for name in names:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare_postgres(
    admin_url: str, data_dir: Path, name: str, shape: Shape, *, cache: bool = True
) -> Seeded:
    """``name`` re-created from the template ``<name>_seed``, which is seeded first unless it
    carries this seed's key (and ``cache``)."""
    key = cache_key(shape, "postgres")
    marker = f"qtable bench seed {key}"
    template = f"{name}_seed"
    manifest_path = data_dir / f"seed-{name}-postgres-{key}.json"
    seconds = 0.0
    with _admin(admin_url) as admin:
        current = admin(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "  # noqa: S608
            f"WHERE datname = '{template}'"  # the bench's own fixed name
        )
        if not (cache and current == marker and manifest_path.exists()):
            admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            admin(f'CREATE DATABASE "{template}"')
            started = time.perf_counter()
            manifest = _seed_into(_with_database(admin_url, template), shape)
            with _admin(_with_database(admin_url, template)) as seeded:
                # What autovacuum would do within minutes of such a load, done now so that it
                # does not run during a measurement, and copies inherit set hint bits.
                seeded("VACUUM ANALYZE")
            seconds = time.perf_counter() - started
            data_dir.mkdir(parents=True, exist_ok=True)
            for stale in data_dir.glob(f"seed-{name}-postgres-*"):
                stale.unlink()
            manifest.dump(manifest_path)
            admin(f"COMMENT ON DATABASE \"{template}\" IS '{marker}'")
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return Seeded(
        _with_database(admin_url, name), Manifest.load(manifest_path), seconds, seconds == 0.0
    )
