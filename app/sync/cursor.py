"""Dashboard cursors: a restaurant's revision and the window it was read in, opaque, tied to
its restaurant and database.

What a full sync holds depends on the rows and on one thing more: the restaurant's day, the
window ``[start, end)`` of UTC instants whose reservations it sends (its local date in its time
zone). A cursor vouches for both: a delta from it is served only while the restaurant's window
is the one the cursor was issued in. Past local midnight, or after a time zone change that moves
the window, an older cursor gets a full sync (the new day's reservations were never sent as
changes: they did not change).

A cursor is 28 bytes in URL-safe base64 (38 characters): the revision, the window's start and
end (seconds since the epoch), and an HMAC-SHA256 tag, cut to 12 bytes, over them and the
restaurant's id, keyed with the server's secret and the database's epoch
(``app.models.change_log.DatabaseEpoch``). A cursor of another restaurant, of a replaced
database, altered or made up, fails the tag and reads as no cursor at all: a full sync.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.core.timeutil import local_day_bounds, local_today

_LAYOUT = struct.Struct(">QII")
_TAG_BYTES = 12
_LENGTH = _LAYOUT.size + _TAG_BYTES
_SHAPE = re.compile(r"[A-Za-z0-9_-]{38}")


@dataclass(frozen=True, slots=True)
class Window:
    """The UTC instants ``[start, end)`` of the restaurant's local day: what a full sync's
    reservations are chosen by."""

    start: int  # seconds since the epoch
    end: int

    @classmethod
    def of(cls, timezone: str, day: date) -> Window:
        """The window of the local date ``day`` in ``timezone``."""
        start, end = local_day_bounds(day, timezone)
        return cls(int(start.timestamp()), int(end.timestamp()))

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """The window as aware datetimes."""
        return datetime.fromtimestamp(self.start, UTC), datetime.fromtimestamp(self.end, UTC)


@dataclass(frozen=True, slots=True)
class Position:
    revision: int
    window: Window

    def at(self, revision: int) -> Position:
        """The same window at another revision."""
        return Position(int(revision), self.window)

    def serves(self, after: Position | None, log_start: int) -> bool:
        """Whether the change log, complete after ``log_start``, can tell what changed
        between ``after`` and this position: a cursor of this window, not purged, not
        ahead."""
        return (
            after is not None
            and after.window == self.window
            and log_start <= after.revision <= self.revision
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Cursors issued and read lately, kept: every iPad asks for the dashboard again and again
# with the same cursor, and each is an HMAC (a pure function of its inputs).
_REMEMBERED = 4096


class Cursors:
    """Issues and reads the cursors of one database (one epoch) under one secret, and tells
    the time by which windows are chosen (``clock``: the present, unless a test moves it)."""

    def __init__(self, secret: str, epoch: str, clock: Callable[[], datetime] = _utc_now) -> None:
        self._key = hashlib.sha256(f"qtable-cursor\0{secret}\0{epoch}".encode()).digest()
        self._issued: dict[tuple[int, Position], str] = {}
        self._read: dict[tuple[int, str], Position | None] = {}
        self.clock = clock
        # Windows are asked for on every dashboard request: one per (zone, local date).
        self._windows: dict[tuple[str, date], Window] = {}

    def now(self) -> datetime:
        return self.clock()

    def window(self, timezone: str, at: datetime | None = None) -> Window:
        """The window of a restaurant in ``timezone`` at ``at`` (by default now)."""
        key = (timezone, local_today(timezone, at or self.clock()))
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= _REMEMBERED:
                self._windows.clear()
            window = self._windows[key] = Window.of(*key)
        return window

    def position(self, revision: int, timezone: str, at: datetime | None = None) -> Position:
        """The restaurant at ``revision``, in its window now (or at ``at``)."""
        return Position(int(revision), self.window(timezone, at))

    def _tag(self, restaurant_id: int, payload: bytes) -> bytes:
        message = restaurant_id.to_bytes(8, "big", signed=True) + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self, restaurant_id: int, position: Position) -> str:
        key = (restaurant_id, position)
        cursor = self._issued.get(key)
        if cursor is None:
            window = position.window
            payload = _LAYOUT.pack(position.revision, window.start, window.end - window.start)
            raw = payload + self._tag(restaurant_id, payload)
            cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            if len(self._issued) >= _REMEMBERED:
                self._issued.clear()
            self._issued[key] = cursor
        return cursor

    def read(self, restaurant_id: int, cursor: str) -> Position | None:
        """The position a cursor of this restaurant and database names, or None."""
        if _SHAPE.fullmatch(cursor) is None:  # not kept: any text may come here
            return None
        key = (restaurant_id, cursor)
        if key in self._read:
            return self._read[key]
        position = self._decode(restaurant_id, cursor)
        if len(self._read) >= _REMEMBERED:
            self._read.clear()
        self._read[key] = position
        return position

    def _decode(self, restaurant_id: int, cursor: str) -> Position | None:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode() + b"==")
        except (binascii.Error, ValueError):  # pragma: no cover: the shape decodes
            return None
        payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if len(raw) != _LENGTH or not hmac.compare_digest(tag, self._tag(restaurant_id, payload)):
            return None
        # The last character carries 4 bits that decode to nothing: one spelling only.
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
            return None
        revision, start, length = _LAYOUT.unpack(payload)
        return Position(revision, Window(start, start + length))
