"""The Alembic migrations build exactly the schema app.models describes, and undo it cleanly.

When a model changes without a migration (or the other way round), ``test_head_matches_models``
fails and lists what ``alembic revision --autogenerate`` would write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine

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
        ("remove_index", "ix_refresh_tokens_user_id"),
        ("remove_table", "refresh_tokens"),
    ]
