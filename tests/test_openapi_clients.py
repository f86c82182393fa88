"""The OpenAPI document as client generators read it (openapi-generator's Swift, Kotlin and
TypeScript clients; docs/contract.md, Conventions): one named enum per vocabulary, names no
generator
reserves, full and minimal dashboards as two types, integer bounds as JSON-safe integers, no
tuples, batch items told apart by `op`, and the headers, descriptions and examples a client
developer reads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from jsonschema import Draft202012Validator

from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import Actor
from tests.fixtures.database import sqlite_url
from tests.reservations.factories import at, iso

VOCABULARIES = {
    "GuestStatus",
    "TableStatus",
    "ReservationStatus",
    "Role",
    "TableAfterGuestLeaves",
    "BatchOp",
    "ErrorCode",
    # The fields an update may clear (docs/contract.md, Conventions), one per entity.
    "ClearableTableField",
    "ClearableGuestField",
    "ClearableReservationField",
}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    return create_app(make_settings(sqlite_url(path))).openapi()


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every object in the document, with its JSON pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def test_each_vocabulary_is_one_named_enum(document: dict[str, Any]) -> None:
    """An inline enum becomes a generated type per use (`GuestUpdateStatus`,
    `StatusListGuests`...); a named one is one type every field and filter shares."""
    schemas = document["components"]["schemas"]
    named = {name for name, schema in schemas.items() if "enum" in schema}
    assert named == VOCABULARIES
    inline = [
        where
        for where, node in walk(document)
        if "enum" in node and where.rsplit("/", 1)[0] != "#/components/schemas"
    ]
    assert inline == []
    for name in VOCABULARIES:
        assert schemas[name]["type"] == "string"
        assert schemas[name].get("description"), name


# Type names the generators' own code takes (openapi-generator 7: Swift's `ErrorResponse` and
# `Response`, Swift standard library and Foundation types, Kotlin's and TypeScript's runtime
# classes): a schema of such a name is renamed (`ModelErrorResponse`) or shadows the type.
RESERVED = {
    *("ErrorResponse", "Response", "Error", "Type", "Protocol", "Data", "Any", "Optional"),
    *("Result", "Set", "Array", "Dictionary", "String", "Int", "Bool", "Double", "URL", "Date"),
    *("Codable", "Decodable", "Encodable", "Class", "Void", "AnyCodable", "JSONEncodable"),
    *("ApiResponse", "ApiClient", "RequestConfig", "Configuration", "BaseAPI", "RequiredError"),
    *("ResponseError", "FetchError", "Request", "Headers", "Object", "Record", "Map", "List"),
}
PAGES = {"GuestPage", "TablePage", "ReservationPage", "UserPage"}


def test_schema_names_read_well_in_every_client(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    assert [n for n in names if not n.isidentifier() or not n[0].isupper() or "_" in n] == []
    assert names & RESERVED == set()
    assert names >= PAGES | {"TokenForm", "ApiError"}


def test_no_made_up_titles(document: dict[str, Any]) -> None:
    """Generators name inline types after a `title`: only the named schemas carry one (their
    own name); properties, bodies and parameters have none."""
    titled = [
        where
        for where, node in walk(document["components"])
        if "title" in node
        and isinstance(node["title"], str)
        and where.count("/") != 2  # #/schemas/<Name>
    ]
    titled += [
        where for where, node in walk(document["paths"]) if isinstance(node.get("title"), str)
    ]
    assert titled == []
    schemas = document["components"]["schemas"]
    assert [name for name, schema in schemas.items() if schema.get("title", name) != name] == []


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for step in ref.removeprefix("#/").split("/"):
        node = node[step]
    return node


ENTITIES = ("guests", "tables", "reservations")
MINIMAL_FIELDS = {
    "MinimalGuest": {"id", "name", "status", "tableId", "partySize", "version"},
    "MinimalTable": {"id", "tableNumber", "status", "currentGuestId", "version"},
    "MinimalReservation": {
        *("id", "guestName", "partySize", "startsAt", "tableId", "status", "version"),
    },
}


def test_full_and_minimal_dashboards_are_two_types_told_apart_by_rows(
    document: dict[str, Any],
) -> None:
    """`minimal=true` answers another type: a generator decodes either by the `rows` tag,
    never one merged model whose required fields a minimal row lacks."""
    response = document["paths"]["/api/v1/dashboard/data"]["get"]["responses"]["200"]
    answer = resolve(document, response["content"]["application/json"]["schema"]["$ref"])
    variants = {"full": "Dashboard", "minimal": "MinimalDashboard"}
    refs = {tag: f"#/components/schemas/{name}" for tag, name in variants.items()}
    assert answer["oneOf"] == [{"$ref": ref} for ref in refs.values()]
    assert answer["discriminator"] == {"propertyName": "rows", "mapping": refs}
    rows = {"full": ("Guest", "Table", "Reservation"), "minimal": tuple(MINIMAL_FIELDS)}
    for tag, ref in refs.items():
        variant = resolve(document, ref)
        assert variant["properties"]["rows"]["const"] == tag
        assert set(variant["required"]) == set(variant["properties"])
        arrays = [variant["properties"][e]["items"]["$ref"] for e in ENTITIES]
        assert arrays == [f"#/components/schemas/{name}" for name in rows[tag]]
    schemas = document["components"]["schemas"]
    for name, fields in MINIMAL_FIELDS.items():
        assert set(schemas[name]["properties"]) == fields
        assert set(schemas[name]["required"]) == fields
    # The batch answer's rows are the same minimal types.
    batch = schemas["BatchResponse"]["properties"]
    assert [batch[e]["items"]["$ref"] for e in ENTITIES] == [
        f"#/components/schemas/{name}" for name in MINIMAL_FIELDS
    ]


def test_parameters_are_left_out_never_null(document: dict[str, Any]) -> None:
    """A query or header parameter is sent or not; a nullable one makes generators take an
    `Optional` of an `Optional`, or a model named after the parameter."""
    nullable = [
        f"{method} {path} {parameter['name']}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for parameter in operation.get("parameters", [])
        if any(where for where, node in walk(parameter["schema"]) if node == {"type": "null"})
    ]
    assert nullable == []


JSON_SAFE = 2**53 - 1
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def test_integer_bounds_are_json_safe_integers(document: dict[str, Any]) -> None:
    """`50`, not `50.0`, and within what a double holds exactly: a client that parses JSON
    numbers as doubles (JavaScript) must read every bound as written."""
    problems = [
        (where, key, node[key])
        for where, node in walk(document)
        if node.get("type") == "integer"
        for key in (*BOUNDS, "default")
        if key in node and not (isinstance(node[key], int) and -JSON_SAFE <= node[key] <= JSON_SAFE)
    ]
    assert problems == []
    integers = [where for where, node in walk(document) if node.get("type") == "integer"]
    assert len(integers) > 50


def test_no_tuples(document: dict[str, Any]) -> None:
    """A tuple (`prefixItems`) becomes `[[AnyCodable]]` in Swift; an object has names."""
    assert [where for where, node in walk(document) if "prefixItems" in node] == []
    interval = document["components"]["schemas"]["OpeningInterval"]
    assert set(interval["required"]) == set(interval["properties"]) == {"open", "close"}
    restaurant = document["components"]["schemas"]["Restaurant"]["properties"]
    assert restaurant["serviceHours"] == {"$ref": "#/components/schemas/ServiceHours"}


BATCH_OPS = ("create", "update", "delete")


def test_batch_items_are_told_apart_by_a_required_op(document: dict[str, Any]) -> None:
    """Each item schema has `op` required, one value per schema, and each list's union maps
    every `op` to its schema: a generated client encodes and decodes the right type."""
    schemas = document["components"]["schemas"]
    for entity, name in (("tables", "Table"), ("guests", "Guest"), ("reservations", "Reservation")):
        items = schemas["BatchRequest"]["properties"][entity]["items"]
        assert items == {"$ref": f"#/components/schemas/{name}Item"}
        union = resolve(document, items["$ref"])
        mapping = {op: f"#/components/schemas/{name}{op.title()}Item" for op in BATCH_OPS}
        assert union["discriminator"] == {"propertyName": "op", "mapping": mapping}
        assert sorted(m["$ref"] for m in union["oneOf"]) == sorted(mapping.values())
        for op, ref in mapping.items():
            item = resolve(document, ref)
            assert "op" in item["required"]
            assert item["properties"]["op"]["const"] == op
            assert "default" not in item["properties"]["op"]
    assert schemas["BatchOp"]["enum"] == list(BATCH_OPS)


HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_and_path_parameter_is_described(document: dict[str, Any]) -> None:
    bare = [f"{m} {p}" for p, m, o in operations(document) if not o.get("description")]
    bare += [
        f"{m} {p} {parameter['name']}"
        for p, m, o in operations(document)
        for parameter in o.get("parameters", [])
        if parameter["in"] == "path" and not parameter.get("description")
    ]
    assert bare == []


def header_names(response: dict[str, Any]) -> set[str]:
    return set(response.get("headers", {}))


def test_response_headers_are_declared_where_they_are_sent(document: dict[str, Any]) -> None:
    """What a client reads from headers is in the generated client only if declared."""
    problems = []
    for path, method, operation in operations(document):
        if not path.startswith("/api/v1/"):
            continue
        label = f"{method} {path}"
        answers = operation["responses"]
        for status, response in answers.items():
            expected = {"X-Request-ID"}
            expected |= {"401": {"WWW-Authenticate"}, "429": {"Retry-After"}}.get(status, set())
            expected |= {"503": {"Retry-After"}}.get(status, set())
            idempotent = method == "post" and {"OAuth2PasswordBearer": []} in operation.get(
                "security", []
            )
            if idempotent and int(status) < 500:
                expected.add("Idempotent-Replayed")
            if idempotent and status == "409":
                expected.add("Retry-After")
            if missing := expected - header_names(response):
                problems.append((label, status, sorted(missing)))
    assert problems == []
    dashboard = document["paths"]["/api/v1/dashboard/data"]["get"]["responses"]
    for status in ("200", "304"):
        assert {"ETag", "Cache-Control"} <= header_names(dashboard[status])


# docs/contract.md, Errors: the codes each status answers with.
CODES = {
    "400": {"bad_request"},
    "401": {"unauthorized"},
    "403": {"forbidden"},
    "404": {"not_found"},
    "409": {
        *("conflict", "table_occupied", "table_unavailable", "invalid_transition"),
        *("capacity_exceeded", "reservation_conflict", "version_conflict", "duplicate"),
    },
    "412": {"precondition_failed"},
    "413": {"payload_too_large"},
    "422": {"validation_error", "idempotency_key_reused"},
    "429": {"rate_limited"},
    "500": {"internal_error"},
    "503": {"unavailable"},
}


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({"allOf": [schema], "components": document["components"]})


def test_error_examples_carry_a_code_of_their_status(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]["application/json"]
            examples = content.get("examples", {})
            if not examples:
                problems.append((method, path, status, "no example"))
            check = validator(document, content["schema"])
            for name, example in examples.items():
                # Shared examples, each named once in the components.
                example = resolve(document, example["$ref"])
                code = example["value"]["error"]["code"]
                if code not in CODES[status] or not check.is_valid(example["value"]):
                    problems.append((method, path, status, name))
    assert problems == []


def request_examples(document: dict[str, Any]) -> Iterator[tuple[str, str, str, Any, Any]]:
    """(method, path, name, value, schema) of every request body example."""
    for path, method, operation in operations(document):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for name, example in content.get("examples", {}).items():
                yield method, path, name, example["value"], content["schema"]


def test_request_examples_are_valid_bodies(document: dict[str, Any]) -> None:
    examples = list(request_examples(document))
    invalid = [
        (method, path, name)
        for method, path, name, value, schema in examples
        if not validator(document, schema).is_valid(value)
    ]
    assert invalid == []
    named = {(method, path, name): value for method, path, name, value, _ in examples}
    assert named["patch", "/api/v1/guests/{guest_id}", "unseat"] == {"tableId": None}
    assert named["post", "/api/v1/guests/{guest_id}/seat", "seat"] == {"tableId": 12}
    batch = named["post", "/api/v1/batch/update", "small"]
    assert {item["op"] for item in batch["guests"]} == {"create", "update", "delete"}


async def test_the_server_takes_the_request_examples(
    document: dict[str, Any], client: AsyncClient, owner: Actor
) -> None:
    """Each example is a body the server validates: it may name rows this restaurant does
    not have (404), never be malformed (400, 422)."""
    refused = []
    for method, path, name, value, _ in request_examples(document):
        body = dict(value)
        if "startsAt" in body:  # "in the past" would be a 422 once the example's date passes
            body["startsAt"] = iso(at())
        url = re.sub(r"\{\w+\}", "1", path)
        response = await client.request(method, url, json=body, headers=owner.headers)
        if response.status_code in (400, 422):
            refused.append((method, path, name, response.text))
    assert refused == []
