"""While Redis is away the logs say so once, and once more when it is back with what happened
meanwhile; every failed attempt and dropped notice is counted in /metrics instead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from app.core.config import Settings
from app.main import create_app
from bench import servers
from tests.conftest import make_settings
from tests.fixtures.auth import Actor, register
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.floor import create_guest
from tests.realtime.test_processes import RedisServer, redis_server  # noqa: F401 (fixture)

LOST = "Redis lost"
BACK = "Redis is back"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in message for message in self.messages)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("qtable.realtime")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def settings_with_redis(tmp_path: Path, template: SQLiteTemplate, url: str) -> Settings:
    return make_settings(template.fresh(tmp_path), redis_url=url, realtime_poll_seconds=0.2)


async def wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within the time")


async def writes(client: AsyncClient, actor: Actor, count: int) -> None:
    for n in range(count):
        await create_guest(client, actor, f"G{n}")


async def test_an_unreachable_redis_is_one_warning_and_counts(
    tmp_path: Path, sqlite_template: SQLiteTemplate, lines: Lines
) -> None:
    nowhere = f"redis://127.0.0.1:{servers.free_port()}/0"
    app = create_app(settings_with_redis(tmp_path, sqlite_template, nowhere))
    dropped = sample("qtable_realtime_redis_notices_dropped_total")
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            owner = await register(client)
            await writes(client, owner, 30)
            # register and 30 guests: 31 notices, none published.
            await wait_for(
                lambda: sample("qtable_realtime_redis_notices_dropped_total") >= dropped + 31
            )
            assert lines.count(LOST) == 1, lines.messages
            assert lines.count(BACK) == 0
            assert len(lines.messages) == 1, lines.messages
            metrics = (await client.get("/metrics")).text
            assert "qtable_realtime_redis_up 0.0" in metrics
            assert "qtable_realtime_redis_failures_total" in metrics


@pytest.mark.slow
async def test_a_redis_outage_is_one_warning_when_lost_and_one_when_back(
    tmp_path: Path,
    sqlite_template: SQLiteTemplate,
    redis_server: RedisServer,  # noqa: F811
    lines: Lines,
) -> None:
    app = create_app(settings_with_redis(tmp_path, sqlite_template, redis_server.url))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            owner = await register(client)
            await wait_for(lambda: sample("qtable_realtime_redis_up") == 1)
            assert lines.messages == []

            redis_server.stop()
            failures = sample("qtable_realtime_redis_failures_total")
            await writes(client, owner, 25)
            await wait_for(lambda: sample("qtable_realtime_redis_failures_total") >= failures + 25)
            assert sample("qtable_realtime_redis_up") == 0
            assert lines.count(LOST) == 1, lines.messages

            redis_server.start()
            await writes(client, owner, 1)
            await wait_for(lambda: sample("qtable_realtime_redis_up") == 1)
            await wait_for(lambda: lines.count(BACK) == 1)
            await writes(client, owner, 5)
            await asyncio.sleep(0.5)
            assert lines.count(LOST) == 1 and lines.count(BACK) == 1, lines.messages
            assert len(lines.messages) == 2, lines.messages
            assert "notices dropped" in lines.messages[-1]
