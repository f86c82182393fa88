"""The OpenAPI document the iOS app generates its client from: valid, named, tagged, and
honest about errors and authentication."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from openapi_spec_validator import validate

from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.database import sqlite_url

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATION_ID = re.compile(r"^[a-z][A-Za-z0-9]+$")
SCHEME = "OAuth2PasswordBearer"
ERROR_SCHEMA_REF = "#/components/schemas/ApiError"
# docs/contract.md: everything under /api/v1 needs a bearer token except these.
PUBLIC_API_OPERATIONS = {"register", "login", "issueToken", "refreshToken"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Building the document touches no database: the file is never created.
    path: Path = tmp_path_factory.mktemp("openapi") / "unused.db"
    return create_app(make_settings(sqlite_url(path))).openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def api_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    return ((p, m, o) for p, m, o in operations(document) if p.startswith("/api/v1/"))


def label(path: str, method: str) -> str:
    return f"{method.upper()} {path}"


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_operation_ids_are_unique_camel_case(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert ids, "the document has no operations"
    missing = [label(p, m) for p, m, o in operations(document) if "operationId" not in o]
    assert missing == []
    assert [i for i in ids if not OPERATION_ID.match(i)] == []
    assert [i for i, count in Counter(ids).items() if count > 1] == []


def test_every_operation_has_a_tag(document: dict[str, Any]) -> None:
    untagged = [label(p, m) for p, m, o in operations(document) if not o.get("tags")]
    assert untagged == []


def test_api_operations_document_422_and_500_with_the_envelope(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in api_operations(document):
        for status in ("422", "500"):
            response = operation["responses"].get(status)
            if response is None:
                problems.append(f"{label(path, method)}: no {status}")
                continue
            schema = response["content"]["application/json"]["schema"]
            if schema.get("$ref") != ERROR_SCHEMA_REF:
                problems.append(f"{label(path, method)}: {status} is not the error envelope")
    assert problems == []


def test_authenticated_operations_need_the_bearer_token_and_document_401(
    document: dict[str, Any],
) -> None:
    secured = {
        operation["operationId"]
        for _, _, operation in api_operations(document)
        if {SCHEME: []} in operation.get("security", [])
    }
    everything = {operation["operationId"] for _, _, operation in api_operations(document)}
    assert everything >= PUBLIC_API_OPERATIONS
    assert secured == everything - PUBLIC_API_OPERATIONS
    undocumented = [
        label(p, m)
        for p, m, o in api_operations(document)
        if o["operationId"] in secured and "401" not in o["responses"]
    ]
    assert undocumented == []


def test_bearer_scheme_is_the_oauth2_password_flow(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"][SCHEME]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


async def test_openapi_json_and_docs_are_served(app: FastAPI, client: AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == app.openapi()

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text
