"""An id is never given twice: not after the newest row is deleted (SQLite would, without
AUTOINCREMENT: alembic 0008). A client holding a deleted row's id, a delta that named it
deleted, or the access token of a deleted user must never reach a new row."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.floor import GUESTS, TABLES, create_guest, create_table
from tests.reservations.factories import RESERVATIONS, create_reservation


@pytest.mark.parametrize("kind", ["guests", "tables", "reservations"])
async def test_the_id_of_the_newest_deleted_row_is_never_given_again(
    client: AsyncClient, owner: Actor, kind: str
) -> None:
    async def make(n: int) -> int:
        if kind == "guests":
            return int((await create_guest(client, owner, f"G{n}"))["id"])
        if kind == "tables":
            return int((await create_table(client, owner, str(n)))["id"])
        return int((await create_reservation(client, owner))["id"])

    path = {"guests": GUESTS, "tables": TABLES, "reservations": RESERVATIONS}[kind]
    await make(1)
    newest = await make(2)
    response = await client.delete(f"{path}/{newest}", headers=owner.headers)
    assert response.status_code == 204
    assert await make(3) > newest
    response = await client.get(f"{path}/{newest}", headers=owner.headers)
    assert response.status_code == 404


async def test_a_deleted_users_token_never_becomes_a_new_users(
    client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    response = await client.delete(f"/api/v1/users/{host.user_id}", headers=owner.headers)
    assert response.status_code == 204, response.text
    successor = await add_staff(client, owner, "host")
    assert successor.user_id != host.user_id
    response = await client.get(GUESTS, headers=host.headers)
    assert response.status_code == 401
