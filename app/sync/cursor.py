"""Dashboard cursors: a restaurant's revision, opaque, tied to its restaurant and database.

A cursor is 24 bytes in URL-safe base64 (32 characters): the revision, the restaurant's local
date it was issued on (days since 1970-01-01), and an HMAC-SHA256 tag, cut to 12 bytes, over
both and the restaurant's id, keyed with the server's secret and the database's epoch
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
from dataclasses import dataclass
from datetime import datetime

from app.core.timeutil import local_today

_LAYOUT = struct.Struct(">QI")
_TAG_BYTES = 12
_LENGTH = _LAYOUT.size + _TAG_BYTES
_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True, slots=True)
class Position:
    revision: int
    day: int  # the restaurant's local date when the cursor was issued, as an ordinal

    @classmethod
    def now(cls, revision: int, timezone: str, at: datetime | None = None) -> Position:
        """The restaurant at ``revision``, on its local date now (or ``at``)."""
        return cls(int(revision), local_today(timezone, at).toordinal())

    def serves(self, after: Position | None, log_start: int) -> bool:
        """Whether the change log, complete after ``log_start``, can tell what changed
        between ``after`` and this position: a cursor of today, not purged, not ahead."""
        return (
            after is not None
            and after.day == self.day
            and log_start <= after.revision <= self.revision
        )


# Cursors issued and read lately, kept: every iPad asks for the dashboard again and again
# with the same cursor, and each is an HMAC (a pure function of its inputs).
_REMEMBERED = 4096


class Cursors:
    """Issues and reads the cursors of one database (one epoch) under one secret."""

    def __init__(self, secret: str, epoch: str) -> None:
        self._key = hashlib.sha256(f"qtable-cursor\0{secret}\0{epoch}".encode()).digest()
        self._issued: dict[tuple[int, Position], str] = {}
        self._read: dict[tuple[int, str], Position | None] = {}

    def _tag(self, restaurant_id: int, payload: bytes) -> bytes:
        message = restaurant_id.to_bytes(8, "big", signed=True) + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self, restaurant_id: int, position: Position) -> str:
        key = (restaurant_id, position)
        cursor = self._issued.get(key)
        if cursor is None:
            payload = _LAYOUT.pack(position.revision, position.day)
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
            raw = base64.urlsafe_b64decode(cursor.encode())
        except (binascii.Error, ValueError):  # pragma: no cover: the shape decodes
            return None
        payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(tag, self._tag(restaurant_id, payload)):
            return None
        revision, day = _LAYOUT.unpack(payload)
        return Position(revision, day)
