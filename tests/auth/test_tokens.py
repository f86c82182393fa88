"""Access tokens: forged, tampered, expired or stale tokens are all a 401 with the envelope."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from jose import jwt

from app.core import security
from app.core.config import Settings
from app.core.security import encode_access_token
from tests.fixtures.auth import Actor, add_staff, login
from tests.fixtures.errors import assert_error

ME = "/api/v1/auth/me"


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(actor: Actor) -> dict[str, Any]:
    return jwt.get_unverified_claims(actor.access_token)


def fresh_claims(actor: Actor) -> dict[str, Any]:
    """The actor's claims, re-issued now (so only what a test changes makes them invalid)."""
    now = int(datetime.now(UTC).timestamp())
    return {**claims_of(actor), "iat": now, "exp": now + 600}


def sign(claims: dict[str, Any], secret: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


async def me_with(client: AsyncClient, token: str) -> Response:
    return await client.get(ME, headers={"Authorization": f"Bearer {token}"})


async def assert_refused(client: AsyncClient, token: str) -> None:
    response = await me_with(client, token)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_forged_with_the_real_secret_is_accepted(
    client: AsyncClient, owner: Actor, settings: Settings
) -> None:
    """The control for every forgery below: the forger itself makes valid tokens."""
    response = await me_with(client, sign(fresh_claims(owner), settings.jwt_secret))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == owner.user_id


async def test_alg_none_is_refused(client: AsyncClient, owner: Actor) -> None:
    header = {"alg": "none", "typ": "JWT"}
    token = f"{b64(header)}.{b64(fresh_claims(owner))}."
    await assert_refused(client, token)
    header_upper = {"alg": "None", "typ": "JWT"}
    await assert_refused(client, f"{b64(header_upper)}.{b64(fresh_claims(owner))}.")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_other_algorithms_are_refused_even_with_the_real_secret(
    client: AsyncClient, owner: Actor, settings: Settings, algorithm: str
) -> None:
    await assert_refused(client, sign(fresh_claims(owner), settings.jwt_secret, algorithm))


async def test_a_token_signed_with_another_secret_is_refused(
    client: AsyncClient, owner: Actor
) -> None:
    await assert_refused(client, sign(fresh_claims(owner), "w" * 48))


async def test_a_tampered_payload_is_refused(client: AsyncClient, owner: Actor) -> None:
    header, _payload, signature = owner.access_token.split(".")
    promoted = {**claims_of(owner), "role": "owner", "sub": str(owner.user_id + 1)}
    await assert_refused(client, f"{header}.{b64(promoted)}.{signature}")


async def test_a_tampered_signature_is_refused(client: AsyncClient, owner: Actor) -> None:
    header, payload, signature = owner.access_token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = signature[:middle] + flipped + signature[middle + 1 :]
    await assert_refused(client, f"{header}.{payload}.{tampered}")
    await assert_refused(client, f"{header}.{payload}.")
    # The genuine token still works: only the tampering was refused.
    assert (await me_with(client, owner.access_token)).status_code == 200


async def test_an_expired_token_is_refused(
    client: AsyncClient, owner: Actor, settings: Settings
) -> None:
    claims = claims_of(owner)
    token = encode_access_token(
        user_id=owner.user_id,
        restaurant_id=owner.restaurant_id,
        role=owner.role,
        generation=claims["gen"],
        secret=settings.jwt_secret,
        minutes=15,
        now=datetime.now(UTC) - timedelta(minutes=16),
    )
    await assert_refused(client, token)


async def test_a_token_that_expires_after_it_was_first_accepted_is_refused(
    client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verified token's claims are kept (app.core.security), but never past its exp."""
    response = await client.get("/api/v1/auth/me", headers=owner.headers)
    assert response.status_code == 200, response.text
    after_exp = claims_of(owner)["exp"] + 1
    monkeypatch.setattr(security.time, "time", lambda: float(after_exp))
    await assert_refused(client, owner.access_token)


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "rid", "role", "gen", "typ"])
async def test_a_missing_claim_is_refused(
    client: AsyncClient, owner: Actor, settings: Settings, claim: str
) -> None:
    claims = fresh_claims(owner)
    del claims[claim]
    await assert_refused(client, sign(claims, settings.jwt_secret))


@pytest.mark.parametrize(
    ("claim", "value"),
    [("typ", "refresh"), ("sub", "not-a-number"), ("exp", "tomorrow"), ("gen", 0), ("rid", 0)],
)
async def test_a_wrong_claim_is_refused(
    client: AsyncClient, owner: Actor, settings: Settings, claim: str, value: Any
) -> None:
    await assert_refused(client, sign({**fresh_claims(owner), claim: value}, settings.jwt_secret))


async def test_a_token_claiming_another_restaurant_is_refused(
    client: AsyncClient, owner: Actor, rival: Actor, settings: Settings
) -> None:
    claims = {**fresh_claims(owner), "rid": rival.restaurant_id}
    await assert_refused(client, sign(claims, settings.jwt_secret))


async def test_a_token_claiming_a_higher_role_is_refused(
    client: AsyncClient, owner: Actor, settings: Settings
) -> None:
    server = await add_staff(client, owner, "server")
    claims = {**fresh_claims(server), "role": "owner"}
    await assert_refused(client, sign(claims, settings.jwt_secret))


async def test_a_refresh_token_is_not_an_access_token(client: AsyncClient, owner: Actor) -> None:
    await assert_refused(client, owner.refresh_token)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "garbage"],
)
async def test_garbage_authorization_is_refused(
    client: AsyncClient, owner: Actor, authorization: str
) -> None:
    response = await client.get(ME, headers={"Authorization": authorization})
    assert_error(response, 401, "unauthorized")


async def test_the_token_of_a_deleted_user_stops_working(client: AsyncClient, owner: Actor) -> None:
    host = await add_staff(client, owner, "host")
    assert (await me_with(client, host.access_token)).status_code == 200

    deleted = await client.delete(f"/api/v1/users/{host.user_id}", headers=owner.headers)

    assert deleted.status_code == 204, deleted.text
    await assert_refused(client, host.access_token)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refreshToken": host.refresh_token})
    assert_error(refreshed, 401, "unauthorized")


@pytest.mark.parametrize("new_role", ["server", "owner"])
async def test_a_role_change_ends_the_users_access_tokens(
    client: AsyncClient, owner: Actor, new_role: str
) -> None:
    manager = await add_staff(client, owner, "manager")

    changed = await client.patch(
        f"/api/v1/users/{manager.user_id}", headers=owner.headers, json={"role": new_role}
    )

    assert changed.status_code == 200, changed.text
    await assert_refused(client, manager.access_token)
    # Logging in again gives a token carrying the new role, which works.
    again = await login(client, manager.email)
    assert again.role == new_role
    assert (await me_with(client, again.access_token)).json()["user"]["role"] == new_role


async def test_a_name_change_keeps_the_users_tokens(client: AsyncClient, owner: Actor) -> None:
    host = await add_staff(client, owner, "host")

    changed = await client.patch(
        f"/api/v1/users/{host.user_id}", headers=host.headers, json={"fullName": "Hana Host"}
    )

    assert changed.status_code == 200, changed.text
    assert (await me_with(client, host.access_token)).json()["user"]["fullName"] == "Hana Host"
