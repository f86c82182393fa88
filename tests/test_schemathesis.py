"""Schema-driven fuzzing: every operation of the app's own OpenAPI document, driven with
generated requests (valid and invalid) through the ASGI app, as the owner of a restaurant that
already has staff, tables, guests and reservations.

For every response: never a 5xx; every 4xx/5xx body is exactly the error envelope of
docs/contract.md; the
status code is one the operation documents; the body matches the documented schema and the
documented content type.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, unique_email
from tests.fixtures.database import SQLiteTemplate, sqlite_url

API = "/api/v1"
# High enough that the fuzzer's register/login/token/refresh calls never trip the limiter.
NO_RATE_LIMIT = 1_000_000
# The set-up creates ids 1..5 of every kind (users 1..4); 6 is often one the fuzzer created.
KNOWN_IDS = 6
# What /openapi.json serves. Building it touches no database (the file is never created).
DOCUMENT: dict[str, Any] = create_app(make_settings(sqlite_url(Path("unused.db")))).openapi()


def error_envelope(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """docs/contract.md, Errors: every 4xx and 5xx body is the envelope and nothing else."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"not JSON: {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "requestId"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], dict), body
    assert isinstance(body["requestId"], str) and body["requestId"], body
    # A replayed answer (Idempotency-Key) is the first answer's body, its requestId included.
    if response.headers.get("idempotent-replayed", [""])[0] != "true":
        assert body["requestId"] == response.headers["x-request-id"][0], body


CHECKS = [
    not_a_server_error,
    error_envelope,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_app(tmp_path: Path, sqlite_template: SQLiteTemplate) -> Iterator[FastAPI]:
    app = create_app(
        make_settings(
            sqlite_template.fresh(tmp_path),
            auth_max_attempts_per_client=NO_RATE_LIMIT,
            auth_max_failures_per_email=NO_RATE_LIMIT,
        )
    )
    yield app
    # Schemathesis runs the app's lifespan (engine, hub) on its own event loop thread, from the
    # first request on; stop it so the database is disposed before tmp_path goes.
    asgi.shutdown_lifespans()


@pytest.fixture
def owner_headers(fuzz_app: FastAPI) -> dict[str, str]:
    return seed_restaurant(fuzz_app)


def seed_restaurant(app: FastAPI) -> dict[str, str]:
    """Register a restaurant and give it rows, so that small ids (1..5) exist."""
    with asgi.get_client(app) as client:

        def post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
            response = client.post(f"{API}{path}", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return response.json()

        registered = post(
            "/auth/register",
            {
                "restaurantName": "Fuzz Bistro",
                "timezone": "Europe/Paris",
                "email": unique_email("fuzz-owner"),
                "password": PASSWORD,
                "fullName": "Olive Owner",
            },
        )
        headers = {"Authorization": f"Bearer {registered['accessToken']}"}
        for role in ("manager", "host", "server"):
            post(
                "/users",
                {
                    "email": unique_email(f"fuzz-{role}"),
                    "password": PASSWORD,
                    "fullName": f"A {role}",
                    "role": role,
                },
                headers,
            )
        for number in range(1, 6):
            post(
                "/tables",
                {"tableNumber": str(number), "capacity": 2 * number, "section": "main"},
                headers,
            )
        for index in range(1, 6):
            post("/guests", {"name": f"Guest {index}", "partySize": index}, headers)
        seated = client.post(f"{API}/guests/1/seat", json={"tableId": 1}, headers=headers)
        assert seated.status_code == 200, seated.text
        tomorrow = datetime.now(UTC).replace(hour=19, minute=0, second=0, microsecond=0)
        tomorrow += timedelta(days=1)
        for index in range(1, 6):
            post(
                "/reservations",
                {
                    "guestName": f"Booker {index}",
                    "partySize": 2,
                    "startsAt": (tomorrow + timedelta(days=index)).isoformat(),
                    "tableId": index,
                },
                headers,
            )
        return headers


def load_schema() -> schemathesis.BaseSchema:
    """The document the app serves at /openapi.json, loaded when the module is collected;
    each test sends its requests to an app of its own on a fresh database."""
    config = schemathesis.Config.from_dict(
        {
            # Repeatable in CI: the same requests on every run.
            "seed": 20261124,
            "generation": {"mode": "all", "deterministic": True},
            # Examples and fuzzing, bounded by max_examples below; the coverage phase
            # enumerates hundreds of boundary cases per operation and would take minutes.
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=config)


# `schemathesis.pytest.from_fixture` would build the schema from a fixture, but it does not
# run under pytest 9 (it sets `Node._nodeid`, which pytest 9 no longer has). Under pytest 9
# the items below also share one node id instead of `...[GET /api/v1/tables]`; a failure
# still names its operation and the request to reproduce it.
schema = load_schema()


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Generated ids rarely name a row: often use one that exists (or that the fuzzer just
    created) instead."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        name: st.integers(1, KNOWN_IDS) if isinstance(value, int) else st.just(value)
        for name, value in path_parameters.items()
    }
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(known))


FUZZ_EXAMPLES = int(os.environ.get("QTABLE_FUZZ_EXAMPLES", "20"))


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The app and its restaurant are set up once per operation, not once per example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_honours_its_contract(
    case: schemathesis.Case, fuzz_app: FastAPI, owner_headers: dict[str, str]
) -> None:
    response = case.call(app=fuzz_app, headers=owner_headers)
    case.validate_response(response, checks=CHECKS, headers=owner_headers)


STATEFUL_STEPS = int(os.environ.get("QTABLE_STATEFUL_STEPS", "6"))
STATEFUL_EXAMPLES = int(os.environ.get("QTABLE_STATEFUL_EXAMPLES", "25"))


def test_linked_sequences_honour_the_contract(
    tmp_path: Path, sqlite_template: SQLiteTemplate
) -> None:
    """Stateful: sequences of calls following the links schemathesis infers from the document
    (a created guest's id into its GET, PATCH, seat, complete, DELETE; a table's into its
    own; ...), so that the writes reach rows the sequence made rather than 404s. The same
    checks on every answer. QTABLE_STATEFUL_EXAMPLES and QTABLE_STATEFUL_STEPS make it longer
    (README, Tests)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": 20261128,
            "generation": {"mode": "all", "deterministic": True},
            "phases": {"stateful": {"enabled": True}},
        }
    )
    stateful = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=config)
    machine = stateful.as_state_machine()
    assert stateful.statistic.transitions.total > 100  # the links it found (187 today)
    calls: list[str] = []

    class Workflow(machine):  # type: ignore[misc, valid-type]
        """Each sequence on a restaurant of its own, fresh: what a sequence meets depends on
        nothing but the sequence (Hypothesis checks that it does)."""

        def setup(self) -> None:
            self.app = create_app(
                make_settings(
                    sqlite_template.fresh(tmp_path),
                    auth_max_attempts_per_client=NO_RATE_LIMIT,
                    auth_max_failures_per_email=NO_RATE_LIMIT,
                )
            )
            self.headers = seed_restaurant(self.app)

        def teardown(self) -> None:
            asgi.shutdown_lifespans()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": self.app, "headers": self.headers}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            calls.append(f"{case.method} {case.path} {response.status_code}")

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, headers=self.headers)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links made the writes reach rows: some of them succeeded on an id from a response.
    reached = [c for c in calls if re.search(r"\{\w+\}", c) and c.endswith((" 200", " 204"))]
    print(
        f"stateful: {len(calls)} calls, {len(reached)} writes or reads of a linked row answered 2xx"
    )
    assert reached, calls[:50]
