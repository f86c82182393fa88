"""PostgreSQL without a liveness round trip per checkout: a connection the database closed
(a restart, a failover, an administrator) is found when it is used, and a read is then tried
once more on a new connection instead of answering 503."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.errors import lost_connection
from tests.fixtures.auth import Actor
from tests.fixtures.database import PostgresDatabase
from tests.fixtures.floor import GUESTS, create_guest

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database_url(postgres_database: PostgresDatabase | None) -> str:
    if postgres_database is None:
        pytest.skip("PostgreSQL tests need QTABLE_TEST_POSTGRES_URL")
    await postgres_database.truncate()
    return postgres_database.url


async def _close_every_connection_of_the_app(app: FastAPI) -> int:
    """What a restart does to the app's pooled connections: each closed by the server."""
    admin = create_async_engine(app.state.settings.database_url)
    try:
        async with admin.connect() as conn:
            closed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'qtable'"
                )
            )
    finally:
        await admin.dispose()
    return int(closed or 0)


def test_the_engine_does_not_ping_on_checkout(app: FastAPI) -> None:
    assert app.state.db.engine.pool._pre_ping is False


async def test_a_read_after_the_database_closed_the_connections_answers(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner, "Ana")
    for _ in range(2):
        assert (await client.get(GUESTS, headers=owner.headers)).status_code == 200
        assert await _close_every_connection_of_the_app(app) >= 1
        response = await client.get(f"{GUESTS}/{guest['id']}", headers=owner.headers)
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Ana"
        listed = await client.get(GUESTS, headers=owner.headers)
        assert listed.status_code == 200, listed.text


async def test_a_write_after_the_database_closed_the_connections_is_a_503_then_succeeds(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """A write is not tried again by the server (the client has its Idempotency-Key and the
    503's Retry-After); the next one succeeds."""
    await create_guest(client, owner, "Ana")
    assert await _close_every_connection_of_the_app(app) >= 1
    body = {"name": "Bo", "partySize": 2}
    statuses = [(await client.post(GUESTS, headers=owner.headers, json=body)).status_code]
    if statuses[0] == 503:
        statuses.append((await client.post(GUESTS, headers=owner.headers, json=body)).status_code)
    assert statuses[-1] == 201, statuses


def test_only_a_lost_connection_counts_as_lost() -> None:
    assert lost_connection(ConnectionResetError())
    assert not lost_connection(ValueError("no"))
    assert not lost_connection(TimeoutError())
