"""Rate limits on the unauthenticated auth endpoints: password checks per email (bursts
included), attempts per client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from httpx import ASGITransport, AsyncClient, Response

from app.auth import service as auth_service
from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, register, unique_email
from tests.fixtures.errors import assert_error

LOGIN = "/api/v1/auth/login"
TOKEN = "/api/v1/auth/token"
ClientAt = Callable[[str], AbstractAsyncContextManager[AsyncClient]]


@asynccontextmanager
async def limited_app(database_url: str, **limits: int) -> AsyncIterator[ClientAt]:
    """An app with the given rate-limit settings, and clients at chosen addresses."""
    app = create_app(make_settings(database_url, **limits))

    @asynccontextmanager
    async def client_at(host: str) -> AsyncIterator[AsyncClient]:
        transport = ASGITransport(app=app, raise_app_exceptions=False, client=(host, 40000))
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield http

    async with app.router.lifespan_context(app):
        yield client_at


@pytest.fixture
async def per_email(database_url: str) -> AsyncIterator[ClientAt]:
    """Three failures per email; plenty of attempts per client."""
    async with limited_app(
        database_url, auth_max_failures_per_email=3, auth_max_attempts_per_client=100
    ) as client_at:
        yield client_at


@pytest.fixture
async def per_client(database_url: str) -> AsyncIterator[ClientAt]:
    """Four attempts per client address; plenty of failures per email."""
    async with limited_app(
        database_url, auth_max_failures_per_email=100, auth_max_attempts_per_client=4
    ) as client_at:
        yield client_at


async def log_in(client: AsyncClient, email: str, password: str = PASSWORD) -> Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


def assert_rate_limited(response: Response) -> None:
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 301


async def test_failures_per_email_are_limited(per_email: ClientAt) -> None:
    async with per_email("10.0.0.1") as client:
        victim = await register(client)
        bystander = await register(client)
        for _ in range(3):
            assert_error(await log_in(client, victim.email, "wrong password"), 401, "unauthorized")

        # Even the right password is refused now, and so is the same email in other case.
        assert_rate_limited(await log_in(client, victim.email))
        assert_rate_limited(await log_in(client, victim.email.upper()))
        # Other emails from the same client are not affected.
        assert (await log_in(client, bystander.email)).status_code == 200

    # Nor does another address get around the email's limit.
    async with per_email("10.0.0.2") as elsewhere:
        assert_rate_limited(await log_in(elsewhere, victim.email))


async def test_unknown_emails_are_limited_like_known_ones(per_email: ClientAt) -> None:
    ghost = unique_email("ghost")
    async with per_email("10.0.0.1") as client:
        for _ in range(3):
            assert_error(await log_in(client, ghost, "wrong password"), 401, "unauthorized")
        assert_rate_limited(await log_in(client, ghost, "wrong password"))


async def test_a_successful_login_clears_the_email_failures(per_email: ClientAt) -> None:
    async with per_email("10.0.0.1") as client:
        user = await register(client)
        for _ in range(2):
            assert_error(await log_in(client, user.email, "wrong password"), 401, "unauthorized")
        assert (await log_in(client, user.email)).status_code == 200
        for _ in range(2):
            assert_error(await log_in(client, user.email, "wrong password"), 401, "unauthorized")
        assert (await log_in(client, user.email)).status_code == 200


async def test_token_form_shares_the_email_limit(per_email: ClientAt) -> None:
    async with per_email("10.0.0.1") as client:
        user = await register(client)
        for _ in range(3):
            form = {"username": user.email, "password": "wrong password"}
            assert_error(await client.post("/api/v1/auth/token", data=form), 401, "unauthorized")
        form = {"username": user.email, "password": PASSWORD}
        assert_rate_limited(await client.post("/api/v1/auth/token", data=form))
        assert_rate_limited(await log_in(client, user.email))


async def test_attempts_per_client_address_are_limited(per_client: ClientAt) -> None:
    async with per_client("10.0.0.1") as noisy:
        user = await register(noisy)  # attempt 1
        assert (await log_in(noisy, user.email)).status_code == 200  # 2
        assert_error(await log_in(noisy, user.email, "wrong password"), 401, "unauthorized")  # 3
        refreshed = await noisy.post(
            "/api/v1/auth/refresh", json={"refreshToken": user.refresh_token}
        )
        assert refreshed.status_code == 200  # 4

        # Every auth endpoint is now refused for this address, whatever the email.
        assert_rate_limited(await log_in(noisy, user.email))
        assert_rate_limited(await log_in(noisy, unique_email("other")))
        assert_rate_limited(
            await noisy.post(
                "/api/v1/auth/refresh", json={"refreshToken": refreshed.json()["refreshToken"]}
            )
        )
        email = unique_email("late")
        late = await noisy.post(
            "/api/v1/auth/register",
            json={
                "restaurantName": "Late",
                "email": email,
                "password": PASSWORD,
                "fullName": "Lou Late",
            },
        )
        assert_rate_limited(late)
        # Authenticated endpoints are not rate limited.
        me = await noisy.get("/api/v1/auth/me", headers=user.headers)
        assert me.status_code == 200, me.text

    async with per_client("10.0.0.2") as quiet:
        assert (await log_in(quiet, user.email)).status_code == 200
        # The refused registration stored nothing.
        assert_error(await log_in(quiet, email), 401, "unauthorized")
        # The refused refresh did not consume the token.
        again = await quiet.post(
            "/api/v1/auth/refresh", json={"refreshToken": refreshed.json()["refreshToken"]}
        )
        assert again.status_code == 200, again.text


# ----- bursts -----------------------------------------------------------------------------------


class PasswordChecks:
    """Every password check the auth service makes (True when the account exists), each held
    at a gate that opens once all ``expected`` requests have either reached a check or been
    answered: a success in a burst cannot clear the count before the burst has been counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, expected: int) -> None:
        self.made: list[bool] = []
        self.expected = expected
        self.arrived = 0
        self.gate = asyncio.Event()
        verify = auth_service.verify_password

        async def held(password: str, password_hash: str | None) -> bool:
            self.made.append(password_hash is not None)
            self.arrive()
            await self.gate.wait()
            return await verify(password, password_hash)

        monkeypatch.setattr(auth_service, "verify_password", held)

    def arrive(self, *_: object) -> None:
        # Checked requests only finish after the gate opens, so nothing is counted twice
        # before it does.
        self.arrived += 1
        if self.arrived >= self.expected:
            self.gate.set()


async def try_password(client: AsyncClient, email: str, password: str, *, form: bool) -> Response:
    if form:
        return await client.post(TOKEN, data={"username": email, "password": password})
    return await log_in(client, email, password)


@pytest.mark.parametrize("form", [False, True], ids=["login", "token"])
@pytest.mark.parametrize("known", [True, False], ids=["known-email", "unknown-email"])
async def test_a_burst_checks_at_most_the_limit_of_passwords(
    client: AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    form: bool,
    known: bool,
) -> None:
    """25 attempts for one email at once, the right password last: attempts are counted as
    they start, not as they fail, so only the limit of them are checked."""
    limit = settings.auth_max_failures_per_email
    email = (await register(client)).email if known else unique_email("ghost")
    passwords = [f"wrong password {i}" for i in range(24)] + [PASSWORD]
    checks = PasswordChecks(monkeypatch, expected=len(passwords))

    tasks = [
        asyncio.create_task(try_password(client, email, password, form=form))
        for password in passwords
    ]
    for task in tasks:
        task.add_done_callback(checks.arrive)
    async with asyncio.timeout(30):
        responses = await asyncio.gather(*tasks)

    # An unknown email costs the same checks as a known one (against a dummy hash).
    assert checks.made == [known] * limit
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == len(passwords) - limit
    for response in refused:
        assert_rate_limited(response)
    for password, response in zip(passwords, responses, strict=True):
        if response.status_code != 429:
            # Requests reach the check in no fixed order: the right one may be among them.
            status = 200 if known and password == PASSWORD else 401
            assert response.status_code == status, response.text
