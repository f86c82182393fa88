"""Opaque keyset cursors for lists: the last row's sort key, packed in binary, URL-safe base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Query

from app.core.errors import field_error
from app.core.schemas import never_null
from app.core.text import is_clean
from app.core.timeutil import epoch_micros, from_epoch_micros

LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size, 1..200.")]
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Opaque cursor from a previous page's `nextCursor`.",
        json_schema_extra=never_null,
    ),
]


# Ids and sort keys are 64-bit integers in both databases; larger values cannot be bound.
INT64 = range(-(2**63), 2**63)

# The contract allows 64 base64 characters: 48 bytes. Integers and timestamps take 8 bytes each, a
# text key what is left of the 48 after them; a text key that does not fit (20 characters of
# any Unicode are up to 80 bytes) is cut, and the cursor says so (see CursorKey).
MAX_BYTES = 48
DIGEST_BYTES = 8
_INT = struct.Struct(">q")


@dataclass(frozen=True, slots=True)
class CursorKey:
    """The sort key a cursor holds. ``digest`` is None when it holds the whole key; otherwise
    the text of ``values`` is only the longest prefix of the row's text that fit, and
    ``digest`` is :func:`key_digest` of the whole text: the reader finds the row by its id (the
    last value) and checks that its text is still the one the cursor was made from."""

    values: tuple[Any, ...]
    digest: bytes | None = None


def key_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:DIGEST_BYTES]


def _kind(value: Any) -> type:
    for kind in (datetime, str):
        if isinstance(value, kind):
            return kind
    if isinstance(value, int) and not isinstance(value, bool):
        return int
    raise TypeError(f"a cursor cannot hold {type(value).__name__}")


@lru_cache
def _format(label: str, types: tuple[type, ...], cut: bool) -> int:
    """The cursor's first byte, which tells the lists (``label``) and the whole and cut forms
    apart, so one list's cursor is not taken for another's (seven bits of a hash: two lists
    could meet, and tests/core/test_list_cursors.py checks that ours do not). The high bit is
    set: the JSON cursors of old began with "[" and cannot pass for one."""
    if types.count(str) > 1 or (str in types and any(t is not int for t in _after_text(types))):
        # A cut key resumes from its prefix with the values after it at their least.
        raise TypeError(f"a cursor holds one text key, followed by integers only: {types}")
    spec = f"{label}|{','.join(t.__name__ for t in types)}|{'cut' if cut else 'whole'}"
    return 0x80 | (hashlib.sha256(spec.encode()).digest()[0] & 0x7F)


def _after_text(types: tuple[type, ...]) -> tuple[type, ...]:
    return types[types.index(str) + 1 :] if str in types else ()


def text_room(types: tuple[type, ...], *, cut: bool) -> int:
    """How many bytes of UTF-8 text a cursor of these key types holds, whole or cut."""
    fixed = sum(1 for t in types if t is not str)
    return MAX_BYTES - 1 - fixed * _INT.size - (DIGEST_BYTES if cut else 0)


def _pack(
    label: str, types: tuple[type, ...], values: tuple[Any, ...], digest: bytes | None
) -> str:
    raw = bytearray([_format(label, types, digest is not None)])
    text = b""
    for value, kind in zip(values, types, strict=True):
        if kind is str:
            text = value.encode()
        else:
            raw += _INT.pack(epoch_micros(value) if kind is datetime else value)
    if digest is not None:
        raw += digest
    return base64.urlsafe_b64encode(bytes(raw + text)).rstrip(b"=").decode()


def encode_cursor(*key: Any, label: str = "") -> str:
    """The cursor of a row of the list ``label`` whose sort key is ``key``. Timestamps travel as
    integer microseconds since the epoch."""
    types = tuple(_kind(v) for v in key)
    if str in types:
        at = types.index(str)
        text: str = key[at]
        if len(text.encode()) > text_room(types, cut=False):
            # Cut at a character boundary: the bytes of a character cut in two are dropped.
            room = text_room(types, cut=True)
            prefix = text.encode()[:room].decode(errors="ignore")
            cut = (*key[:at], prefix, *key[at + 1 :])
            return _pack(label, types, cut, key_digest(text))
    return _pack(label, types, key, None)


def decode_cursor(cursor: str, types: tuple[type, ...], label: str = "") -> CursorKey:
    """Decode and type-check a cursor of the list ``label``; anything but what encode_cursor
    makes for these key types is a 422 on ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = _unpack(raw, types, label)
        # Other base64 (trailing bits, stray characters) decodes to the same bytes, and a cut
        # text that is not the longest prefix that fits names the same rows, but no cursor of
        # ours looks like that: it was forged.
        if _pack(label, types, key.values, key.digest) != cursor:
            raise ValueError
        if key.digest is not None:
            text = next(v for v, t in zip(key.values, types, strict=True) if t is str)
            if len(text.encode()) <= text_room(types, cut=True) - 4:  # a character more fit
                raise ValueError
        return key
    except (ValueError, OverflowError, binascii.Error):
        raise field_error(["query", "cursor"], "cursor is not valid") from None


def _unpack(raw: bytes, types: tuple[type, ...], label: str) -> CursorKey:
    if not raw or len(raw) > MAX_BYTES:
        raise ValueError
    if raw[0] == _format(label, types, False):
        cut = False
    elif str in types and raw[0] == _format(label, types, True):
        cut = True
    else:
        raise ValueError
    at = 1
    values: list[Any] = []
    for kind in types:
        if kind is str:
            values.append(None)  # the text comes last, after the digest
            continue
        if len(raw) < at + _INT.size:
            raise ValueError
        (number,) = _INT.unpack_from(raw, at)
        at += _INT.size
        # Beyond the years datetime can hold: OverflowError, so not a cursor we made.
        values.append(from_epoch_micros(number) if kind is datetime else number)
    digest = None
    if cut:
        digest = raw[at : at + DIGEST_BYTES]
        if len(digest) != DIGEST_BYTES:
            raise ValueError
        at += DIGEST_BYTES
    if str in types:
        text = raw[at:].decode()  # strict: no surrogate comes out of UTF-8
        # A sort key from a row of ours cannot hold such text; binding it would fail (a 500).
        if not is_clean(text):
            raise ValueError
        values[types.index(str)] = text
    elif at != len(raw):
        raise ValueError
    return CursorKey(tuple(values), digest)
