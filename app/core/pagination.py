"""Opaque keyset cursors for lists: the last row's sort key, URL-safe base64."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import Query

from app.core.errors import field_error
from app.core.text import is_clean
from app.core.timeutil import epoch_micros, from_epoch_micros

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size, 1..200.")]
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Opaque cursor from a previous page's `nextCursor`.",
    ),
]


# Ids and sort keys are 64-bit integers in both databases; larger values cannot be bound.
INT64 = range(-(2**63), 2**63)


def encode_cursor(*key: Any) -> str:
    """Timestamps travel as integer microseconds since the epoch."""
    values = [epoch_micros(v) if isinstance(v, datetime) else v for v in key]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """Decode and type-check a cursor; anything but what encode_cursor makes for these key
    types is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        # Other spacing, escapes, number spellings or base64 trailing bits decode to the same
        # values, but no cursor of ours looks like that: it was forged.
        if encode_cursor(*values) != cursor:
            raise ValueError
        return tuple(_decode_value(v, t) for v, t in zip(values, types, strict=True))
    except (ValueError, OverflowError):
        raise field_error(["query", "cursor"], "cursor is not valid") from None


def _decode_value(value: Any, kind: type) -> Any:
    wire = int if kind is datetime else kind
    if not isinstance(value, wire) or isinstance(value, bool):
        raise ValueError
    if wire is int and value not in INT64:
        raise ValueError
    # A sort key from a row of ours cannot hold such text; binding it would fail (a 500).
    if isinstance(value, str) and not is_clean(value):
        raise ValueError
    # Beyond the years datetime can hold: OverflowError, so not a cursor we made.
    return from_epoch_micros(cast(int, value)) if kind is datetime else value
