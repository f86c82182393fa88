"""Sliding-window counters for the unauthenticated auth endpoints (per email, per client)."""

from __future__ import annotations

import time
from collections import deque
from typing import Annotated

from fastapi import Depends
from fastapi.requests import HTTPConnection

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

    def take(self, key: str) -> None:
        """Count one event for the key now, or raise 429 (with Retry-After) when its window is
        used up. Checking and counting are one step with no await between them, so requests
        that arrive together cannot all pass the check before any of them is counted."""
        now = time.monotonic()
        if len(self._events) >= self.SWEEP_AT:
            self._events = {k: v for k, v in self._events.items() if self._live(v, now)}
        events = self._live(self._events.setdefault(key, deque()), now)
        if len(events) >= self.limit:
            raise RateLimited(int(events[0] + self.window - now) + 1)
        events.append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)


class AuthRateLimiter:
    """Password checks per email; every auth attempt per client address."""

    def __init__(
        self, *, max_failures_per_email: int, max_attempts_per_client: int, window_seconds: float
    ) -> None:
        self.password_checks = SlidingWindow(max_failures_per_email, window_seconds)
        self.clients = SlidingWindow(max_attempts_per_client, window_seconds)

    def attempt(self, client: str) -> None:
        """Called before any work: refuse when the client address is over its limit."""
        self.clients.take(client)

    def check_password_of(self, email: str) -> None:
        """Called right before a password is checked: counts the check, or refuses it when the
        email has had its share in this window. The check is counted before its outcome is
        known (a failure needs nothing more); a success clears the count."""
        self.password_checks.take(email.lower())

    def succeeded(self, email: str) -> None:
        self.password_checks.reset(email.lower())


async def _auth_limiter(connection: HTTPConnection) -> AuthRateLimiter:
    limiter: AuthRateLimiter = connection.app.state.auth_limiter
    return limiter


# The app's one limiter, shared by login and by a user confirming their current password.
AuthLimiter = Annotated[AuthRateLimiter, Depends(_auth_limiter)]
