"""Revisions shared between server processes over Redis pub/sub, and whether Redis answers.

A notice is only a hint (``app.realtime.hub``): while Redis is away notices are dropped and each
process's poll delivers the changes; the logs say so once when Redis is lost and once when it
is back, and ``/metrics`` shows the state (``qtable_realtime_redis_up``) and the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from app.realtime.hub import Hub

logger = logging.getLogger("qtable.realtime")

REDIS_UP = Gauge(
    "qtable_realtime_redis_up",
    "1 while this process reaches Redis for real-time notices, 0 while it does not",
)
REDIS_FAILURES = Counter(
    "qtable_realtime_redis_failures_total",
    "Failed attempts to reach Redis: a notice not published, a subscription lost or refused",
)
REDIS_DROPPED = Counter(
    "qtable_realtime_redis_notices_dropped_total",
    "Notices not published to Redis (the poll delivers their changes instead)",
)


class RedisHealth:
    """Whether Redis answers, for the logs and ``/metrics``: one warning when it is lost, one
    when it is back with what happened meanwhile, and counts in between (an outage during a
    rush would otherwise log a line per commit)."""

    def __init__(self) -> None:
        self.up = True  # until the first failure says otherwise: that one is logged
        self._down_since = 0.0
        self._failures = 0
        self._dropped = 0

    def failed(self, what: str, exc: BaseException | None = None, *, dropped: int = 0) -> None:
        REDIS_FAILURES.inc()
        if dropped:
            REDIS_DROPPED.inc(dropped)
        if self.up:
            self.up = False
            REDIS_UP.set(0)
            self._down_since, self._failures, self._dropped = time.monotonic(), 0, 0
            logger.warning(
                "realtime: Redis lost (%s: %s); notices are dropped and each process's poll "
                "delivers the changes until it answers again",
                what,
                type(exc).__name__ if exc is not None else "unreachable",
            )
        self._failures += 1
        self._dropped += dropped

    def reached(self) -> None:
        if not self.up:
            logger.warning(
                "realtime: Redis is back after %.1fs (%d failed attempts, %d notices dropped)",
                time.monotonic() - self._down_since,
                self._failures,
                self._dropped,
            )
        self.up = True
        REDIS_UP.set(1)


class RedisBridge:
    """Revisions shared between processes over Redis pub/sub: a notice is published after
    each commit and every process wakes the pump of that restaurant. Redis away: notices are
    dropped (the poll makes up for them) and the subscriber reconnects; on reconnecting it
    wakes every pump, which reads whatever was committed meanwhile."""

    CHANNEL = "qtable:revisions"

    def __init__(self, url: str, hub: Hub) -> None:
        self.url = url
        self.hub = hub
        self.health = RedisHealth()
        REDIS_UP.set(0)  # until Redis first answers
        self._outbox: asyncio.Queue[str] = asyncio.Queue(10_000)

    def publish(self, restaurant_id: int, revision: int) -> None:
        try:
            self._outbox.put_nowait(f"{restaurant_id}:{revision}")
        except asyncio.QueueFull:
            self.health.failed("the outbox is full", dropped=1)

    async def run(self) -> None:
        await asyncio.gather(self._subscribe(), self._publish())

    async def _client(self) -> Any:
        from redis import asyncio as redis

        return redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=None)

    async def _publish(self) -> None:
        client = await self._client()
        while True:
            notice = await self._outbox.get()
            for attempt in (1, 2):  # a connection broken by a Redis restart: once more
                try:
                    await asyncio.wait_for(client.publish(self.CHANNEL, notice), 2)
                    self.health.reached()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        await client.aclose()
                    client = await self._client()
                    if attempt == 2:  # dropped: the poll, or the next notice, makes up for it
                        self.health.failed("publishing", exc, dropped=1)

    async def _subscribe(self) -> None:
        backoff = 0.2
        while True:
            client = await self._client()
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "subscribe":
                            # Redis's own answer: until it comes, nothing says Redis is there.
                            backoff = 0.2
                            self.health.reached()
                            self.hub.wake_all()  # whatever was committed while away
                        if message.get("type") != "message":
                            continue
                        rid, _, _ = bytes(message["data"]).decode().partition(":")
                        if rid.isdigit():
                            self.hub.wake(int(rid))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.health.failed("subscribing", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
