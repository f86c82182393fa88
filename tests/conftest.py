"""Every test gets the real app on a freshly migrated database: SQLite always, PostgreSQL too
when QTABLE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event

from app.core.config import Settings
from app.main import create_app
from tests.fixtures.auth import Actor, register
from tests.fixtures.database import PostgresDatabase, SQLiteTemplate, postgres_admin_url

pytest_plugins: list[str] = []


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SQLiteTemplate:
    return SQLiteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase | None]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield None
        return
    database = PostgresDatabase(admin_url)
    yield database
    database.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SQLiteTemplate
) -> str:
    if request.param == "sqlite":
        return sqlite_template.fresh(tmp_path)
    database: PostgresDatabase | None = request.getfixturevalue("postgres_database")
    if database is None:
        pytest.skip("PostgreSQL tests need QTABLE_TEST_POSTGRES_URL")
    await database.truncate()
    return database.url


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "jwt_secret": "t" * 48,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "log_level": "WARNING",
        "sqlite_synchronous": "NORMAL",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def owner(client: AsyncClient) -> Actor:
    """The owner of restaurant A."""
    return await register(client, name="Restaurant A")


@pytest.fixture
async def rival(client: AsyncClient) -> Actor:
    """The owner of restaurant B, who must never see or touch A's rows."""
    return await register(client, name="Restaurant B")


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every statement sent on the app's engine, but BEGIN, COMMIT and ROLLBACK."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", record)
