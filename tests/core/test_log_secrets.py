"""Logs keep secrets: whatever fails on an auth route, no log line holds a password, a
password hash, an email, an access token or a refresh token."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text
from uvicorn.logging import DefaultFormatter

from app.core.logging import JsonFormatter, RedactingFilter, format_exception, redact
from app.models import User
from tests.fixtures.auth import PASSWORD, Actor, unique_email

API = "/api/v1"


@pytest.fixture(autouse=True)
async def _drop_refusals(app: FastAPI) -> AsyncIterator[None]:
    yield
    async with app.state.db.engine.begin() as conn:
        for table in ("users", "refresh_tokens"):
            for operation in ("insert", "update"):
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text(f"DROP TRIGGER IF EXISTS refuse_{table}_{operation} ON {table}")
                    )
                else:
                    await conn.execute(text(f"DROP TRIGGER IF EXISTS refuse_{table}_{operation}"))


@pytest.fixture
def log_lines(app: FastAPI) -> Iterator[io.StringIO]:
    """Everything the application logs, as it would reach the console."""
    buffer = io.StringIO()
    handler = logging.getLogger("qtable").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    level = logging.getLogger("qtable").level
    logging.getLogger("qtable").setLevel(logging.DEBUG)
    yield buffer
    logging.getLogger("qtable").setLevel(level)
    handler.setStream(previous)


async def _refuse_writes(app: FastAPI, table: str, *operations: str) -> None:
    """Make the database itself fail a write to ``table``: on PostgreSQL with an error text
    that quotes the whole row, on SQLite with an error raised while the row's values are
    bound (a trigger reading a table that does not exist)."""
    async with app.state.db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION qtable_refuse() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'refused: %', row_to_json(NEW)::text; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
        for operation in operations:
            name = f"refuse_{table}_{operation.lower()}"
            body = (
                "FOR EACH ROW EXECUTE FUNCTION qtable_refuse()"
                if postgres
                else "BEGIN SELECT * FROM qtable_no_such_table; END"
            )
            await conn.execute(text(f"CREATE TRIGGER {name} BEFORE {operation} ON {table} {body}"))


def _assert_clean(log: str, secrets: list[str]) -> None:
    assert log, "the failure was not logged at all"
    for line in log.splitlines():
        json.loads(line)  # one JSON object per line
    for secret in secrets:
        assert secret not in log, f"{secret[:12]}… is in the log"
    assert "$argon2" not in log


async def test_a_failed_registration_logs_no_email_password_or_hash(
    app: FastAPI, client: AsyncClient, log_lines: io.StringIO
) -> None:
    await _refuse_writes(app, "users", "INSERT")
    email = unique_email("secret")
    response = await client.post(
        f"{API}/auth/register",
        json={
            "restaurantName": "Leaky",
            "email": email,
            "password": PASSWORD,
            "fullName": "Sam Secret",
        },
    )
    # 500 on PostgreSQL (the trigger raised), 503 on SQLite (an OperationalError).
    assert response.status_code in (500, 503)
    assert email not in response.text and "refused" not in response.text
    _assert_clean(log_lines.getvalue(), [email, PASSWORD, "Sam Secret"])


async def test_failed_logins_and_refreshes_log_no_secrets(
    app: FastAPI, client: AsyncClient, owner: Actor, log_lines: io.StringIO
) -> None:
    async with app.state.db.engine.connect() as conn:
        password_hash = await conn.scalar(
            select(User.__table__.c.password_hash).where(User.__table__.c.id == owner.user_id)
        )
    await _refuse_writes(app, "refresh_tokens", "INSERT", "UPDATE")
    secrets = [owner.email, PASSWORD, password_hash, owner.access_token, owner.refresh_token]

    login = await client.post(
        f"{API}/auth/login", json={"email": owner.email, "password": PASSWORD}
    )
    token = await client.post(
        f"{API}/auth/token", data={"username": owner.email, "password": PASSWORD}
    )
    refresh = await client.post(f"{API}/auth/refresh", json={"refreshToken": owner.refresh_token})
    logout = await client.post(
        f"{API}/auth/logout", headers=owner.headers, json={"refreshToken": owner.refresh_token}
    )
    assert all(r.status_code in (500, 503) for r in (login, token, refresh, logout))
    _assert_clean(log_lines.getvalue(), secrets)


def test_redaction_masks_what_looks_like_a_secret() -> None:
    line = (
        "GET /api/v1/ws?token=abc.def.ghi&x=1 Authorization: Bearer s3cr3t "
        "hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA jwt eyJhbGciOi.eyJzdWIi.sig "
        "password=hunter2"
    )
    masked = redact(line)
    for secret in ("abc.def.ghi", "s3cr3t", "$argon2id", "eyJhbGciOi", "hunter2"):
        assert secret not in masked
    assert "x=1" in masked


def test_a_database_error_is_logged_without_its_text() -> None:
    from sqlalchemy.exc import IntegrityError

    class DriverError(Exception):
        sqlstate = "23505"

    email = unique_email("quoted")
    try:
        try:
            raise DriverError(f"Key (email)=({email}) already exists.")
        except DriverError as cause:
            raise IntegrityError("INSERT INTO users (email) VALUES (?)", (email,), cause) from cause
    except IntegrityError as exc:
        rendered = format_exception(exc)
    assert email not in rendered
    assert "INSERT INTO users" in rendered and "23505" in rendered


def test_uvicorn_records_are_redacted_before_any_handler() -> None:
    """uvicorn's own formatters still get the arguments they unpack. Its access line for an
    HTTP request is dropped: QTable's own access line (with the request id) has logged it."""
    http = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/api/v1/guests?token=eyJa.eyJb.c&x=1", "1.1", 200),
        None,
    )
    assert not RedactingFilter().filter(http)
    handshake = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("1.2.3.4:5", "/api/v1/ws?token=eyJa.eyJb.c&x=1"),
        None,
    )
    assert RedactingFilter().filter(handshake)
    line = DefaultFormatter(use_colors=False).format(handshake)
    assert "eyJa" not in line and "x=1" in line and "accepted" in line

    try:
        raise RuntimeError("Bearer s3cr3t-token")
    except RuntimeError:
        error = logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application",
            (),
            sys.exc_info(),
        )
    assert RedactingFilter().filter(error)
    assert "s3cr3t" not in DefaultFormatter(use_colors=False).format(error)
    assert "s3cr3t" not in JsonFormatter().format(error)
