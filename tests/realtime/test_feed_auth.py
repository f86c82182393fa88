"""The attacks on access tokens, over the WebSocket: each forged, tampered, expired, early or
stale token is accepted as an upgrade and closed 4401 before anything is sent, as over HTTP
it is a 401 (tests/auth/test_tokens.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.auth.test_tokens import b64, claims_of, fresh_claims, sign
from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.realtime import feed, serve

ME = "/api/v1/auth/me"


def _alg_none(owner: Actor, secret: str) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(fresh_claims(owner))}."


def _tampered_payload(owner: Actor, secret: str) -> str:
    header, _, signature = owner.access_token.split(".")
    return f"{header}.{b64({**claims_of(owner), 'sub': str(owner.user_id + 1)})}.{signature}"


def _tampered_signature(owner: Actor, secret: str) -> str:
    header, payload, signature = owner.access_token.split(".")
    return f"{header}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _without(claim: str) -> Callable[[Actor, str], str]:
    def token(owner: Actor, secret: str) -> str:
        claims = fresh_claims(owner)
        del claims[claim]
        return sign(claims, secret)

    return token


def _with(claim: str, value: Callable[[dict[str, Any]], Any]) -> Callable[[Actor, str], str]:
    def token(owner: Actor, secret: str) -> str:
        claims = fresh_claims(owner)
        return sign({**claims, claim: value(claims)}, secret)

    return token


FORGERIES: dict[str, Callable[[Actor, str], str]] = {
    "alg none": _alg_none,
    "HS512 with the real secret": lambda o, s: sign(fresh_claims(o), s, "HS512"),
    "another secret": lambda o, s: sign(fresh_claims(o), "w" * 48),
    "tampered payload": _tampered_payload,
    "tampered signature": _tampered_signature,
    "expired": _with("exp", lambda c: c["iat"] - 60),
    "not yet valid": _with("nbf", lambda c: c["iat"] + 3600),
    "no exp": _without("exp"),
    "no sub": _without("sub"),
    "a refresh token": lambda o, s: o.refresh_token,
    "another restaurant": _with("rid", lambda c: c["rid"] + 1),
    "garbage": lambda o, s: "a.b.c",
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_a_forged_token_is_refused_over_http_and_websocket(
    app: FastAPI, client: AsyncClient, owner: Actor, forgery: str
) -> None:
    token = FORGERIES[forgery](owner, app.state.settings.jwt_secret)
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    async with serve(app) as base:
        for header in (False, True):
            async with feed(base, token, header=header, hello=False) as refused:
                assert await refused.closed_with() == 4401


async def test_a_higher_role_claimed_and_a_deleted_users_token_are_refused(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    server = await add_staff(client, owner, "server")
    promoted = sign({**fresh_claims(server), "role": "owner"}, app.state.settings.jwt_secret)
    host = await add_staff(client, owner, "host")
    response = await client.delete(f"/api/v1/users/{host.user_id}", headers=owner.headers)
    assert response.status_code == 204
    async with serve(app) as base:
        for token in (promoted, host.access_token):
            async with feed(base, token, hello=False) as refused:
                assert await refused.closed_with() == 4401
