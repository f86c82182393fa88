"""Nullability as the OpenAPI document states it is what the server does (docs/contract.md,
Conventions): for every request body and every batch item, each property the document marks
nullable takes null, and each other property sent as null is a 422 naming it.

The properties come from the document itself, so a field added later is checked too; each
request is a valid one (below) with that one property set to null.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient, Response

from app.core.schemas import PatchModel
from app.core.vocabulary import Vocabulary
from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, Actor, unique_email
from tests.fixtures.database import sqlite_url
from tests.fixtures.floor import one_row_of_each_kind
from tests.reservations.factories import at, iso

API = "/api/v1"
DOCUMENT: dict[str, Any] = create_app(make_settings(sqlite_url(Path("unused.db")))).openapi()
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
# No row has it: a batch that names it fails after validation, never at validation.
NO_SUCH_ID = 999_999
_numbers = itertools.count(1)


def _table_number() -> str:
    return f"N{next(_numbers)}"


# A valid request of every operation with a JSON body, by operationId: path, then body.
# "{table}" and the like stand for the ids of the world below; a callable is called per request.
VALID: dict[str, tuple[str, dict[str, Any]]] = {
    "register": (
        "/auth/register",
        {
            "restaurantName": "New Place",
            "timezone": "UTC",
            "email": "nobody@example.com",
            "password": PASSWORD,
            "fullName": "Nina New",
        },
    ),
    "login": ("/auth/login", {"email": "nobody@example.com", "password": PASSWORD}),
    "refreshToken": ("/auth/refresh", {"refreshToken": "r" * 40}),
    "logout": ("/auth/logout", {"refreshToken": "r" * 40}),
    "createUser": (
        "/users",
        {"email": unique_email, "password": PASSWORD, "fullName": "Sam", "role": "server"},
    ),
    "updateUser": ("/users/{user}", {"fullName": "Hal H"}),
    "updateRestaurant": ("/restaurant", {"name": "Chez Nous"}),
    "createTable": ("/tables", {"tableNumber": _table_number, "capacity": 4}),
    "updateTable": ("/tables/{table}", {"capacity": 4}),
    "createGuest": ("/guests", {"name": "Bo", "partySize": 2}),
    "updateGuest": ("/guests/{guest}", {"notes": "vip"}),
    "seatGuest": ("/guests/{guest}/seat", {"tableId": "{table}"}),
    "createReservation": (
        "/reservations",
        {"guestName": "Grace", "partySize": 2, "startsAt": iso(at())},
    ),
    "updateReservation": ("/reservations/{reservation}", {"notes": "late"}),
    "checkInReservation": ("/reservations/{reservation}/check-in", {}),
    "batchUpdate": ("/batch/update", {"guests": []}),
}
# A valid batch item of every item schema: the entity it goes in, and the item.
VALID_ITEMS: dict[str, tuple[str, dict[str, Any]]] = {
    "TableCreateItem": ("tables", {"op": "create", "tableNumber": _table_number, "capacity": 2}),
    "TableUpdateItem": ("tables", {"op": "update", "id": "{table}", "capacity": 4}),
    "TableDeleteItem": ("tables", {"op": "delete", "id": NO_SUCH_ID}),
    "GuestCreateItem": ("guests", {"op": "create", "name": "Bo", "partySize": 2}),
    "GuestUpdateItem": ("guests", {"op": "update", "id": "{guest}", "notes": "vip"}),
    "GuestDeleteItem": ("guests", {"op": "delete", "id": NO_SUCH_ID}),
    "ReservationCreateItem": (
        "reservations",
        {"op": "create", "guestName": "Ada", "partySize": 2, "startsAt": iso(at())},
    ),
    "ReservationUpdateItem": (
        "reservations",
        {"op": "update", "id": "{reservation}", "notes": "late"},
    ),
    "ReservationDeleteItem": ("reservations", {"op": "delete", "id": NO_SUCH_ID}),
}


def json_bodies() -> dict[str, tuple[str, str, str]]:
    """operationId: (method, path, body schema name), for every operation with a JSON body."""
    found = {}
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                ref = content["application/json"]["schema"]["$ref"]
                found[operation["operationId"]] = (method, path, ref.rsplit("/", 1)[1])
    return found


def item_schemas() -> set[str]:
    """Every schema a batch list holds, as the document names them."""
    names = set()
    for entity in ("tables", "guests", "reservations"):
        union = SCHEMAS["BatchRequest"]["properties"][entity]["items"]["$ref"]
        members = SCHEMAS[union.rsplit("/", 1)[1]]["oneOf"]
        names |= {member["$ref"].rsplit("/", 1)[1] for member in members}
    return names


def nullable(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    return (
        {"type": "null"} in schema.get("anyOf", ())
        or types == "null"
        or (isinstance(types, list) and "null" in types)
    )


@dataclass
class World:
    owner: Actor
    ids: dict[str, int]

    def path(self, template: str) -> str:
        for placeholder, row_id in self.ids.items():
            template = template.replace(placeholder, str(row_id))
        return API + template

    def fill(self, value: Any) -> Any:
        if callable(value):
            return value()
        if isinstance(value, str):
            return self.ids.get(value, value)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


@pytest.fixture
async def world(client: AsyncClient, owner: Actor) -> World:
    return World(owner, await one_row_of_each_kind(client, owner))


def refused_for(response: Response, loc: list[Any]) -> bool:
    """Whether the answer is a 422 with an error at ``loc`` (or inside it)."""
    if response.status_code != 422:
        return False
    errors = response.json()["error"]["details"].get("errors", [])
    return any(error["loc"][: len(loc)] == loc for error in errors)


def test_every_request_body_and_batch_item_has_a_valid_example_here() -> None:
    assert set(json_bodies()) == set(VALID)
    assert item_schemas() == set(VALID_ITEMS)


@pytest.mark.parametrize("operation_id", sorted(VALID))
async def test_null_is_taken_exactly_where_the_document_says(
    client: AsyncClient, world: World, operation_id: str
) -> None:
    method, path, schema_name = json_bodies()[operation_id]
    template, valid = VALID[operation_id]
    url = world.path(template)
    assert url.removeprefix(API).count("/") == path.removeprefix(API).count("/")
    problems = []
    for name, prop in SCHEMAS[schema_name]["properties"].items():
        body = {**world.fill(valid), name: None}
        response = await client.request(method, url, json=body, headers=world.owner.headers)
        refused = refused_for(response, ["body", name])
        if nullable(prop) == refused:
            problems.append((name, nullable(prop), response.status_code, response.text))
    assert problems == []


@pytest.mark.parametrize("schema_name", sorted(VALID_ITEMS))
async def test_null_in_a_batch_item_is_taken_exactly_where_the_document_says(
    client: AsyncClient, world: World, schema_name: str
) -> None:
    entity, valid = VALID_ITEMS[schema_name]
    problems = []
    for name, prop in SCHEMAS[schema_name]["properties"].items():
        item = {**world.fill(valid), name: None}
        response = await client.post(
            f"{API}/batch/update", json={entity: [item]}, headers=world.owner.headers
        )
        loc = ["body", entity, 0]
        # Which item schema applies is read from `op`: without one, the item as a whole is
        # refused.
        refused = refused_for(response, loc if name == "op" else [*loc, name])
        if nullable(prop) == refused:
            problems.append((name, nullable(prop), response.status_code, response.text))
    assert problems == []


# Clearing by name (docs/contract.md, Conventions): a generated Swift client leaves a nil out of
# the body, so every null with a meaning can also be sent as a name in `clear`.
# A value each clearable field can be given, to see `clear` take it away again.
SETTABLE: dict[str, Any] = {
    "section": "Patio",
    "currentGuestId": "{guest}",
    "posX": 1.5,
    "posY": 2,
    "phone": "+14155550100",
    "tableId": "{table}",
    "quotedWaitMinutes": 15,
    "notes": "window seat",
    "email": "grace@example.com",
}
UPDATES = ("updateTable", "updateGuest", "updateReservation")


def clearable(schema_name: str) -> list[str]:
    """The words the schema's `clear` takes, as the document lists them."""
    clear = SCHEMAS[schema_name]["properties"].get("clear")
    if clear is None:
        return []
    return list(SCHEMAS[clear["items"]["$ref"].rsplit("/", 1)[1]]["enum"])


def test_every_field_an_update_takes_null_for_can_be_cleared_by_name() -> None:
    """On a create, null and leaving the field out store the same: only updates need `clear`."""
    updates = {json_bodies()[op][2] for op in UPDATES}
    updates |= {name for name in item_schemas() if name.endswith("UpdateItem")}
    assert len(updates) == 6
    mismatched = {}
    for name in sorted(updates):
        properties = SCHEMAS[name]["properties"]
        takes_null = {field for field, prop in properties.items() if nullable(prop)}
        if takes_null != set(clearable(name)):
            mismatched[name] = (sorted(takes_null), clearable(name))
    assert mismatched == {}
    assert {word for op in UPDATES for word in clearable(json_bodies()[op][2])} == set(SETTABLE)


CLEARS = [(op, word) for op in sorted(UPDATES) for word in clearable(json_bodies()[op][2])]


@pytest.mark.parametrize(("operation_id", "word"), CLEARS)
async def test_clearing_a_field_by_name_is_sending_it_null(
    client: AsyncClient, world: World, operation_id: str, word: str
) -> None:
    url = world.path(VALID[operation_id][0])
    headers = world.owner.headers
    given = await client.patch(url, json={word: world.fill(SETTABLE[word])}, headers=headers)
    assert given.status_code == 200, given.text
    assert given.json()[word] is not None
    cleared = await client.patch(url, json={"clear": [word]}, headers=headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()[word] is None
    assert cleared.json()["version"] == given.json()["version"] + 1
    again = await client.patch(url, json={"clear": [word]}, headers=headers)
    assert again.json()["version"] == cleared.json()["version"], "clearing twice changes nothing"


async def test_a_batch_item_clears_by_name(client: AsyncClient, world: World) -> None:
    guest = world.ids["{guest}"]
    headers = world.owner.headers
    items = [
        {"op": "update", "id": guest, "phone": "+14155550100", "notes": "vip"},
        {"op": "update", "id": guest, "clear": ["phone", "notes"]},
    ]
    response = await client.post(f"{API}/batch/update", json={"guests": items}, headers=headers)
    assert response.status_code == 200, response.text
    stored = (await client.get(f"{API}/guests/{guest}", headers=headers)).json()
    assert (stored["phone"], stored["notes"]) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "+14155550100", "clear": ["phone"]},
        {"clear": ["name"]},
        {"clear": ["party_size"]},
        {"clear": "phone"},
        {"clear": None},
    ],
)
async def test_clear_takes_only_clearable_fields_left_out_of_the_body(
    client: AsyncClient, world: World, body: dict[str, Any]
) -> None:
    url = world.path("/guests/{guest}")
    response = await client.patch(url, json=body, headers=world.owner.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


class _Word(Vocabulary):
    A = "a"
    B = "b"


def test_an_update_that_takes_null_must_be_clearable_by_name() -> None:
    with pytest.raises(TypeError, match="needs `clear`"):

        class _Unclearable(PatchModel):
            nullable = frozenset({"a"})
            a: int | None = None

    with pytest.raises(TypeError, match="names no field"):

        class _ClearsWhatIsNotThere(PatchModel):
            a: int | None = None
            clear: list[_Word] | None = None

    class _Clearable(PatchModel):
        a: int | None = None
        b: str | None = None
        c: int | None = None
        clear: list[_Word] | None = None

    assert _Clearable.nullable == {"a", "b"}
    assert _Clearable.model_validate({"clear": ["b"], "a": 1}).changes() == {"a": 1, "b": None}
