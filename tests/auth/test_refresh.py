"""Refresh tokens: rotation, reuse detection that revokes the family, logout and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import Row, select, update

from app.core.security import hash_refresh_token
from app.models import RefreshToken
from tests.fixtures.auth import Actor, login
from tests.fixtures.errors import assert_error

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


async def refresh(client: AsyncClient, token: str) -> Response:
    return await client.post(REFRESH, json={"refreshToken": token})


async def rotate(client: AsyncClient, token: str) -> dict[str, str]:
    response = await refresh(client, token)
    assert response.status_code == 200, response.text
    return response.json()


async def stored_token(app: FastAPI, token: str) -> Row[Any]:
    """The stored row, read straight from the database, outside any request."""
    async with app.state.db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(RefreshToken.__table__).where(
                    RefreshToken.token_hash == hash_refresh_token(token)
                )
            )
        ).one()
    return row


async def test_refresh_answers_a_new_pair_for_the_same_user(
    client: AsyncClient, owner: Actor
) -> None:
    body = await rotate(client, owner.refresh_token)

    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 900
    assert body["user"]["id"] == owner.user_id
    assert body["restaurant"]["id"] == owner.restaurant_id
    assert body["refreshToken"] != owner.refresh_token
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == owner.user_id


async def test_a_rotated_refresh_token_stops_working(client: AsyncClient, owner: Actor) -> None:
    await rotate(client, owner.refresh_token)

    assert_error(await refresh(client, owner.refresh_token), 401, "unauthorized")


async def test_reusing_a_used_token_revokes_the_whole_family(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    first = await rotate(client, owner.refresh_token)
    newest = await rotate(client, first["refreshToken"])
    # A separate login starts another family, which the reuse must not touch.
    other_session = await login(client, owner.email)

    reuse = await refresh(client, first["refreshToken"])

    assert_error(reuse, 401, "unauthorized")
    # The revocation was committed, even though the request answered with an error.
    assert (await stored_token(app, newest["refreshToken"])).revoked_at is not None
    assert_error(await refresh(client, newest["refreshToken"]), 401, "unauthorized")
    assert_error(await refresh(client, owner.refresh_token), 401, "unauthorized")
    assert (await refresh(client, other_session.refresh_token)).status_code == 200


async def test_reusing_the_original_token_revokes_its_only_successor(
    client: AsyncClient, owner: Actor
) -> None:
    successor = await rotate(client, owner.refresh_token)

    assert_error(await refresh(client, owner.refresh_token), 401, "unauthorized")
    assert_error(await refresh(client, successor["refreshToken"]), 401, "unauthorized")


async def test_an_unknown_refresh_token_is_401(client: AsyncClient, owner: Actor) -> None:
    assert_error(await refresh(client, "x" * 43), 401, "unauthorized")
    # An access token is not a refresh token either.
    assert_error(await refresh(client, owner.access_token), 401, "unauthorized")


async def test_an_expired_refresh_token_is_401(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    async with app.state.db.engine.begin() as conn:
        await conn.execute(
            update(RefreshToken.__table__)
            .where(RefreshToken.token_hash == hash_refresh_token(owner.refresh_token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    assert_error(await refresh(client, owner.refresh_token), 401, "unauthorized")
    assert (await stored_token(app, owner.refresh_token)).used_at is None


async def test_logout_revokes_the_refresh_token(client: AsyncClient, owner: Actor) -> None:
    other_session = await login(client, owner.email)

    response = await client.post(
        LOGOUT, headers=owner.headers, json={"refreshToken": owner.refresh_token}
    )

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(await refresh(client, owner.refresh_token), 401, "unauthorized")
    # Only that token: the user's other session keeps refreshing.
    assert (await refresh(client, other_session.refresh_token)).status_code == 200


async def test_logout_needs_an_access_token(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(LOGOUT, json={"refreshToken": owner.refresh_token})

    assert_error(response, 401, "unauthorized")
    assert (await refresh(client, owner.refresh_token)).status_code == 200


async def test_logout_cannot_revoke_someone_elses_token(
    client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    response = await client.post(
        LOGOUT, headers=rival.headers, json={"refreshToken": owner.refresh_token}
    )

    assert response.status_code == 204, response.text
    assert (await refresh(client, owner.refresh_token)).status_code == 200


async def test_refresh_body_is_validated(client: AsyncClient) -> None:
    missing = await client.post(REFRESH, json={})
    extra = await client.post(REFRESH, json={"refreshToken": "abc", "userId": 1})

    assert_error(missing, 422, "validation_error")
    assert_error(extra, 422, "validation_error")
