"""The database URL says what runs: SQLite is served by QTable's own driver, named
``sqlite+qtable://``, and any other SQLite driver in the URL is refused at start rather than
silently swapped for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import SQLITE_SCHEME, Settings
from app.db import sqlite
from app.db.engine import create_engine


def test_the_default_url_names_the_driver_that_runs() -> None:
    settings = Settings(env="test")
    assert settings.database_url.startswith(f"{SQLITE_SCHEME}://")
    assert f"sqlite+{sqlite.DRIVER}" == SQLITE_SCHEME


async def test_the_engine_runs_the_driver_the_url_names(tmp_path: Path) -> None:
    engine = create_engine(Settings(env="test", database_url=f"sqlite+qtable:///{tmp_path}/a.db"))
    try:
        assert engine.dialect.driver == sqlite.DRIVER
        assert engine.url.drivername == SQLITE_SCHEME
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, sqlite.Connection)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"])
def test_another_sqlite_driver_is_refused_by_name(scheme: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"sqlite\+qtable://"):
        Settings(env="test", database_url=f"{scheme}:///{tmp_path}/a.db")
