"""Opaque keyset cursors for lists: the last row's sort key, URL-safe base64."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from app.core.errors import field_error

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size, 1..200.")]
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Opaque cursor from a previous page's `nextCursor`.",
    ),
]


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """Decode and type-check a cursor; anything unexpected is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        if not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, types, strict=True)
        ):
            raise ValueError
        return tuple(values)
    except ValueError:
        raise field_error(["query", "cursor"], "cursor is not valid") from None
