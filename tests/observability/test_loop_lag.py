"""The event loop's lag in /metrics: a stall of the loop is seen, and exported."""

from __future__ import annotations

import asyncio
import contextlib
import time

from httpx import AsyncClient
from prometheus_client import CollectorRegistry, Histogram

from app.observability.loop_lag import watch_loop_lag


async def test_a_stall_of_the_loop_is_recorded_as_lag() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("lag_seconds", "lag", buckets=(0.05, 1), registry=registry)
    watching = asyncio.create_task(watch_loop_lag(0.01, histogram))
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # noqa: ASYNC251 - the stall: the loop can run nothing meanwhile
        await asyncio.sleep(0.05)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    under_50_ms = registry.get_sample_value("lag_seconds_bucket", {"le": "0.05"})
    total = registry.get_sample_value("lag_seconds_count")
    assert total is not None and under_50_ms is not None
    assert total - under_50_ms >= 1, "the stall"
    assert (registry.get_sample_value("lag_seconds_sum") or 0) >= 0.15


async def test_the_lag_is_in_the_metrics(client: AsyncClient) -> None:
    await asyncio.sleep(0.1)  # a few looks of the app's watch
    body = (await client.get("/metrics")).text
    assert "# TYPE qtable_event_loop_lag_seconds histogram" in body
    assert 'qtable_event_loop_lag_seconds_bucket{le="0.005"}' in body
