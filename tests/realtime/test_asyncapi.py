"""GET /asyncapi.json: an AsyncAPI 3.0 document of the WebSocket whose schemas the real messages
meet, both ways, and whose rows are the OpenAPI document's own schemas."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from app import contract
from app.realtime import asyncapi
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest, create_table, guest_url, seat
from tests.fixtures.realtime import Feed, feed, serve
from tests.reservations.factories import create_reservation

BATCH = "/api/v1/batch/update"
RESTAURANT = "/api/v1/restaurant"
# Where a validator finds the document, so that its "#/components/..." references resolve.
BASE = "urn:qtable:asyncapi"
ROWS = ("MinimalGuest", "MinimalTable", "MinimalReservation", "DeletedIds")


@pytest.fixture(scope="module")
def built() -> tuple[dict[str, Any], dict[str, Any]]:
    """The AsyncAPI and the OpenAPI documents of one app."""
    app = contract._app()
    return asyncapi.document(app.version), app.openapi()


@pytest.fixture(scope="module")
def document(built: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return built[0]


def token_of(actor: Actor) -> str:
    return actor.headers["Authorization"].split(" ", 1)[1]


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local reference ("#/a/b"), followed through any reference it lands on."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return resolve(document, node["$ref"])
    return node


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def closed(schema: Any) -> Any:
    """The schema with every object closed: a field the document does not name is an error."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [closed(value) for value in schema]
    return schema


class Described:
    """The messages an operation of the document names, each with validators of its payload
    (as written, and closed)."""

    def __init__(self, document: dict[str, Any], operation: str) -> None:
        strict = copy.deepcopy(document)
        strict["components"]["schemas"] = closed(strict["components"]["schemas"])
        registries = [
            Registry().with_resource(BASE, Resource.from_contents(d, default_specification=DRAFT7))
            for d in (document, strict)
        ]
        self.validators: dict[str, list[Draft7Validator]] = {}
        for ref in document["operations"][operation]["messages"]:
            message = resolve(document, ref["$ref"])
            payload = message["payload"]["$ref"]
            self.validators[message["name"]] = [
                Draft7Validator(
                    {"$ref": BASE + payload},
                    registry=registry,
                    format_checker=Draft7Validator.FORMAT_CHECKER,
                )
                for registry in registries
            ]

    def check(self, message: dict[str, Any]) -> str:
        """The one described message that ``message`` is (by its payload schema); raises
        when it is none of them, several, or holds a field the document does not name."""
        matches = [
            name for name, (validator, _) in self.validators.items() if validator.is_valid(message)
        ]
        assert matches == [message.get("type")], (matches, message)
        strict = self.validators[matches[0]][1]
        error = next(strict.iter_errors(message), None)
        if error is not None:
            raise error
        return matches[0]


# ----- the document --------------------------------------------------------------------------


def test_the_document_is_asyncapi_3(document: dict[str, Any]) -> None:
    """What AsyncAPI 3.0.0 requires of it, and that every reference lands."""
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert set(document) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }
    for ref in references(document):
        resolve(document, ref)
    for server in document["servers"].values():
        assert server["protocol"] in {"ws", "wss"}
        assert set(re.findall(r"{(\w+)}", server["host"])) == set(server.get("variables", {}))
        for scheme in server["security"]:
            assert resolve(document, scheme["$ref"])["type"] in {"httpApiKey", "http"}

    (name, channel), *others = document["channels"].items()
    assert others == []
    assert channel["address"] == "/api/v1/ws"
    binding = channel["bindings"]["ws"]
    assert binding["method"] == "GET" and binding["bindingVersion"] == "0.1.0"
    assert set(binding["query"]["properties"]) == {"token"}
    assert set(binding["headers"]["properties"]) == {"Authorization"}

    # Every message of the channel is one direction's, and an operation names only messages of
    # its own channel, by reference into it.
    directions: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        assert operation["channel"] == {"$ref": f"#/channels/{name}"}
        for ref in operation["messages"]:
            prefix, _, message_id = ref["$ref"].rpartition("/")
            assert prefix == f"#/channels/{name}/messages" and message_id in channel["messages"]
            directions.setdefault(operation["action"], set()).add(message_id)
    assert directions == {
        "send": {"hello", "changes", "resync", "pong"},
        "receive": {"resume", "ping"},
    }

    for message_id in channel["messages"]:
        message = resolve(document, f"#/channels/{name}/messages/{message_id}")
        assert message["name"] == message_id
        assert message["contentType"] == "application/json"
        payload = resolve(document, message["payload"]["$ref"])
        assert payload["type"] == "object"
        kind = {k: v for k, v in payload["properties"]["type"].items() if k != "title"}
        assert kind == {"const": message_id, "type": "string"}
        assert "type" in payload["required"]
    for schema in document["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)


def test_the_descriptions_name_the_close_codes_and_the_rules(document: dict[str, Any]) -> None:
    channel = document["channels"]["feed"]["description"]
    for code in ("4401", "1008", "1009", "1001"):
        assert f"| {code} |" in channel
    rules = document["info"]["description"]
    for word in ("`hello` first", "empty arrays", "previousCursor", "midnight", "`resume`"):
        assert word in rules


def test_the_examples_are_what_they_describe(document: dict[str, Any]) -> None:
    for operation in ("sendFeed", "receiveRequests"):
        described = Described(document, operation)
        for ref in document["operations"][operation]["messages"]:
            message = resolve(document, ref["$ref"])
            for example in message["examples"]:
                assert described.check(example["payload"]) == message["name"]


def test_a_message_that_breaks_the_document_is_refused(document: dict[str, Any]) -> None:
    described = Described(document, "sendFeed")
    changes = {
        "type": "changes",
        "cursor": "a",
        "previousCursor": "b",
        "guests": [],
        "tables": [],
        "reservations": [],
        "deleted": {"guests": [], "tables": [], "reservations": []},
    }
    assert described.check(changes) == "changes"
    row = {"id": 1, "name": "Ana", "status": "seated", "tableId": 2, "partySize": 2, "version": 1}
    assert described.check({**changes, "guests": [row]}) == "changes"
    for wrong in (
        {k: v for k, v in changes.items() if k != "previousCursor"},
        {**changes, "guests": [{**row, "status": "sleeping"}]},
        {**changes, "deleted": {"guests": ["1"], "tables": [], "reservations": []}},
        {"type": "hello"},
        {"type": "goodbye"},
    ):
        with pytest.raises(AssertionError):
            described.check(wrong)
    with pytest.raises(ValidationError):
        described.check({"type": "pong", "extra": True})


def test_the_rows_are_the_openapi_documents_schemas(
    built: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Every schema a message shares with the HTTP API (the rows, and whatever they refer to)
    is there under the same name with the same content, so the two cannot drift apart."""
    document, openapi = built
    theirs = openapi["components"]["schemas"]
    ours = document["components"]["schemas"]
    messages = {
        message.model.__name__
        for message in (asyncapi.SERVER_MESSAGES | asyncapi.CLIENT_MESSAGES).values()
    }
    shared = set(ours) - messages
    assert set(ROWS) <= shared
    for name in sorted(shared):
        assert name in theirs, f"{name} is not in the OpenAPI document"
        assert ours[name] == theirs[name], name
    for ref in references([ours[name] for name in shared]):
        assert ref.removeprefix("#/components/schemas/") in shared, ref


# ----- the messages on a real socket -----------------------------------------------------------


async def test_every_message_on_a_real_socket_is_as_described(
    app: FastAPI, client: AsyncClient, owner: Actor, document: dict[str, Any]
) -> None:
    sent = Described(document, "sendFeed")
    answered = Described(document, "receiveRequests")
    seen: list[dict[str, Any]] = []

    async def receive(socket: Feed) -> dict[str, Any]:
        message = await socket.next()
        sent.check(message)
        seen.append(message)
        return message

    async def request(socket: Feed, message: dict[str, Any]) -> None:
        answered.check(message)
        await socket.send(message)

    async with serve(app) as base, feed(base, token_of(owner)) as socket:
        hello: dict[str, Any] = socket.hello  # type: ignore[attr-defined]
        assert sent.check(hello) == "hello"
        seen.append(hello)

        table = await create_table(client, owner, "1")
        await receive(socket)
        spare = await create_table(client, owner, "2")
        await receive(socket)
        guest = await create_guest(client, owner, "Ana")
        await receive(socket)
        await seat(client, owner, guest["id"], table["id"])
        seated = await receive(socket)
        assert seated["guests"] and seated["tables"]
        reservation = await create_reservation(client, owner)
        assert (await receive(socket))["reservations"][0]["id"] == reservation["id"]
        batch = await client.post(
            BATCH,
            headers=owner.headers,
            json={
                "guests": [
                    {"op": "create", "name": "Bo", "partySize": 3},
                    {"id": guest["id"], "notes": "window seat"},
                ],
                "tables": [{"op": "delete", "id": spare["id"]}],
                "reservations": [{"op": "delete", "id": reservation["id"]}],
            },
        )
        assert batch.status_code == 200, batch.text
        batched = await receive(socket)
        assert len(batched["guests"]) == 2
        assert batched["deleted"]["tables"] == [spare["id"]]
        assert batched["deleted"]["reservations"] == [reservation["id"]]
        deleted = await client.delete(guest_url(guest["id"]), headers=owner.headers)
        assert deleted.status_code == 204, deleted.text
        assert (await receive(socket))["deleted"]["guests"] == [guest["id"]]
        renamed = await client.patch(RESTAURANT, headers=owner.headers, json={"name": "Renamed"})
        assert renamed.status_code == 200, renamed.text
        empty = await receive(socket)
        assert empty["guests"] == empty["tables"] == empty["reservations"] == []
        chain = list(seen)

        await request(socket, {"type": "ping"})
        assert (await receive(socket))["type"] == "pong"
        await request(socket, {"type": "resume", "cursor": hello["cursor"]})
        merged = await receive(socket)
        assert merged["type"] == "changes" and merged["previousCursor"] == hello["cursor"]
        await request(socket, {"type": "resume", "cursor": "not-a-cursor"})
        assert (await receive(socket))["type"] == "resync"
        await socket.nothing(0.2)

    assert {m["type"] for m in seen} == {"hello", "changes", "resync", "pong"}
    for key in ("guests", "tables", "reservations"):
        assert any(m.get(key) for m in seen), key
        assert any(m.get("deleted", {}).get(key) for m in seen), key
    for before, after in pairwise(chain):
        assert after["previousCursor"] == before["cursor"]
