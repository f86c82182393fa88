"""Sessions end when credentials change (docs/contract.md, Sessions): a new password, email or
role, or
deletion, ends every session of that user; one's own password or email needs the current one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select, text

from app.auth import service as auth_service
from app.auth.service import SessionsNotEnded
from app.core.config import Settings
from app.db.session import UnitOfWork
from app.db.tenancy import CROSS_TENANT
from app.models import RefreshToken, User
from app.users import service as users_service
from tests.fixtures.auth import PASSWORD, Actor, add_staff, login, unique_email
from tests.fixtures.errors import assert_error

USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
NEW_PASSWORD = "a brand new password"


async def refresh(client: AsyncClient, token: str) -> Response:
    return await client.post(REFRESH, json={"refreshToken": token})


async def live_refresh_tokens(app: FastAPI, user_id: int) -> int:
    """The user's refresh tokens that are not revoked, read straight from the database."""
    async with app.state.db.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(RefreshToken.__table__)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        )
    return int(count or 0)


async def assert_session_ended(client: AsyncClient, actor: Actor) -> None:
    assert_error(await client.get(ME, headers=actor.headers), 401, "unauthorized")
    assert_error(await refresh(client, actor.refresh_token), 401, "unauthorized")


async def assert_session_alive(client: AsyncClient, actor: Actor) -> Actor:
    """The access token works and the refresh token rotates (the rotated pair is returned)."""
    me = await client.get(ME, headers=actor.headers)
    assert me.status_code == 200, me.text
    rotated = await refresh(client, actor.refresh_token)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    return Actor(
        actor.user_id,
        actor.restaurant_id,
        actor.email,
        actor.role,
        body["accessToken"],
        body["refreshToken"],
    )


# ----- every credential change, by every path -----------------------------------------------


CHANGES: dict[str, tuple[str, Callable[[], dict[str, Any] | None]]] = {
    # name: (who acts, the PATCH body; None means DELETE)
    "own-password": ("self", lambda: {"password": NEW_PASSWORD, "currentPassword": PASSWORD}),
    "own-email": ("self", lambda: {"email": unique_email("moved"), "currentPassword": PASSWORD}),
    "password-by-manager": ("manager", lambda: {"password": NEW_PASSWORD}),
    "email-by-manager": ("manager", lambda: {"email": unique_email("moved")}),
    "role-by-manager": ("manager", lambda: {"role": "server"}),
    "deletion": ("manager", lambda: None),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_credential_change_ends_every_session_of_that_user(
    app: FastAPI, client: AsyncClient, owner: Actor, change: str
) -> None:
    manager = await add_staff(client, owner, "manager")
    host = await add_staff(client, owner, "host")
    other_device = await login(client, host.email)
    colleague = await add_staff(client, owner, "server")
    who, make_body = CHANGES[change]
    actor = host if who == "self" else manager
    body = make_body()

    url = f"{USERS}/{host.user_id}"
    if body is None:
        response = await client.delete(url, headers=actor.headers)
        assert response.status_code == 204, response.text
    else:
        response = await client.patch(url, headers=actor.headers, json=body)
        assert response.status_code == 200, response.text

    # Both of the host's sessions ended, the caller's own included when it was the host.
    await assert_session_ended(client, host)
    await assert_session_ended(client, other_device)
    assert await live_refresh_tokens(app, host.user_id) == 0
    # Nobody else's did.
    await assert_session_alive(client, colleague)
    if actor is not host:
        await assert_session_alive(client, actor)
    if body is not None:
        # The host logs in again, with the new credentials where they changed.
        again = await login(client, body.get("email", host.email), body.get("password", PASSWORD))
        await assert_session_alive(client, again)


async def test_a_change_that_is_not_a_credential_keeps_the_sessions(
    client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    url = f"{USERS}/{host.user_id}"

    renamed = await client.patch(url, headers=host.headers, json={"fullName": "Hana Host"})
    # The same email (in another case) and the same role are no change either, and the
    # unchanged email needs no current password.
    same = await client.patch(
        url, headers=host.headers, json={"email": host.email.upper(), "fullName": "Hana"}
    )
    same_role = await client.patch(url, headers=owner.headers, json={"role": "host"})

    for response in (renamed, same, same_role):
        assert response.status_code == 200, response.text
    await assert_session_alive(client, host)


# ----- currentPassword ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "host"])
@pytest.mark.parametrize("field", ["password", "email"])
@pytest.mark.parametrize("current", [None, "not my password", ""])
async def test_changing_ones_own_password_or_email_needs_the_current_password(
    client: AsyncClient, owner: Actor, role: str, field: str, current: str | None
) -> None:
    actor = owner if role == "owner" else await add_staff(client, owner, role)
    before = (await client.get(f"{USERS}/{actor.user_id}", headers=owner.headers)).json()
    body: dict[str, Any] = {"password": NEW_PASSWORD} if field == "password" else {}
    if field == "email":
        body["email"] = unique_email("moved")
    if current is not None:
        body["currentPassword"] = current

    response = await client.patch(f"{USERS}/{actor.user_id}", headers=actor.headers, json=body)

    if current == "":
        assert_error(response, 422, "validation_error")
    else:
        assert_error(response, 403, "forbidden")
    # Nothing changed, and the session goes on.
    assert (await client.get(f"{USERS}/{actor.user_id}", headers=owner.headers)).json() == before
    await assert_session_alive(client, actor)
    await login(client, actor.email)


async def test_a_manager_sets_another_users_password_without_theirs(
    client: AsyncClient, owner: Actor
) -> None:
    manager = await add_staff(client, owner, "manager")
    host = await add_staff(client, owner, "host")

    # A currentPassword sent for someone else is not checked.
    response = await client.patch(
        f"{USERS}/{host.user_id}",
        headers=manager.headers,
        json={"password": NEW_PASSWORD, "currentPassword": "anything at all"},
    )

    assert response.status_code == 200, response.text
    await assert_session_ended(client, host)
    await assert_session_alive(client, manager)
    await login(client, host.email, NEW_PASSWORD)


async def test_wrong_current_passwords_count_against_the_login_limit(
    client: AsyncClient, owner: Actor, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stolen access token is no faster a way to guess the password than the login."""
    host = await add_staff(client, owner, "host")
    checks = count_calls(monkeypatch, auth_service, "verify_password")
    url = f"{USERS}/{host.user_id}"
    limit = settings.auth_max_failures_per_email

    for i in range(limit):
        wrong = {"password": NEW_PASSWORD, "currentPassword": f"guess {i}"}
        assert_error(await client.patch(url, headers=host.headers, json=wrong), 403, "forbidden")
    right = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}
    refused = await client.patch(url, headers=host.headers, json=right)
    logged_in = await client.post(
        "/api/v1/auth/login", json={"email": host.email, "password": PASSWORD}
    )

    # Refused unchecked, with 403 (only the auth endpoints answer 429) and a Retry-After.
    assert_error(refused, 403, "forbidden")
    assert int(refused.headers["retry-after"]) >= 1
    assert len(checks) == limit
    assert_error(logged_in, 429, "rate_limited")
    await assert_session_alive(client, host)


async def test_a_credential_change_without_end_sessions_fails_loudly(
    app: FastAPI, owner: Actor
) -> None:
    """The guard that keeps a future path from forgetting end_sessions()."""
    uow = UnitOfWork(app.state.db, write=True)
    try:
        user = await uow.session.scalar(
            select(User).where(User.id == owner.user_id).execution_options(**{CROSS_TENANT: True})
        )
        assert user is not None
        user.email = unique_email("sneaky")
        with pytest.raises(SessionsNotEnded, match="email changed without end_sessions"):
            await uow.session.flush()
    finally:
        await uow.rollback()
        await uow.close()


# ----- no argon2 work for a refused request, and no transaction open during it -------------


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original = getattr(module, name)

    async def counted(*args: Any) -> Any:
        calls.append(args)
        return await original(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


async def test_a_refused_patch_does_no_password_work(
    client: AsyncClient, owner: Actor, rival: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = await add_staff(client, owner, "manager")
    host = await add_staff(client, owner, "host")
    hashes = count_calls(monkeypatch, users_service, "hash_password")
    checks = count_calls(monkeypatch, auth_service, "verify_password")
    new = {"password": NEW_PASSWORD}
    stale = {**owner.headers, "If-Match": '"99"'}
    refusals = [
        (manager, owner.user_id, new, {}, 403, "forbidden"),  # above the manager's rank
        (host, manager.user_id, new, {}, 403, "forbidden"),  # a host manages nobody
        (owner, 987_654, new, {}, 404, "not_found"),
        (rival, host.user_id, new, {}, 404, "not_found"),  # another restaurant's user
        (owner, host.user_id, new, stale, 412, "precondition_failed"),
        (owner, host.user_id, {**new, "email": manager.email}, {}, 409, "duplicate"),
        (host, host.user_id, new, {}, 403, "forbidden"),  # no currentPassword
        # Not 409: without the password, nobody learns whether an email is registered.
        (host, host.user_id, {**new, "email": owner.email}, {}, 403, "forbidden"),
    ]

    for actor, user_id, body, headers, status, code in refusals:
        response = await client.patch(
            f"{USERS}/{user_id}", headers={**actor.headers, **headers}, json=body
        )
        assert_error(response, status, code)

    assert hashes == []
    assert checks == []


async def test_no_database_connection_is_held_while_a_password_is_checked_or_hashed(
    app: FastAPI, client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await add_staff(client, owner, "host")
    held: list[int] = []

    def watching(module: Any, name: str) -> None:
        original = getattr(module, name)

        async def watched(*args: Any) -> Any:
            held.append(app.state.db.engine.pool.checkedout())
            return await original(*args)

        monkeypatch.setattr(module, name, watched)

    watching(auth_service, "verify_password")
    watching(users_service, "hash_password")

    response = await client.patch(
        f"{USERS}/{host.user_id}",
        headers=host.headers,
        json={"password": NEW_PASSWORD, "currentPassword": PASSWORD},
    )

    assert response.status_code == 200, response.text
    assert held == [0, 0]  # one check, one hash, no connection (so no transaction) open


# ----- races ---------------------------------------------------------------------------------


async def wait_until_blocked(app: FastAPI) -> None:
    """Until another request waits on a lock: on PostgreSQL, a backend waiting on a row
    lock; SQLite shows no such thing (its writer waits on the busy timeout), so a pause."""
    engine = app.state.db.engine
    if engine.dialect.name != "postgresql":
        await asyncio.sleep(0.3)
        return
    async with asyncio.timeout(10), engine.connect() as conn:
        while not await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ):
            await conn.rollback()  # a fresh snapshot of pg_stat_activity each time
            await asyncio.sleep(0.02)


def pause_in(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, *, after: bool
) -> tuple[asyncio.Event, asyncio.Event]:
    """Make ``module.name`` stop, before or after it runs, until released; answers the
    events (reached, release)."""
    reached, release = asyncio.Event(), asyncio.Event()
    original: Callable[..., Awaitable[Any]] = getattr(module, name)

    async def paused(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs) if after else None
        reached.set()
        await release.wait()
        return result if after else await original(*args, **kwargs)

    monkeypatch.setattr(module, name, paused)
    return reached, release


@pytest.mark.parametrize("first", ["refresh", "password-change"])
async def test_a_refresh_racing_a_password_change_leaves_no_usable_refresh_token(
    app: FastAPI,
    client: AsyncClient,
    owner: Actor,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
) -> None:
    """Whichever takes its locks first, the other waits for it, and the end is the same:
    the password changed and no refresh token of the user works. No deadlock, no 5xx."""
    host = await add_staff(client, owner, "host")
    if first == "refresh":
        # The refresh holds its row locks, about to issue the new pair.
        reached, release = pause_in(monkeypatch, auth_service, "_issue", after=False)
    else:
        # The password change holds the user's row, its sessions ended but not committed.
        reached, release = pause_in(monkeypatch, users_service, "end_sessions", after=True)

    def start_refresh() -> asyncio.Task[Response]:
        return asyncio.create_task(refresh(client, host.refresh_token))

    def start_change() -> asyncio.Task[Response]:
        body = {"password": NEW_PASSWORD}
        url = f"{USERS}/{host.user_id}"
        return asyncio.create_task(client.patch(url, headers=owner.headers, json=body))

    async with asyncio.timeout(30):
        if first == "refresh":
            refreshing = start_refresh()
            await reached.wait()
            changing = start_change()
        else:
            changing = start_change()
            await reached.wait()
            refreshing = start_refresh()
        await wait_until_blocked(app)
        release.set()
        refreshed, changed = await asyncio.gather(refreshing, changing)

    assert changed.status_code == 200, changed.text
    if first == "refresh":
        assert refreshed.status_code == 200, refreshed.text
        # The pair it issued was revoked by the change that waited for it.
        successor = refreshed.json()
        assert_error(await refresh(client, successor["refreshToken"]), 401, "unauthorized")
        me = await client.get(ME, headers={"Authorization": f"Bearer {successor['accessToken']}"})
        assert_error(me, 401, "unauthorized")
    else:
        assert_error(refreshed, 401, "unauthorized")
    await assert_session_ended(client, host)
    assert await live_refresh_tokens(app, host.user_id) == 0
    await login(client, host.email, NEW_PASSWORD)


async def test_a_login_racing_a_password_change_starts_no_session(
    app: FastAPI, client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password changes (and commits) while a login checks the old one."""
    host = await add_staff(client, owner, "host")
    verify = auth_service.verify_password
    changed: list[Response] = []

    async def changing_meanwhile(password: str, password_hash: str | None) -> bool:
        changed.append(
            await client.patch(
                f"{USERS}/{host.user_id}", headers=owner.headers, json={"password": NEW_PASSWORD}
            )
        )
        return await verify(password, password_hash)

    monkeypatch.setattr(auth_service, "verify_password", changing_meanwhile)
    response = await client.post(
        "/api/v1/auth/login", json={"email": host.email, "password": PASSWORD}
    )
    monkeypatch.undo()

    assert [r.status_code for r in changed] == [200]
    assert_error(response, 401, "unauthorized")
    assert await live_refresh_tokens(app, host.user_id) == 0
    await login(client, host.email, NEW_PASSWORD)


# ----- the contract ---------------------------------------------------------------------------


def test_the_openapi_document_describes_current_password(app: FastAPI) -> None:
    document = app.openapi()
    field = document["components"]["schemas"]["UserUpdate"]["properties"]["currentPassword"]
    assert "currentPassword" not in document["components"]["schemas"]["UserUpdate"].get(
        "required", []
    )
    assert "403" in field["description"]
    operation = document["paths"]["/api/v1/users/{user_id}"]["patch"]
    assert "currentPassword" in operation["description"]
    assert "logs in again" in operation["description"]
