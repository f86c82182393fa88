"""The read path's serializer (app.core.wire) writes exactly what pydantic writes.

The list and detail routes answer with JSON written straight from row tuples, while the
OpenAPI document still describes the pydantic ``OutputModel`` schemas. These tests hold the
two side by side: for any values a row can carry, in any column order, the encoder's text is
the pydantic model's JSON byte for byte, whether a timestamp comes from PostgreSQL (an aware
datetime) or from SQLite (naive UTC text, as SQLAlchemy stores it).
"""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy.dialects import sqlite

from app.core.schemas import OutputModel
from app.core.wire import page_body, row_encoder, timestamp
from app.db.base import UTCDateTime
from app.guests.schemas import Guest, GuestPage
from app.reservations.schemas import Reservation
from app.tables.schemas import Table
from app.users.schemas import User

SCHEMAS: list[type[OutputModel]] = [Guest, Table, Reservation, User]
# Columns a row may carry that its schema does not show (columns_of() selects them all).
EXTRA_COLUMNS = ("restaurant_id", "password_hash", "token_generation")

# What SQLite stores for a timestamp column: the model type's own bind processor on SQLite
# (naive UTC, "YYYY-MM-DD HH:MM:SS.ffffff", the year zero-padded to four digits).
_to_sqlite_text = UTCDateTime()._cached_bind_processor(sqlite.dialect())

# Text as rows can hold it: quotes, backslashes, control characters, line and paragraph
# separators, non-ASCII and astral characters. Unpaired surrogates are left out: no input
# can store one (app.core.text refuses them) and no UTF-8 encoder writes one.
_CHARACTERS = st.characters(exclude_categories=("Cs",))
_TRICKY = st.sampled_from(
    ['"', "\\", '\\"', "\x00", "\x1f", "\x7f", "\u2028\u2029", "é", "😀", "{x}", "'", "</"]
)
TEXT = st.one_of(
    st.text(_CHARACTERS, max_size=30),
    st.lists(st.one_of(_TRICKY, st.text(_CHARACTERS, max_size=3)), max_size=6).map("".join),
)
INTEGER = st.integers(min_value=-(2**63), max_value=2**63 - 1)
NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 0.1, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 123.5]),
    st.integers(min_value=-(2**53), max_value=2**53),  # a REAL column may hand back an int
)
MICROSECOND = st.one_of(
    st.just(0), st.sampled_from([120000, 100000, 500, 1, 999999]), st.integers(0, 999_999)
)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """An aware UTC instant anywhere datetime can hold it in every offset."""
    naive = draw(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30, 23, 59))
    )
    return naive.replace(microsecond=draw(MICROSECOND), tzinfo=UTC)


@st.composite
def stored_timestamps(draw: st.DrawFn, instant: datetime) -> Any:
    """``instant`` as a driver hands it back: SQLite's naive UTC text, or an aware datetime
    in UTC or in any other offset."""
    form = draw(st.sampled_from(["sqlite", "utc", "offset"]))
    if form == "sqlite":
        return _to_sqlite_text(instant)
    if form == "utc":
        return instant
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    return instant.astimezone(timezone(timedelta(minutes=minutes)))


def _field_kind(annotation: Any) -> tuple[str, tuple[Any, ...], bool]:
    """The value kind of a schema field, its literal choices, and whether it may be null,
    read from the annotation independently of app.core.wire."""
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        nullable = type(None) in args
        (annotation,) = [a for a in args if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return "literal", typing.get_args(annotation), nullable
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        # A row holds the plain string; pydantic is given it too (as a request would be).
        return "literal", tuple(member.value for member in annotation), nullable
    kinds = {str: "text", int: "integer", float: "number", datetime: "timestamp", bool: "bool"}
    return kinds[annotation], (), nullable


@st.composite
def rows_of(draw: st.DrawFn, schema: type[BaseModel]) -> tuple[tuple[str, ...], tuple, dict]:
    """Column names in any order, the row tuple in that order, and the values pydantic is
    given for the same row (timestamps as the ORM would load them: aware, in UTC)."""
    stored: dict[str, Any] = {}
    python: dict[str, Any] = {}
    for name, field in schema.model_fields.items():
        kind, choices, nullable = _field_kind(field.annotation)
        if nullable and draw(st.booleans()):
            stored[name] = python[name] = None
            continue
        if kind == "timestamp":
            instant = draw(instants())
            stored[name], python[name] = draw(stored_timestamps(instant)), instant
            continue
        strategy = {
            "literal": st.sampled_from(choices),
            "text": TEXT,
            "integer": INTEGER,
            "number": NUMBER,
            "bool": st.booleans(),
        }[kind]
        stored[name] = python[name] = draw(strategy)
    others = [c for c in EXTRA_COLUMNS if c not in stored]
    for extra in draw(st.lists(st.sampled_from(others), unique=True)):
        stored[extra] = draw(st.one_of(st.none(), INTEGER, TEXT))
    columns = tuple(draw(st.permutations(list(stored))))
    return columns, tuple(stored[c] for c in columns), python


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_an_encoded_row_is_pydantics_json_byte_for_byte(
    schema: type[BaseModel], data: st.DataObject
) -> None:
    """Whatever the values and the column order, the encoder writes the JSON pydantic writes
    for the same row: the same document, and the same bytes (field order, camelCase keys,
    string escapes, float spelling, `Z` timestamps with the fraction only when non-zero).
    Clients and the OpenAPI document see one format whichever path answered."""
    columns, row, python = data.draw(rows_of(schema))
    encoded = row_encoder(schema, columns)(row)
    expected = schema.model_validate(python).model_dump_json()

    assert json.loads(encoded) == json.loads(expected)
    assert encoded.encode() == expected.encode()


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        (None, "null"),
        ("2026-11-27 18:30:00.000000", '"2026-11-27T18:30:00Z"'),
        ("2026-11-27 18:30:00", '"2026-11-27T18:30:00Z"'),
        ("2026-11-27 18:30:00.120000", '"2026-11-27T18:30:00.120000Z"'),
        ("2026-11-27 18:30:00.000001", '"2026-11-27T18:30:00.000001Z"'),
        ("0005-01-02 03:04:05.100000", '"0005-01-02T03:04:05.100000Z"'),
        (datetime(2026, 11, 27, 18, 30, tzinfo=UTC), '"2026-11-27T18:30:00Z"'),
        (
            datetime(2026, 11, 27, 20, 30, 0, 120000, tzinfo=timezone(timedelta(hours=2))),
            '"2026-11-27T18:30:00.120000Z"',
        ),
        (
            datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
            '"2026-11-28T04:59:59.999999Z"',
        ),
    ],
)
def test_a_timestamp_is_written_in_utc_with_a_z(stored: Any, written: str) -> None:
    """SQLite's text (with, without or with an all-zero fraction) and aware datetimes in any
    offset come out as the same UTC instant, the way pydantic writes it."""
    assert timestamp(stored) == written


class _Nested(OutputModel):
    id: int
    guest: Guest


class _Listed(OutputModel):
    id: int
    tags: list[str]


class _Mapping(OutputModel):
    id: int
    extra: dict[str, int]


class _Either(OutputModel):
    id: int
    value: int | str


@pytest.mark.parametrize(
    "schema", [_Nested, _Listed, _Mapping, _Either, GuestPage], ids=lambda s: s.__name__
)
def test_a_schema_that_is_not_flat_is_refused_when_its_encoder_is_built(
    schema: type[BaseModel],
) -> None:
    """The encoder writes flat fields only; anything else must fail when the encoder is
    made (at the first request of its shape in a test), never write wrong JSON later."""
    with pytest.raises(TypeError):
        row_encoder(schema, tuple(schema.model_fields))


def test_a_schema_field_missing_from_the_columns_is_refused() -> None:
    """A SELECT that forgot a column the schema shows must fail loudly, not shift values or
    leave the key out."""
    columns = tuple(name for name in Guest.model_fields if name != "notes")
    with pytest.raises(TypeError, match="notes"):
        row_encoder(Guest, columns)


def _guest_row(guest_id: int, name: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    values: dict[str, Any] = {
        "id": guest_id,
        "name": name,
        "status": "waiting",
        "table_id": None,
        "party_size": 2,
        "version": 1,
        "phone": None,
        "quoted_wait_minutes": 15,
        "notes": None,
        "reservation_id": None,
        "arrived_at": datetime(2026, 11, 27, 18, 30, 0, 120000, tzinfo=UTC),
        "seated_at": None,
        "completed_at": None,
        "created_at": datetime(2026, 11, 27, 18, 30, 0, 120000, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 27, 18, 30, 0, 120000, tzinfo=UTC),
    }
    return tuple(values), tuple(values.values())


@pytest.mark.parametrize("cursor", [None, "WzE3MDAwMDAwMDAsIDQyXQ", 'a"quote\\and/slash'])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_page_body_is_pydantics_page(cursor: str | None, count: int) -> None:
    """``page_body`` wraps encoded rows as ``{"items": [...], "nextCursor": ...}``: valid
    JSON with the cursor (or null) escaped, identical to pydantic's ``Page`` of the rows."""
    encoded, models = [], []
    for guest_id in range(1, count + 1):
        columns, row = _guest_row(guest_id, f'Guest "{guest_id}"')
        encoded.append(row_encoder(Guest, columns)(row))
        models.append(Guest.model_validate(dict(zip(columns, row, strict=True))))

    body = page_body(encoded, cursor)

    assert json.loads(body) == {
        "items": [json.loads(item) for item in encoded],
        "nextCursor": cursor,
    }
    assert body == GuestPage(items=models, next_cursor=cursor).model_dump_json().encode()
