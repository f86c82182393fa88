"""Integers in paths and query strings are canonical (`0` or `[1-9][0-9]*`, ASCII), on every
route by construction: any other spelling is a 422 naming the parameter, before it is read."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

import app.api
from app.core.config import Settings
from app.core.integers import (
    ERROR_TYPE,
    CanonicalIntegers,
    integer_parameters,
    is_canonical,
    require_canonical_integers,
)
from app.idempotency.route import IdempotentRoute
from app.main import create_app
from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_validation_error
from tests.fixtures.floor import GUESTS, create_guest, get_guest, guest_url

# Each is sent percent-encoded, so the route sees exactly this text.
NON_CANONICAL = ("+4", "04", "00", "-0", "4.0", " 4", "4 ", "4_0", "0x4", "1e2", "\uff14", "-4")
CANONICAL = "4"  # within every current parameter's bounds (limit 1..200, partySize 1..50)
# 15 ids in paths and 5 in query strings today.
AT_LEAST = 18


@dataclass(frozen=True)
class IntegerParameter:
    method: str
    path: str
    location: str
    name: str
    repeated: bool
    signed: bool

    def url(self, value: str) -> str:
        """The operation's URL with ``value`` (as written) for this parameter, 1 for other ids;
        a repeated parameter gets a canonical value first."""
        path = self.path
        if self.location == "path":
            path = path.replace(f"{{{self.name}}}", value)
        path = re.sub(r"{[^}]+}", "1", path)
        if self.location == "query":
            first = f"{self.name}=1&" if self.repeated else ""
            path = f"{path}?{first}{self.name}={value}"
        return path


def integer_kind(schema: dict[str, Any]) -> tuple[str, bool] | None:
    """For an integer schema, or an array of them (alone or in an anyOf with null): "one" or
    "many", and whether its minimum admits a negative."""
    alternatives = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    kinds = set()
    signed = False
    for alternative in alternatives:
        if alternative.get("type") == "array":
            alternative, kind = alternative.get("items", {}), "many"
        else:
            kind = "one"
        if alternative.get("type") != "integer":
            return None
        kinds.add(kind)
        signed |= alternative.get("minimum", 0) <= -1 or alternative.get("exclusiveMinimum", 0) < -1
    return (kinds.pop(), signed) if len(kinds) == 1 else None


def documented_integer_parameters(document: dict[str, Any]) -> Iterator[IntegerParameter]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                found = integer_kind(parameter["schema"])
                if parameter["in"] in ("path", "query") and found is not None:
                    kind, signed = found
                    yield IntegerParameter(
                        method, path, parameter["in"], parameter["name"], kind == "many", signed
                    )


def assert_refused(response: Any, location: str, name: str) -> None:
    errors = assert_validation_error(response, name)
    assert [(e["loc"], e["type"]) for e in errors] == [([location, name], ERROR_TYPE)], errors


def names_parameter(response: Any, location: str, name: str) -> bool:
    if response.status_code != 422:
        return False
    errors = response.json()["error"]["details"].get("errors", [])
    return any(e["loc"][:2] == [location, name] for e in errors)


# ----- every documented parameter -------------------------------------------------------------


async def test_every_integer_parameter_refuses_non_canonical_spellings(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    parameters = list(documented_integer_parameters(app.openapi()))
    assert len(parameters) >= AT_LEAST, parameters
    assert {p.location for p in parameters} == {"path", "query"}
    for parameter in parameters:
        # "-4" is canonical only where the parameter documents a negative minimum (none yet).
        refused = [s for s in NON_CANONICAL if not (parameter.signed and s == "-4")]
        spellings = [quote(s, safe="") for s in refused]
        if parameter.location == "query":
            spellings.append("+4")  # a form-encoded space
        for spelling in spellings:
            response = await client.request(
                parameter.method, parameter.url(spelling), headers=owner.headers
            )
            assert_refused(response, parameter.location, parameter.name)
        response = await client.request(
            parameter.method, parameter.url(CANONICAL), headers=owner.headers
        )
        assert not names_parameter(response, parameter.location, parameter.name), (
            parameter,
            response.text,
        )


def test_the_rule_is_in_every_integer_parameters_description(app: FastAPI) -> None:
    document = app.openapi()
    for parameter in documented_integer_parameters(document):
        operation = document["paths"][parameter.path][parameter.method]
        (described,) = [
            p
            for p in operation["parameters"]
            if (p["in"], p["name"]) == (parameter.location, parameter.name)
        ]
        assert "no sign or leading zero" in described["description"], described
        if "description" in described["schema"]:
            assert described["schema"]["description"] == described["description"]


# ----- the cases that were bugs ---------------------------------------------------------------


async def test_a_guest_id_spelled_with_an_underscore_deletes_nothing(
    client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    while guest["id"] < 10:  # an id with two digits, to put an underscore between
        guest = await create_guest(client, owner)
    digits = str(guest["id"])
    for spelling in (f"{digits[:-1]}_{digits[-1]}", f"+{digits}", f"0{digits}", f"{digits}.0"):
        response = await client.delete(
            f"{GUESTS}/{quote(spelling, safe='')}", headers=owner.headers
        )
        assert_refused(response, "path", "guest_id")
    assert await get_guest(client, owner, guest["id"]) == guest
    response = await client.delete(guest_url(guest["id"]), headers=owner.headers)
    assert response.status_code == 204, response.text


async def test_limit_4_0_is_not_forty(client: AsyncClient, owner: Actor) -> None:
    assert_refused(await client.get(f"{GUESTS}?limit=4_0", headers=owner.headers), "query", "limit")
    response = await client.get(f"{GUESTS}?limit=40", headers=owner.headers)
    assert response.status_code == 200, response.text


# ----- by construction ------------------------------------------------------------------------


class Window(BaseModel):
    first: int = 0


def paging(page: int = 1) -> int:
    return page


def shifting(shift: Annotated[int, Query(ge=-10, le=10)] = 0) -> int:
    return shift


later = APIRouter(prefix="/api/v1/later", route_class=IdempotentRoute)


@later.get("/{item_id}")
async def later_route(
    item_id: int,
    page: Annotated[int, Depends(paging)],
    shift: Annotated[int, Depends(shifting)],
    window: Annotated[Window, Query()],
    ids: Annotated[list[int] | None, Query()] = None,
    size: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {"item": item_id, "page": page, "shift": shift, "first": window.first, "ids": ids}


@pytest.fixture
async def later_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncClient]:
    """The app as create_app builds it, with a router added the way any new one is."""
    monkeypatch.setattr(app.api, "DOMAIN_ROUTERS", (*app.api.DOMAIN_ROUTERS, later))
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = ASGITransport(app=application, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_a_route_added_later_is_covered(later_client: AsyncClient) -> None:
    url = "/api/v1/later"
    refused = [
        (f"{url}/4_7", "path", "item_id"),
        (f"{url}/%2047", "path", "item_id"),
        (f"{url}/47?page=02", "query", "page"),
        (f"{url}/47?ids=1&ids=01&ids=3", "query", "ids"),
        (f"{url}/47?size=%2B4", "query", "size"),
        (f"{url}/47?first=4.0", "query", "first"),
        (f"{url}/47?shift=-0", "query", "shift"),
        (f"{url}/47?shift=-04", "query", "shift"),
        (f"{url}/47?shift=%2B4", "query", "shift"),
    ]
    for target, location, name in refused:
        assert_refused(await later_client.get(target), location, name)
    # Every badly written integer of the request is named, each once.
    response = await later_client.get(f"{url}/04?page=+1&page=01&size=1_0")
    errors = assert_validation_error(response)
    assert [e["loc"] for e in errors] == [["path", "item_id"], ["query", "page"], ["query", "size"]]
    # Text parameters are not integers; a declared negative lower bound admits "-".
    response = await later_client.get(
        f"{url}/0?page=2&ids=0&ids=10&size=7&first=3&shift=-4&note=04"
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"item": 0, "page": 2, "shift": -4, "first": 3, "ids": [0, 10]}


def test_exactly_the_routes_with_integer_parameters_are_guarded(settings: Settings) -> None:
    application = create_app(settings)
    routes = [r for r in application.routes if isinstance(r, APIRoute)]
    guarded = [r for r in routes if isinstance(r.app, CanonicalIntegers)]
    assert guarded and len(guarded) < len(routes)
    for route in routes:
        # A route without an integer parameter pays nothing: its app is FastAPI's own.
        assert isinstance(route.app, CanonicalIntegers) == bool(
            integer_parameters(route.dependant)
        ), route.path
    require_canonical_integers(application)  # again: nothing is wrapped twice
    for route in guarded:
        assert isinstance(route.app, CanonicalIntegers)
        assert not isinstance(route.app.app, CanonicalIntegers)


def test_a_path_convertor_cannot_hide_the_text() -> None:
    application = FastAPI()
    application.get("/items/{item_id:int}")(later_route)
    with pytest.raises(TypeError, match="item_id"):
        require_canonical_integers(application)


@pytest.mark.parametrize(
    ("text", "signed", "canonical"),
    [
        ("0", False, True),
        ("7", False, True),
        ("9223372036854775807", False, True),
        ("", False, False),
        ("-", True, False),
        ("-4", False, False),
        ("-4", True, True),
        ("-0", True, False),
        ("-04", True, False),
        ("--4", True, False),
        ("\u0664", False, False),  # ARABIC-INDIC DIGIT FOUR
        ("\u00b2", False, False),  # SUPERSCRIPT TWO
    ],
)
def test_is_canonical(text: str, signed: bool, canonical: bool) -> None:
    assert is_canonical(text, signed=signed) is canonical
