"""Every error status answers with the one envelope, and every response with X-Request-ID."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core.security import encode_access_token
from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, Actor, add_staff, unique_email
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.errors import assert_error, assert_validation_error

LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_400_for_a_body_that_is_not_json(client: AsyncClient) -> None:
    response = await client.post(
        LOGIN,
        content=b'{"email": "a@b.c", "password": ',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "bad_request")


async def test_401_without_a_token(client: AsyncClient) -> None:
    response = await client.get("/api/v1/users")
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_403_when_the_role_may_not(client: AsyncClient, owner: Actor) -> None:
    host = await add_staff(client, owner, "host")
    response = await client.patch("/api/v1/restaurant", headers=host.headers, json={"name": "X"})
    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/nope", "/api/v2/users", "/api/v1/users/1/x"])
async def test_404_for_an_unknown_route(client: AsyncClient, owner: Actor, path: str) -> None:
    assert_error(await client.get(path, headers=owner.headers), 404, "not_found")


async def test_404_for_a_missing_row(client: AsyncClient, owner: Actor) -> None:
    assert_error(await client.get("/api/v1/users/424242", headers=owner.headers), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/v1/restaurant"), ("PUT", "/api/v1/users/1"), ("GET", LOGIN)],
)
async def test_405_for_a_wrong_method(
    client: AsyncClient, owner: Actor, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=owner.headers)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"]


async def test_409_for_a_duplicate(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "restaurantName": "Again",
            "email": owner.email,
            "password": PASSWORD,
            "fullName": "Twin",
        },
    )
    assert_error(response, 409, "duplicate")


async def test_409_conflict_for_the_last_owner(client: AsyncClient, owner: Actor) -> None:
    response = await client.delete(f"/api/v1/users/{owner.user_id}", headers=owner.headers)
    assert_error(response, 409, "conflict")


async def test_412_for_a_stale_if_match(client: AsyncClient, owner: Actor) -> None:
    response = await client.patch(
        "/api/v1/restaurant", headers={**owner.headers, "If-Match": '"99"'}, json={"name": "X"}
    )
    assert_error(response, 412, "precondition_failed")


def padded_login(size: int) -> bytes:
    """A valid JSON login body of exactly ``size`` bytes (whitespace padded)."""
    body = b'{"email": "nobody@example.com", "password": "not the password"}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def test_a_body_of_exactly_1_mib_is_accepted(client: AsyncClient) -> None:
    body = padded_login(MIB)
    assert len(body) == MIB
    response = await client.post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert_error(response, 401, "unauthorized")


async def test_413_for_a_declared_length_above_1_mib(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(
        LOGIN, content=padded_login(MIB + 1), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")

    staff = await client.post(
        "/api/v1/users",
        headers={**owner.headers, "content-type": "application/json"},
        content=padded_login(2 * MIB),
    )
    assert_error(staff, 413, "payload_too_large")


async def test_413_for_a_streamed_body_above_1_mib(client: AsyncClient, owner: Actor) -> None:
    email = unique_email("streamed")

    async def chunks() -> AsyncIterator[bytes]:
        yield (
            b'{"email": "' + email.encode() + b'", "password": "' + PASSWORD.encode() + b'", '
            b'"fullName": "Big", "role": "host", "x": "'
        )
        for _ in range(20):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = await client.post(
        "/api/v1/users",
        headers={**owner.headers, "content-type": "application/json"},
        content=chunks(),
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    listed = await client.get("/api/v1/users", headers=owner.headers)
    assert email not in {u["email"] for u in listed.json()["items"]}


async def test_422_lists_each_field(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "short"}
    )
    errors = assert_validation_error(response, "email", "password", "restaurantName", "fullName")
    assert all(set(err) >= {"loc", "msg"} for err in errors)
    assert "Traceback" not in response.text


async def test_429_after_too_many_attempts(database_url: str) -> None:
    app = create_app(make_settings(database_url, auth_max_attempts_per_client=2))
    async with serve(app) as client:
        for _ in range(2):
            body = {"email": "nobody@example.com", "password": "wrong password"}
            assert_error(await client.post(LOGIN, json=body), 401, "unauthorized")
        response = await client.post(LOGIN, json=body)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1


async def test_500_for_an_unhandled_exception_reveals_nothing(database_url: str) -> None:
    app = create_app(make_settings(database_url))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret: SELECT password_hash FROM users")

    async with serve(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
        after = await client.get("/healthz")

    body = assert_error(response, 500, "internal_error")
    assert body["requestId"] == "boom-1"
    assert body["error"]["details"] == {}
    for leak in ("Traceback", "RuntimeError", "password_hash", "SELECT", "boom()"):
        assert leak not in response.text
    assert after.status_code == 200  # the app keeps serving


async def test_503_when_the_database_is_unreachable() -> None:
    # Nothing listens on port 1: every connection attempt is refused.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/qtable")
    token = encode_access_token(
        user_id=1,
        restaurant_id=1,
        role="owner",
        generation=1,
        secret=settings.jwt_secret,
        minutes=5,
    )
    async with serve(create_app(settings)) as client:
        ready = await client.get("/readyz")
        login = await client.post(LOGIN, json={"email": "a@example.com", "password": PASSWORD})
        users = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        alive = await client.get("/healthz")

    for response in (ready, login, users):
        body = assert_error(response, 503, "unavailable")
        assert response.headers["retry-after"] == "1"
        assert "127.0.0.1" not in response.text and "Traceback" not in response.text
        assert body["error"]["details"] == {}
    assert alive.status_code == 200


async def test_503_when_sqlite_is_locked_then_the_retry_succeeds(
    sqlite_template: SQLiteTemplate, tmp_path: Path
) -> None:
    url = sqlite_template.fresh(tmp_path)
    app = create_app(make_settings(url, sqlite_busy_timeout_ms=0))
    registration = {
        "restaurantName": "Busy",
        "email": unique_email("busy"),
        "password": PASSWORD,
        "fullName": "Bea Busy",
    }
    holder = sqlite3.connect(url.removeprefix("sqlite+qtable:///"), isolation_level=None)
    async with serve(app) as client:
        try:
            holder.execute("BEGIN IMMEDIATE")
            busy = await client.post("/api/v1/auth/register", json=registration)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        retried = await client.post("/api/v1/auth/register", json=registration)

    assert_error(busy, 503, "unavailable")
    assert busy.headers["retry-after"] == "1"
    assert retried.status_code == 201, retried.text


# ----- X-Request-ID -----------------------------------------------------------------------------


async def test_every_answer_echoes_the_request_id(client: AsyncClient, owner: Actor) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    calls: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", "/healthz", {}, None),
        ("GET", "/api/v1/auth/me", owner.headers, None),
        ("GET", "/api/v1/auth/me", forged, None),
        ("GET", "/api/v1/nope", owner.headers, None),
        ("DELETE", "/api/v1/restaurant", owner.headers, None),
        ("PATCH", "/api/v1/restaurant", owner.headers, {"name": None}),
        ("POST", LOGIN, {}, b"x" * (MIB + 1)),
        ("POST", LOGIN, {"content-type": "application/json"}, b"{not json"),
    ]
    statuses = set()
    for index, (method, path, headers, body) in enumerate(calls):
        request_id = f"client-{index}.abc:DEF_9"
        headers = {**headers, "X-Request-ID": request_id}
        if isinstance(body, bytes):
            response = await client.request(method, path, headers=headers, content=body)
        else:
            response = await client.request(method, path, headers=headers, json=body)
        statuses.add(response.status_code)
        assert response.headers["x-request-id"] == request_id, (path, response.status_code)
        if response.status_code >= 400:
            assert response.json()["requestId"] == request_id
    assert statuses == {200, 400, 401, 404, 405, 413, 422}


async def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(client: AsyncClient) -> None:
    plain = await client.get("/api/v1/nope")
    bad = await client.get("/api/v1/nope", headers={"X-Request-ID": "no spaces <allowed>"})
    long = await client.get("/healthz", headers={"X-Request-ID": "a" * 129})

    ids = {r.headers["x-request-id"] for r in (plain, bad, long)}
    assert len(ids) == 3
    assert all(len(i) == 32 and all(c in "0123456789abcdef" for c in i) for i in ids)
    assert assert_error(bad, 404, "not_found")["requestId"] == bad.headers["x-request-id"]


@pytest.mark.parametrize(
    ("limit", "named"), [(MIB, "1 MiB"), (64 * 1024, "64 KiB"), (3000, "3000 bytes")]
)
async def test_413_names_the_configured_limit(database_url: str, limit: int, named: str) -> None:
    app = create_app(make_settings(database_url, max_body_bytes=limit))
    async with serve(app) as http:
        declared = await http.post(
            LOGIN, content=padded_login(limit + 1), headers={"content-type": "application/json"}
        )

        async def chunks() -> AsyncIterator[bytes]:
            yield padded_login(limit + 1)

        streamed = await http.post(
            LOGIN, content=chunks(), headers={"content-type": "application/json"}
        )
    for response in (declared, streamed):
        assert_error(response, 413, "payload_too_large")
        assert response.json()["error"]["message"] == f"Request body is larger than {named}"
