"""The Alembic migrations build exactly the schema app.models describes, and undo it cleanly.

When a model changes without a migration (or the other way round), ``test_head_matches_models``
fails and lists what ``alembic revision --autogenerate`` would write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, Integer, MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.base import UTCDateTime
from app.models import Base
from tests.fixtures.database import (
    PostgresDatabase,
    alembic_config,
    downgrade,
    migrate,
    postgres_admin_url,
    schema_diff,
    sqlite_url,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, not even alembic_version."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "empty.db")
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("PostgreSQL tests need QTABLE_TEST_POSTGRES_URL")
    database = PostgresDatabase(admin_url, revision=None)
    try:
        yield database.url
    finally:
        database.drop()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def test_head_matches_models(empty_database_url: str) -> None:
    assert await table_names(empty_database_url) == set()
    migrate(empty_database_url)
    assert await current_revision(empty_database_url) == head_revision(empty_database_url)
    assert await schema_diff(empty_database_url) == []


async def test_downgrade_base_then_upgrade_head(empty_database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    migrate(empty_database_url)
    assert await table_names(empty_database_url) == model_tables | {"alembic_version"}

    downgrade(empty_database_url, "base")
    assert await table_names(empty_database_url) <= {"alembic_version"}
    assert await current_revision(empty_database_url) is None

    migrate(empty_database_url)
    assert await table_names(empty_database_url) == model_tables | {"alembic_version"}
    assert await schema_diff(empty_database_url) == []


async def test_diff_reports_a_column_no_migration_adds(empty_database_url: str) -> None:
    """The check bites: a model column without a migration shows up in the diff."""
    migrate(empty_database_url)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["guests"].append_column(Column("loyalty_points", Integer, nullable=True))

    diff = await schema_diff(empty_database_url, drifted)

    assert [(op[0], op[2], op[3].name) for op in diff] == [
        ("add_column", "guests", "loyalty_points")
    ]


async def test_diff_reports_a_table_no_model_declares(empty_database_url: str) -> None:
    """The other direction: a migrated table missing from the models shows up too."""
    migrate(empty_database_url)
    shrunk = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        if table.name != "refresh_tokens":
            table.to_metadata(shrunk)

    diff = await schema_diff(empty_database_url, shrunk)

    # The table, and with it its indexes; nothing else.
    assert sorted((op[0], op[1].name) for op in diff) == [
        ("remove_index", "ix_refresh_tokens_family_id"),
        ("remove_index", "ix_refresh_tokens_restaurant_id"),
        ("remove_index", "ix_refresh_tokens_user_id"),
        ("remove_table", "refresh_tokens"),
    ]


NOW = datetime.now(UTC)
# Bind types for the columns that need one; the rest are plain values.
COLUMN_TYPES = {
    "created_at": UTCDateTime(),
    "updated_at": UTCDateTime(),
    "expires_at": UTCDateTime(),
    "service_hours": JSON(),
}


async def insert(url: str, name: str, *rows: dict[str, Any]) -> None:
    """Rows written as a migration's table sees them, whatever the models say now."""
    columns = (sa.column(c, COLUMN_TYPES.get(c)) for c in rows[0])
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.table(name, *columns).insert(), list(rows))
    finally:
        await engine.dispose()


async def count(url: str, name: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))))
    finally:
        await engine.dispose()


def stored_answer(key: str, **user: int) -> dict[str, Any]:
    later = NOW + timedelta(hours=24)
    return {
        "restaurant_id": 1,
        "key": key,
        "fingerprint": "f" * 64,
        "status_code": 201,
        "body": "{}",
        "created_at": NOW,
        "expires_at": later,
        **user,
    }


STAMPS = {"version": 1, "created_at": NOW, "updated_at": NOW}


def restaurant_row(restaurant_id: int) -> dict[str, Any]:
    return {
        "id": restaurant_id,
        "name": "R",
        "timezone": "UTC",
        "table_after_guest_leaves": "dirty",
        "default_reservation_minutes": 90,
        "service_hours": {},
        **STAMPS,
    }


def user_row(user_id: int, restaurant_id: int = 1) -> dict[str, Any]:
    return {
        "id": user_id,
        "restaurant_id": restaurant_id,
        "email": f"u{user_id}@example.com",
        "password_hash": "x",
        "full_name": "U",
        "role": "owner",
        "token_generation": 1,
        **STAMPS,
    }


async def test_0004_deletes_stored_answers_both_ways(empty_database_url: str) -> None:
    """Stored answers say nothing of their user: upgrade drops them, and downgrade drops
    the per-user ones that the old (restaurant, key) uniqueness would refuse."""
    url = empty_database_url
    migrate(url, "0003")
    await insert(url, "restaurants", restaurant_row(1))
    await insert(url, "users", *(user_row(n) for n in (1, 2)))
    await insert(url, "idempotency_keys", stored_answer("old"))

    migrate(url, "0004")
    assert await count(url, "idempotency_keys") == 0
    assert await count(url, "users") == 2

    await insert(
        url,
        "idempotency_keys",
        stored_answer("shared", user_id=1),
        stored_answer("shared", user_id=2),
    )
    downgrade(url, "0003")
    assert await count(url, "idempotency_keys") == 0

    migrate(url)
    assert await schema_diff(url) == []


async def test_migrations_since_0004_keep_every_row_both_ways(empty_database_url: str) -> None:
    """A migration that rebuilt the restaurants table on SQLite (alembic's batch mode) would
    drop the old table with foreign keys on, and so delete every user, table and guest by
    cascade. Every migration after 0004 keeps the rows, up and down."""
    url = empty_database_url
    migrate(url, "0004")
    await insert(url, "restaurants", restaurant_row(1))
    await insert(url, "users", user_row(1))
    await insert(
        url,
        "dining_tables",
        {
            "id": 1,
            "restaurant_id": 1,
            "table_number": "1",
            "capacity": 2,
            "min_capacity": 1,
            "status": "available",
            **STAMPS,
        },
    )
    kept = {"restaurants": 1, "users": 1, "dining_tables": 1}

    async def counts() -> dict[str, int]:
        return {name: await count(url, name) for name in kept}

    migrate(url)
    assert await counts() == kept
    downgrade(url, "0004")
    assert await counts() == kept
    migrate(url)
    assert await counts() == kept
