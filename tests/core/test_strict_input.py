"""Strict input (docs/contract.md, Conventions), through HTTP and alike on SQLite and PostgreSQL:
JSON
types as declared, timestamps with an offset, canonical time zones, and no U+0000 or unpaired
surrogate in any text a client sends (bodies, forms, query strings, cursors, headers)."""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import AsyncClient, Response

from app.api import DOMAIN_ROUTERS
from app.auth.schemas import TokenForm
from app.core.schemas import InputModel
from tests.fixtures.auth import PASSWORD, Actor
from tests.fixtures.errors import assert_error, assert_validation_error
from tests.fixtures.floor import one_row_of_each_kind
from tests.reservations.factories import at, iso

API = "/api/v1"
TEXT_ERROR = "string_forbidden_character"
# Each is sent as a JSON escape, the only way JSON can carry them.
BAD_TEXT = ("a\x00b", "\x00", "a\ud800", "\udfffz", "\ud800\ud800")
STARTS_AT = iso(at())


# ----- request bodies ------------------------------------------------------------------------


@dataclass
class World:
    """A restaurant with one row of each kind, for the routes that name one."""

    owner: Actor
    ids: dict[str, int]


@pytest.fixture
async def world(client: AsyncClient, owner: Actor) -> World:
    return World(owner, await one_row_of_each_kind(client, owner))


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Body:
    """A valid request ("{table}" and the like stand for the world's ids), and where its
    strings, integers, booleans and numbers are."""

    method: str
    path: str
    body: dict[str, Any]
    text: tuple[Path, ...] = ()
    ints: tuple[str, ...] = ()
    bools: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    token: bool = True

    async def send(self, client: AsyncClient, world: World, body: dict[str, Any]) -> Response:
        path = self.path
        for placeholder, row_id in world.ids.items():
            path = path.replace(placeholder, str(row_id))
        headers = {"content-type": "application/json"}
        if self.token:
            headers.update(world.owner.headers)
        # json.dumps writes U+0000 and lone surrogates as \u escapes, as a client would.
        content = json.dumps(_fill(body, world))
        return await client.request(self.method, f"{API}{path}", content=content, headers=headers)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _fill(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return world.ids.get(value, value)
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def replaced(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


REGISTER = Body(
    "POST",
    "/auth/register",
    {
        "restaurantName": "New Place",
        "timezone": "Europe/Paris",
        "email": "new-owner@example.com",
        "password": PASSWORD,
        "fullName": "Nina New",
    },
    text=(("restaurantName",), ("fullName",), ("email",), ("password",), ("timezone",)),
    token=False,
)
LOGIN = Body(
    "POST",
    "/auth/login",
    {"email": "x@example.com", "password": PASSWORD},
    text=(("email",), ("password",)),
    token=False,
)
REFRESH = Body(
    "POST", "/auth/refresh", {"refreshToken": "r" * 40}, text=(("refreshToken",),), token=False
)
LOGOUT = Body("POST", "/auth/logout", {"refreshToken": "r" * 40}, text=(("refreshToken",),))
USER_CREATE = Body(
    "POST",
    "/users",
    {"email": "sam@example.com", "password": PASSWORD, "fullName": "Sam", "role": "server"},
    text=(("email",), ("password",), ("fullName",), ("role",)),
)
USER_PATCH = Body(
    "PATCH",
    "/users/{user}",
    {"fullName": "Hal H", "email": "hal2@example.com"},
    text=(("fullName",), ("email",)),
)
RESTAURANT_PATCH = Body(
    "PATCH",
    "/restaurant",
    {
        "name": "Chez Nous",
        "timezone": "Europe/Paris",
        "defaultReservationMinutes": 90,
        "serviceHours": {"mon": [{"open": "11:30", "close": "14:30"}]},
    },
    text=(("name",), ("timezone",), ("serviceHours", "mon", 0, "close")),
    ints=("defaultReservationMinutes",),
)
TABLE_CREATE = Body(
    "POST",
    "/tables",
    {"tableNumber": "T9", "capacity": 4, "minCapacity": 1, "section": "terrace", "posX": 1.5},
    text=(("tableNumber",), ("section",)),
    ints=("capacity", "minCapacity"),
    numbers=("posX",),
)
TABLE_PATCH = Body(
    "PATCH",
    "/tables/{table}",
    {
        "tableNumber": "T1",
        "section": "bar",
        "capacity": 6,
        "posX": 2.5,
        "currentGuestId": "{guest}",
        "allowOverCapacity": False,
    },
    text=(("tableNumber",), ("section",)),
    ints=("capacity", "currentGuestId"),
    bools=("allowOverCapacity",),
    numbers=("posX",),
)
GUEST_CREATE = Body(
    "POST",
    "/guests",
    {
        "name": "Bo",
        "partySize": 2,
        "phone": "+33612345678",
        "notes": "pram",
        "quotedWaitMinutes": 5,
    },
    text=(("name",), ("phone",), ("notes",)),
    ints=("partySize", "quotedWaitMinutes"),
)
GUEST_PATCH = Body(
    "PATCH",
    "/guests/{guest}",
    {
        "name": "Ana B",
        "notes": "vip",
        "partySize": 3,
        "tableId": "{table}",
        "allowOverCapacity": True,
    },
    text=(("name",), ("notes",)),
    ints=("partySize", "tableId"),
    bools=("allowOverCapacity",),
)
SEAT = Body(
    "POST",
    "/guests/{guest}/seat",
    {"tableId": "{table}", "allowOverCapacity": False},
    ints=("tableId",),
    bools=("allowOverCapacity",),
)
RESERVATION_CREATE = Body(
    "POST",
    "/reservations",
    {
        "guestName": "Grace",
        "partySize": 2,
        "startsAt": STARTS_AT,
        "durationMinutes": 60,
        "tableId": "{table}",
        "phone": "+33612345678",
        "email": "grace@example.com",
        "notes": "birthday",
    },
    text=(("guestName",), ("email",), ("notes",), ("startsAt",)),
    ints=("partySize", "durationMinutes", "tableId"),
)
RESERVATION_PATCH = Body(
    "PATCH",
    "/reservations/{reservation}",
    {"guestName": "Ada L", "notes": "late", "partySize": 3, "startsAt": STARTS_AT},
    text=(("guestName",), ("notes",)),
    ints=("partySize",),
)
CHECK_IN = Body(
    "POST",
    "/reservations/{reservation}/check-in",
    {"tableId": "{table}", "allowOverCapacity": False},
    ints=("tableId",),
    bools=("allowOverCapacity",),
)
REQUESTS = (
    REGISTER,
    LOGIN,
    REFRESH,
    LOGOUT,
    USER_CREATE,
    USER_PATCH,
    RESTAURANT_PATCH,
    TABLE_CREATE,
    TABLE_PATCH,
    GUEST_CREATE,
    GUEST_PATCH,
    SEAT,
    RESERVATION_CREATE,
    RESERVATION_PATCH,
    CHECK_IN,
)


@pytest.mark.parametrize("request_", [r for r in REQUESTS if r.text], ids=str)
async def test_bad_text_in_any_body_string_is_422(
    client: AsyncClient, world: World, request_: Body
) -> None:
    problems = []
    for path in request_.text:
        for text in BAD_TEXT:
            response = await request_.send(client, world, replaced(request_.body, path, text))
            errors = assert_validation_error(response, str(path[0]))
            if not any(
                e["loc"][:2] == ["body", path[0]] and e["type"] == TEXT_ERROR for e in errors
            ):
                problems.append((path, text, errors))
    assert problems == []


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        (GUEST_CREATE, ()),
        (RESTAURANT_PATCH, ("serviceHours",)),
        (RESTAURANT_PATCH, ("serviceHours", "mon", 0)),
    ],
    ids=["top level", "nested object", "object in an array"],
)
async def test_bad_text_in_a_key_or_where_no_string_belongs_is_422(
    client: AsyncClient, world: World, request_: Body, path: Path
) -> None:
    """Object keys are text too: the same error as anywhere else, whether the key is one
    the model knows or not."""
    for text in BAD_TEXT:
        target: Any = request_.body
        for step in path:
            target = target[step]
        if isinstance(target, dict):
            poisoned = replaced(request_.body, (*path, text), [])
        else:
            poisoned = replaced(request_.body, (*path, 0), {text: text})
        response = await request_.send(client, world, poisoned)
        errors = assert_validation_error(response)
        assert any(e["type"] == TEXT_ERROR for e in errors), (text, errors)


def test_every_json_body_is_an_input_model() -> None:
    """The rules above live in InputModel alone, so every route's body must be one (the
    OAuth2 form, not JSON, has its own check, tested below)."""
    bodies = {
        route.operation_id: [param.field_info.annotation for param in route.dependant.body_params]
        for router in DOMAIN_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.body_field is not None
    }
    assert bodies.pop("issueToken") == [TokenForm]
    assert len(bodies) > 10
    outside = {
        operation: annotations
        for operation, annotations in bodies.items()
        for annotation in annotations
        if not all(
            isinstance(model, type) and issubclass(model, InputModel)
            for model in (get_args(annotation) or (annotation,))
            if model is not type(None)
        )
    }
    assert outside == {}


# `4.0` too: an integer field takes a JSON integer, and iOS never writes an Int as 4.0.
WRONG_INTS = (True, False, "4", "60", 4.0, 60.0, 4.5)
WRONG_BOOLS = (1, 0, "true", "false", "yes")
WRONG_NUMBERS = (True, "1.5", "2")


@pytest.mark.parametrize(
    "request_", [r for r in REQUESTS if r.ints or r.bools or r.numbers], ids=str
)
async def test_json_types_are_strict(client: AsyncClient, world: World, request_: Body) -> None:
    cases = [
        *((field, "int_type", WRONG_INTS) for field in request_.ints),
        *((field, "bool_type", WRONG_BOOLS) for field in request_.bools),
        *((field, "float_type", WRONG_NUMBERS) for field in request_.numbers),
    ]
    problems = []
    for field, error_type, wrong_values in cases:
        for value in wrong_values:
            response = await request_.send(client, world, {**request_.body, field: value})
            errors = assert_validation_error(response, field)
            if [e["type"] for e in errors if field in e["loc"]] != [error_type]:
                problems.append((field, value, errors))
    assert problems == []


async def test_json_types_as_declared_still_pass(client: AsyncClient, world: World) -> None:
    """The strict rules refuse look-alikes, not the real thing (an integer is a number)."""
    for request, status in ((TABLE_CREATE, 201), (RESERVATION_CREATE, 201), (SEAT, 200)):
        body = request.body if request is not TABLE_CREATE else {**request.body, "posX": 3}
        response = await request.send(client, world, body)
        assert response.status_code == status, response.text


# A vocabulary field (app.core.vocabulary), with a word it takes.
WORD_FIELDS = [
    (USER_CREATE, "role", "server"),
    (Body("PATCH", "/restaurant", {}), "tableAfterGuestLeaves", "available"),
    (TABLE_CREATE, "status", "dirty"),
    (Body("PATCH", "/tables/{table}", {}), "status", "out_of_service"),
    (Body("PATCH", "/guests/{guest}", {}), "status", "notified"),
    (RESERVATION_CREATE, "status", "confirmed"),
    (Body("PATCH", "/reservations/{reservation}", {}), "status", "confirmed"),
]
WRONG_WORDS = (1, True, None, ["dirty"], {"value": "dirty"}, "DIRTY", " dirty", "", "unknown")


@pytest.mark.parametrize(
    ("request_", "field", "word"), WORD_FIELDS, ids=[f"{r} {f}" for r, f, _ in WORD_FIELDS]
)
async def test_a_vocabulary_field_takes_exactly_its_words_as_json_strings(
    client: AsyncClient, world: World, request_: Body, field: str, word: str
) -> None:
    """Strict bodies validate after json.loads, where a strict enum would take only a Python
    member: the word as a JSON string must pass, and nothing else may."""
    problems = []
    for value in WRONG_WORDS:
        response = await request_.send(client, world, {**request_.body, field: value})
        errors = assert_validation_error(response, field)
        # A PATCH says "may not be null" before the type is looked at.
        if value is not None and not all(e["type"] == "enum" for e in errors if field in e["loc"]):
            problems.append((value, errors))
    assert problems == []
    response = await request_.send(client, world, {**request_.body, field: word})
    assert response.status_code in (200, 201), response.text
    assert response.json()[field] == word


@pytest.mark.parametrize(
    ("request_", "word"),
    [(TABLE_CREATE, "occupied"), (RESERVATION_CREATE, "checked_in")],
    ids=["table status", "reservation status"],
)
async def test_a_word_a_field_does_not_take_is_422(
    client: AsyncClient, world: World, request_: Body, word: str
) -> None:
    """Some fields take part of a vocabulary: a table is made `occupied` only by seating."""
    response = await request_.send(client, world, {**request_.body, "status": word})
    errors = assert_validation_error(response, "status")
    assert [e["type"] for e in errors] == ["enum"], errors


@pytest.mark.parametrize("request_", [RESERVATION_CREATE, RESERVATION_PATCH], ids=str)
async def test_starts_at_is_an_iso_string_with_an_offset(
    client: AsyncClient, world: World, request_: Body
) -> None:
    seconds = int(at().timestamp())
    naive = STARTS_AT.removesuffix("Z")
    for value in (seconds, seconds + 0.5, str(seconds), naive, naive[:10], True, None, ""):
        response = await request_.send(client, world, {**request_.body, "startsAt": value})
        assert_validation_error(response, "startsAt")
    # Without a table, so that the bookings cannot clash.
    body = {key: value for key, value in request_.body.items() if key != "tableId"}
    for value in (STARTS_AT, STARTS_AT.replace("Z", "+00:00"), naive + "-05:00"):
        response = await request_.send(client, world, {**body, "startsAt": value})
        assert response.status_code in (200, 201), (value, response.text)


# ----- time zones ----------------------------------------------------------------------------

REFUSED_ZONES = (
    "localtime",
    "Factory",
    "posixrules",
    "posix/Europe/Paris",
    "right/Europe/Paris",
    "US/Eastern",
    "Asia/Calcutta",
    "Europe/Kiev",
    "Etc/GMT+5",
    "Etc/UTC",
    "GMT",
    "EST5EDT",
    "europe/paris",
    "Europe/Paris ",
    "",
)
ACCEPTED_ZONES = (
    "UTC",
    "Europe/Paris",
    "Europe/Oslo",
    "America/Argentina/Buenos_Aires",
    "Asia/Kolkata",
    "Pacific/Chatham",
)


@pytest.mark.parametrize("request_", [REGISTER, RESTAURANT_PATCH], ids=str)
async def test_time_zones_are_canonical_iana_names(
    client: AsyncClient, world: World, request_: Body
) -> None:
    for zone in REFUSED_ZONES:
        response = await request_.send(client, world, replaced(request_.body, ("timezone",), zone))
        assert_validation_error(response, "timezone")
    for number, zone in enumerate(ACCEPTED_ZONES):
        body = replaced(request_.body, ("timezone",), zone)
        if request_ is REGISTER:
            body["email"] = f"owner-{number}@example.com"
        response = await request_.send(client, world, body)
        assert response.status_code in (200, 201), (zone, response.text)
        restaurant = response.json()
        assert restaurant.get("restaurant", restaurant)["timezone"] == zone


# ----- cursors --------------------------------------------------------------------------------


def cursor_of(raw: str) -> str:
    """A cursor holding exactly this JSON text, as a client could forge one."""
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/tables", r'["\u0000",1]'),
        ("/tables", r'["\ud800",1]'),
        ("/tables", r'["1\udc00",1]'),
        ("/tables", '["1", 1]'),  # what json.dumps makes by default, but not encode_cursor
        ("/tables", r'["\u0031",1]'),  # "1", spelled otherwise
        ("/guests", "[1,1 ]"),
        ("/users", "[1] "),
    ],
)
async def test_a_cursor_is_exactly_one_of_ours_or_422(
    client: AsyncClient, owner: Actor, path: str, raw: str
) -> None:
    params = {"cursor": cursor_of(raw)}
    response = await client.get(f"{API}{path}", headers=owner.headers, params=params)
    assert_validation_error(response, "cursor")


# ----- query strings --------------------------------------------------------------------------

QUERY_CASES = [
    ("/tables", "section=a%00b", "section"),
    ("/tables", "section=%ED%A0%80", "section"),  # U+D800 as WTF-8: not UTF-8
    ("/tables", "section=%FF", "section"),
    ("/tables", "status=available%00", "status"),
    ("/guests", "status=waiting&status=%00", "status"),
    ("/reservations", "status=booked%00", "status"),
    ("/reservations", "date=2030-01-01%00", "date"),
    ("/reservations/availability", "partySize=2&date=%ED%BF%BF", "date"),
    ("/users", "cursor=%00", "cursor"),
    ("/guests", "sta%00tus=waiting", "sta\x00tus"),
]


@pytest.mark.parametrize(("path", "query", "name"), QUERY_CASES)
async def test_bad_text_in_a_query_parameter_is_422(
    client: AsyncClient, owner: Actor, path: str, query: str, name: str
) -> None:
    response = await client.get(f"{API}{path}?{query}", headers=owner.headers)
    errors = assert_validation_error(response)
    assert errors == [{"loc": ["query", name], "msg": errors[0]["msg"], "type": TEXT_ERROR}], errors


async def test_every_route_refuses_bad_text_in_its_query_string(
    app: FastAPI, client: AsyncClient
) -> None:
    """By construction: routes added later get the rule too, before any handler runs."""
    operations = [
        (method, re.sub(r"{[^}]+}", "1", path))
        for path, item in app.openapi()["paths"].items()
        for method in item
    ]
    assert len(operations) > 30
    for method, path in [*operations, ("get", "/docs"), ("get", "/openapi.json")]:
        response = await client.request(method, f"{path}?probe=%00")
        errors = assert_validation_error(response, "probe")
        assert errors[0]["loc"] == ["query", "probe"], (method, path, errors)


# ----- the OAuth2 form ------------------------------------------------------------------------

TOKEN = f"{API}/auth/token"


@pytest.mark.parametrize("field", ["username", "password", "scope", "client_id"])
async def test_bad_text_in_the_token_form_is_422(
    client: AsyncClient, owner: Actor, field: str
) -> None:
    # A urlencoded form is UTF-8 (httpx cannot even encode a lone surrogate); see below.
    for text in ("a\x00b", "\x00"):
        form = {"username": owner.email, "password": PASSWORD, field: text}
        response = await client.post(TOKEN, data=form)
        errors = assert_validation_error(response, field)
        assert [e["type"] for e in errors] == [TEXT_ERROR], errors


async def test_a_lone_surrogate_in_a_multipart_token_form_is_422(
    client: AsyncClient, owner: Actor
) -> None:
    """A multipart form names its own charset; UTF-7 can carry a lone surrogate."""
    body = (
        '--b\r\nContent-Disposition: form-data; name="username"\r\n\r\n+2AA-\r\n'
        f'--b\r\nContent-Disposition: form-data; name="password"\r\n\r\n{PASSWORD}\r\n--b--\r\n'
    )
    response = await client.post(
        TOKEN,
        content=body.encode(),
        headers={"content-type": "multipart/form-data; boundary=b; charset=utf-7"},
    )
    errors = assert_validation_error(response, "username")
    assert [e["type"] for e in errors] == [TEXT_ERROR], errors


# ----- headers --------------------------------------------------------------------------------


async def test_bad_text_in_an_idempotency_key_is_422(client: AsyncClient, owner: Actor) -> None:
    for key in (b"a\x00b", b"\x00"):
        response = await client.post(
            f"{API}/guests",
            headers={**owner.headers, "Idempotency-Key": key},
            json={"name": "Ana", "partySize": 2},
        )
        errors = assert_validation_error(response, "Idempotency-Key")
        assert [e["type"] for e in errors] == [TEXT_ERROR], errors
    guests = await client.get(f"{API}/guests", headers=owner.headers)
    assert guests.json()["items"] == []


async def test_if_match_is_ascii_digits_of_a_64_bit_version(
    client: AsyncClient, world: World
) -> None:
    path = f"{API}/guests/{world.ids['{guest}']}"
    # Superscript digits (Latin-1), NUL, thousands of digits, and 2**63 and more.
    too_long = (b"9" * 5000, b"1" + b"0" * 19)
    for value in (b'"\xb2"', b"\xb9", b'"\x00"', *(b'"' + v + b'"' for v in too_long)):
        response = await client.patch(
            path, headers={**world.owner.headers, "If-Match": value}, json={"notes": "x"}
        )
        assert_validation_error(response, "If-Match")
    response = await client.patch(
        path, headers={**world.owner.headers, "If-Match": '"9223372036854775807"'}, json={}
    )
    assert_error(response, 412, "precondition_failed")
