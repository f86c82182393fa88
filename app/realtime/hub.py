"""Per-restaurant fan-out of committed change events to the sockets of this process."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from app.db.session import ChangeEvent


class Hub:
    """In-memory hub: subscribers get each committed transaction's events, in commit order."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[list[ChangeEvent]]]] = defaultdict(set)
        self._queue_size = queue_size

    def subscribe(self, restaurant_id: int) -> asyncio.Queue[list[ChangeEvent]]:
        queue: asyncio.Queue[list[ChangeEvent]] = asyncio.Queue(self._queue_size)
        self._subscribers[restaurant_id].add(queue)
        return queue

    def unsubscribe(self, restaurant_id: int, queue: asyncio.Queue[list[ChangeEvent]]) -> None:
        subscribers = self._subscribers.get(restaurant_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[restaurant_id]

    async def publish(self, events: list[ChangeEvent]) -> None:
        """Called once per committed unit of work, after the commit."""
        by_restaurant: dict[int, list[ChangeEvent]] = defaultdict(list)
        for event in events:
            by_restaurant[event.restaurant_id].append(event)
        for restaurant_id, batch in by_restaurant.items():
            for queue in list(self._subscribers.get(restaurant_id, ())):
                if queue.full():
                    # A subscriber this far behind must resync; drop its backlog.
                    self.unsubscribe(restaurant_id, queue)
                    continue
                queue.put_nowait(batch)
