"""Sliding-window counters for the unauthenticated auth endpoints (per email, per client)."""

from __future__ import annotations

import time
from collections import deque

from app.core.errors import RateLimited


class SlidingWindow:
    """Counts events per key over the last ``window`` seconds."""

    # Past this many keys, a hit first drops every key whose window has passed.
    SWEEP_AT = 10_000

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}

    def _live(self, events: deque[float], now: float) -> deque[float]:
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def check(self, key: str) -> None:
        """Raise 429 (with Retry-After) when the key has used up its window."""
        now = time.monotonic()
        events = self._live(self._events.get(key, deque()), now)
        if len(events) >= self.limit:
            raise RateLimited(int(events[0] + self.window - now) + 1)

    def hit(self, key: str) -> None:
        now = time.monotonic()
        if len(self._events) >= self.SWEEP_AT:
            self._events = {k: v for k, v in self._events.items() if self._live(v, now)}
        events = self._live(self._events.setdefault(key, deque()), now)
        events.append(now)
        if len(events) > self.limit:
            events.popleft()

    def reset(self, key: str) -> None:
        self._events.pop(key, None)


class AuthRateLimiter:
    """Failed logins per email; every auth attempt per client address."""

    def __init__(
        self, *, max_failures_per_email: int, max_attempts_per_client: int, window_seconds: float
    ) -> None:
        self.failures = SlidingWindow(max_failures_per_email, window_seconds)
        self.clients = SlidingWindow(max_attempts_per_client, window_seconds)

    def attempt(self, client: str, email: str | None = None) -> None:
        """Called before any work: refuse when the client or the email is over its limit."""
        self.clients.check(client)
        self.clients.hit(client)
        if email is not None:
            self.failures.check(email.lower())

    def failed(self, email: str) -> None:
        self.failures.hit(email.lower())

    def succeeded(self, email: str) -> None:
        self.failures.reset(email.lower())
