"""List cursors: short and URL-safe for any key, paging that reaches every row, forgeries 422."""

from __future__ import annotations

import base64
import json
import re
import struct
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.config import Settings
from app.core.pagination import (
    INT64,
    CursorKey,
    decode_cursor,
    encode_cursor,
    key_digest,
    text_room,
)
from app.core.timeutil import epoch_micros
from tests.conftest import make_settings
from tests.fixtures.auth import Actor, add_staff, register
from tests.fixtures.errors import assert_validation_error
from tests.fixtures.floor import (
    API,
    GUESTS,
    TABLES,
    create_guest,
    create_table,
    patch_table,
    table_url,
)
from tests.reservations.factories import RESERVATIONS, at, create_reservation

USERS = f"{API}/users"
LISTS = (TABLES, GUESTS, RESERVATIONS, USERS)
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,64}")

# What the text rule lets through: anything but U+0000 and surrogates.
ANY_CHAR = st.characters(codec="utf-8", exclude_characters="\x00")
TERRACE = "\u0422\u0435\u0440\u0440\u0430\u0441\u0430"  # in Cyrillic
# Shared beginnings, so that many numbers meet on the prefix a cut cursor keeps.
STEMS = ("", TERRACE + " ", "😀" * 7, "😀" * 10, "Ж" * 15, "テーブル席", "Table ", "🍽️🍽️🍽️")
# The longest numbers, at 4, 3, 2 and 1 bytes a character.
LONGEST = ("😀" * 20, "席" * 20, "Ж" * 20, "T" * 20, "\U0010ffff" * 20)


@pytest.fixture(name="settings")
def lenient_settings(database_url: str) -> Settings:
    # Many restaurants are registered from one client address: one fresh floor per example.
    return make_settings(database_url, auth_max_attempts_per_client=100_000)


def _may_end(char: str) -> bool:
    """Whether a number may begin or end with ``char``: `tableNumber` is trimmed of
    whitespace, which would make two numbers one."""
    return unicodedata.category(char) != "Cc" and not unicodedata.category(char).startswith("Z")


@st.composite
def table_numbers(draw: st.DrawFn) -> str:
    """A valid `tableNumber` (1..20 characters after trimming) of any Unicode."""
    body = draw(st.one_of(st.text(ANY_CHAR, max_size=20), st.sampled_from(LONGEST)))
    number = draw(st.sampled_from(STEMS)) + body
    number = number[: draw(st.one_of(st.just(20), st.integers(1, 20)))] or "1"
    if not _may_end(number[0]):
        number = "a" + number[1:]
    if not _may_end(number[-1]):
        number = number[:-1] + "z"
    return number


def assert_cursor(cursor: str) -> None:
    assert CURSOR.fullmatch(cursor), (len(cursor), cursor)


def key_of(table: dict[str, Any]) -> tuple[str, int]:
    return table["tableNumber"], table["id"]


async def page(
    client: AsyncClient, actor: Actor, path: str, cursor: str | None = None, **params: Any
) -> Response:
    if cursor is not None:
        params["cursor"] = cursor
    return await client.get(path, headers=actor.headers, params=params)


async def page_through(
    client: AsyncClient,
    actor: Actor,
    path: str,
    limit: int,
    cursor: str | None = None,
    **params: Any,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every row from ``cursor`` on, ``limit`` at a time, and the cursors followed."""
    rows: list[dict[str, Any]] = []
    cursors: list[str] = []
    while True:
        response = await page(client, actor, path, cursor, limit=limit, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        rows += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            return rows, cursors
        assert len(body["items"]) == limit
        assert_cursor(cursor)
        cursors.append(cursor)
        assert len(cursors) < 500, "the cursors never end"


async def all_tables(client: AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    response = await page(client, actor, TABLES, limit=200)
    assert response.status_code == 200, response.text
    assert response.json()["nextCursor"] is None
    return list(response.json()["items"])


# ----- the encoding alone ---------------------------------------------------------------------

LABELS = ("users", "guests", "reservations", "dining_tables")
KEYS = st.one_of(
    st.tuples(st.integers(INT64.start, INT64[-1])).map(lambda key: ("users", (int,), key)),
    st.tuples(st.datetimes(timezones=st.just(UTC)), st.integers(INT64.start, INT64[-1])).flatmap(
        lambda key: st.sampled_from(LABELS[1:3]).map(lambda lbl: (lbl, (datetime, int), key))
    ),
    st.tuples(
        st.one_of(st.text(ANY_CHAR, max_size=20), st.sampled_from(LONGEST)),
        st.integers(INT64.start, INT64[-1]),
    ).map(lambda key: ("dining_tables", (str, int), key)),
)


@settings(max_examples=500, deadline=None)
@given(case=KEYS)
def test_any_key_makes_a_short_cursor_that_decodes_to_it(
    case: tuple[str, tuple[type, ...], tuple[Any, ...]],
) -> None:
    label, types, key = case
    cursor = encode_cursor(*key, label=label)
    assert_cursor(cursor)
    decoded = decode_cursor(cursor, types, label)
    if decoded.digest is None:
        assert decoded == CursorKey(key)
        return
    # Cut: the id, a digest of the whole text and its longest prefix that fits.
    text, prefix = key[0], decoded.values[0]
    assert decoded.values[1:] == key[1:]
    assert decoded.digest == key_digest(text)
    assert text.startswith(prefix) and prefix != text
    room = text_room(types, cut=True)
    assert len(prefix.encode()) <= room < len(text[: len(prefix) + 1].encode())


# ----- every cursor of every list -------------------------------------------------------------


async def test_every_cursor_of_every_list_is_url_safe_and_at_most_64(
    client: AsyncClient, owner: Actor
) -> None:
    numbers = [*LONGEST, f"{TERRACE} 1", "1", "🍽️ Patio 🌿 Terrasse", "a\u0301" * 10, "z\U0001f3fd"]
    for number in numbers:
        await create_table(client, owner, number)
    for n in range(3):
        await create_guest(client, owner, f"Guest {n}")
        await create_reservation(client, owner, startsAt=at(hour=18 + n))
        await add_staff(client, owner, "host")

    for path in LISTS:
        everything = (await page(client, owner, path, limit=200)).json()["items"]
        for limit in (1, 2, 3):
            rows, cursors = await page_through(client, owner, path, limit)
            assert rows == everything, path
            assert len(cursors) == (len(everything) - 1) // limit
    # The longest of them all are cut, and still lead on.
    rows, cursors = await page_through(client, owner, TABLES, 1)
    assert [r["tableNumber"] for r in rows] == sorted(numbers)
    cut = [c for c in cursors if decode_cursor(c, (str, int), "dining_tables").digest]
    assert len(cut) >= 3


# ----- every row, exactly once, in code-point order -------------------------------------------


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(numbers=st.lists(table_numbers(), min_size=1, max_size=12, unique=True))
async def test_paging_any_table_numbers_reaches_every_table_once_in_code_point_order(
    client: AsyncClient, numbers: list[str]
) -> None:
    actor = await register(client)
    created = [await create_table(client, actor, number) for number in numbers]
    assert {t["tableNumber"] for t in created} == set(numbers)
    expected = sorted(created, key=key_of)

    for limit in (1, 2, 3):
        rows, _ = await page_through(client, actor, TABLES, limit)
        assert [key_of(r) for r in rows] == [key_of(t) for t in expected], limit


# ----- the row a cursor names changes between two pages --------------------------------------

# Emoji keys of 41 bytes are cut to "😀" * 7, Cyrillic ones of 40 bytes to "Ж" * 15; each
# group also holds its prefix as a number of its own, which a cut cursor resumes from.
FLOOR = (
    "A",
    "Z",
    "😀" * 7,
    "😀" * 9,
    *("😀" * 10 + c for c in "ABCD"),
    "😀" * 11,
    "Ж" * 15,
    "Ж" * 19 + "Я",
    "Ж" * 20,
    "🪑",
)
CHANGES = ("none", "delete", "rename_later", "rename_earlier", "rename_in_place")


def renamed(table: dict[str, Any], change: str) -> str:
    number: str = table["tableNumber"]
    if change == "rename_later":
        return f"🪑{table['id']}"
    if change == "rename_earlier":
        return f"0{table['id']}"
    return number + "~" if len(number) < 20 else number[:-1] + "~"


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_to_the_last_row_of_a_page_still_reaches_every_row(
    client: AsyncClient, change: str
) -> None:
    cut_cursors = 0
    for limit in range(1, len(FLOOR)):
        actor = await register(client)
        for number in FLOOR:
            await create_table(client, actor, number)
        first = (await page(client, actor, TABLES, limit=limit)).json()
        cursor = first["nextCursor"]
        assert_cursor(cursor)
        last = first["items"][-1]
        # Read once before the change, so that the page cache holds the next page.
        warm = await page(client, actor, TABLES, cursor, limit=limit)
        assert warm.status_code == 200, warm.text

        if change == "delete":
            response = await client.delete(table_url(last["id"]), headers=actor.headers)
            assert response.status_code == 204, response.text
        elif change != "none":
            response = await patch_table(
                client, actor, last["id"], {"tableNumber": renamed(last, change)}
            )
            assert response.status_code == 200, response.text
        rest, _ = await page_through(client, actor, TABLES, limit, cursor)

        now = sorted(await all_tables(client, actor), key=key_of)
        key = decode_cursor(cursor, (str, int), "dining_tables")
        cut_cursors += key.digest is not None
        if key.digest is not None and change != "none":
            # Its row cannot be found with its key: from the first key with the prefix.
            expected = [t for t in now if t["tableNumber"] >= key.values[0]]
        else:
            expected = [t for t in now if key_of(t) > key_of(last)]
        assert [key_of(t) for t in rest] == [key_of(t) for t in expected], limit

        # Every row still there is seen; only a cut cursor whose row changed repeats any,
        # besides the renamed row under its new number.
        seen = Counter(t["id"] for t in [*first["items"], *rest])
        assert {t["id"] for t in now} <= set(seen)
        repeated = {i for i, n in seen.items() if n > 1} - {last["id"]}
        if key.digest is None or change == "none":
            assert not repeated, (limit, repeated)
    assert cut_cursors >= 5


# ----- cursors the server never made ----------------------------------------------------------

KEY_TYPES = {
    TABLES: (str, int),
    GUESTS: (datetime, int),
    RESERVATIONS: (datetime, int),
    USERS: (int,),
}
LABEL = {TABLES: "dining_tables", GUESTS: "guests", RESERVATIONS: "reservations", USERS: "users"}


def raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def cursors_of_every_list(client: AsyncClient, actor: Actor) -> dict[str, str]:
    """A real cursor of each list, and of both forms of the tables' cursor."""
    for number in ("A", "B", "😀" * 20, "🪑"):
        await create_table(client, actor, number)
    for n in range(2):
        await create_guest(client, actor, f"Guest {n}")
        await create_reservation(client, actor, startsAt=at(hour=18 + n))
        await add_staff(client, actor, "server")
    found: dict[str, str] = {}
    for path in LISTS:
        found[path] = (await page(client, actor, path, limit=1)).json()["nextCursor"]
    _, cursors = await page_through(client, actor, TABLES, 1)
    found["cut"] = cursors[2]  # after the one number too long for a cursor
    assert decode_cursor(found["cut"], (str, int), "dining_tables").digest is not None
    assert all(found.values())
    return found


async def assert_refused(client: AsyncClient, actor: Actor, path: str, cursor: str) -> None:
    assert_validation_error(await page(client, actor, path, cursor), "cursor")


async def assert_never_500(client: AsyncClient, actor: Actor, path: str, cursor: str) -> None:
    response = await page(client, actor, path, cursor)
    assert response.status_code in (200, 422), (cursor, response.text)
    if response.status_code == 200:  # another key, which pages the caller's own rows
        own = (await page(client, actor, path, limit=200)).json()["items"]
        assert {r["id"] for r in response.json()["items"]} <= {r["id"] for r in own}


async def test_another_lists_cursor_is_422(client: AsyncClient, owner: Actor) -> None:
    cursors = await cursors_of_every_list(client, owner)
    for path in LISTS:
        for source, cursor in cursors.items():
            if source == path or (source == "cut" and path == TABLES):
                assert (await page(client, owner, path, cursor)).status_code == 200
            else:
                await assert_refused(client, owner, path, cursor)


async def test_a_wrong_format_byte_is_422(client: AsyncClient, owner: Actor) -> None:
    cursors = await cursors_of_every_list(client, owner)
    formats = {raw(c)[0] for c in cursors.values()}
    assert len(formats) == 5  # every list and form tells itself apart
    for source, cursor in cursors.items():
        path = TABLES if source == "cut" else source
        own = {raw(cursors[path])[0], raw(cursors["cut"])[0]} if path == TABLES else set()
        for byte in {0x00, ord("["), 0x7F, 0xFF, *formats} - {raw(cursor)[0]}:
            forged = b64(bytes([byte]) + raw(cursor)[1:])
            if byte in own:  # the tables' other form: its text may happen to be valid
                await assert_never_500(client, owner, path, forged)
            else:
                await assert_refused(client, owner, path, forged)


async def test_a_flipped_byte_is_422_or_another_key_never_500(
    client: AsyncClient, owner: Actor
) -> None:
    cursors = await cursors_of_every_list(client, owner)
    for source, cursor in cursors.items():
        path = TABLES if source == "cut" else source
        data = raw(cursor)
        for at_byte in range(len(data)):
            for bit in (0x01, 0x40, 0x80):
                flipped = bytearray(data)
                flipped[at_byte] ^= bit
                if at_byte == 0:
                    await assert_refused(client, owner, path, b64(bytes(flipped)))
                else:
                    await assert_never_500(client, owner, path, b64(bytes(flipped)))
    # Text that is not UTF-8, or holds U+0000 (U+D800 is ED A0 80 in WTF-8), is refused.
    whole, cut = raw(cursors[TABLES]), raw(cursors["cut"])
    for bad in (b"\x80", b"\xff", b"\x00", b"\xed\xa0\x80"):
        await assert_refused(client, owner, TABLES, b64(whole + bad))
        # In place of the prefix's last character (4 bytes), so that its length still fits.
        await assert_refused(client, owner, TABLES, b64(cut[:-4] + bad.ljust(4, b"a")))


async def test_a_truncated_or_extended_cursor_is_422_never_500(
    client: AsyncClient, owner: Actor
) -> None:
    cursors = await cursors_of_every_list(client, owner)
    for source, cursor in cursors.items():
        path = TABLES if source == "cut" else source
        for end in range(1, len(cursor)):
            if source == TABLES:  # a shorter text may be another table number
                await assert_never_500(client, owner, path, cursor[:end])
            else:
                await assert_refused(client, owner, path, cursor[:end])
        for extra in (b"\x00", b"\x00" * 3, b"1"):
            extended = b64(raw(cursor) + extra)
            if source in (TABLES, "cut") and extra == b"1":
                await assert_never_500(client, owner, path, extended)
            elif len(extended) <= 64:
                await assert_refused(client, owner, path, extended)
        await assert_refused(client, owner, path, cursor + "A")
        await assert_refused(client, owner, path, cursor + "AAAA" * 20)


async def test_trailing_bits_and_old_json_cursors_are_422(
    client: AsyncClient, owner: Actor
) -> None:
    cursors = await cursors_of_every_list(client, owner)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tried = 0
    for source, cursor in cursors.items():
        path = TABLES if source == "cut" else source
        if len(cursor) % 4:  # the last character carries bits beyond the last byte
            tail = alphabet[alphabet.index(cursor[-1]) | 1]
            await assert_refused(client, owner, path, cursor[:-1] + tail)
            tried += 1
        # The same key in the JSON of old.
        key = decode_cursor(cursor, KEY_TYPES[path], LABEL[path]).values
        old = [epoch_micros(v) if isinstance(v, datetime) else v for v in key]
        await assert_refused(
            client, owner, path, b64(json.dumps(old, separators=(",", ":")).encode())
        )
    assert tried >= 2


async def test_a_timestamp_beyond_the_years_is_422(client: AsyncClient, owner: Actor) -> None:
    cursors = await cursors_of_every_list(client, owner)
    for path in (GUESTS, RESERVATIONS):
        data = raw(cursors[path])
        for micros in (2**62, -(2**62), INT64[-1], INT64.start):
            forged = data[:1] + struct.pack(">q", micros) + data[9:]
            await assert_refused(client, owner, path, b64(forged))
        # The edges datetime holds are well-formed keys.
        for edge in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)):
            forged = data[:1] + struct.pack(">q", epoch_micros(edge)) + data[9:]
            assert (await page(client, owner, path, b64(forged))).status_code == 200


async def test_a_cut_cursor_of_another_restaurant_pages_only_your_rows(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    cursors = await cursors_of_every_list(client, owner)
    mine = {t["id"] for t in await all_tables(client, owner)}
    await create_table(client, rival, "😀" * 19 + "🪑")
    await create_table(client, rival, "😀" * 7)
    response = await page(client, rival, TABLES, cursors["cut"])
    assert response.status_code == 200, response.text
    assert [t["tableNumber"] for t in response.json()["items"]] == ["😀" * 7, "😀" * 19 + "🪑"]
    assert not mine & {t["id"] for t in response.json()["items"]}
