"""How long the event loop could not run anything: the stall every request of the process
waited out, whatever caused it (a statement, a commit, a long computation on the loop)."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

# How often the watch looks: a stall shorter than this is seen in part, or not at all.
INTERVAL = 0.025

LOOP_LAG = Histogram(
    "qtable_event_loop_lag_seconds",
    "How late the event loop ran a timer due now: a stall every request of the process waited",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


async def watch_loop_lag(interval: float = INTERVAL, histogram: Histogram = LOOP_LAG) -> None:
    """Forever: sleep ``interval``, and record how much later than that the loop woke up."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, loop.time() - due))
