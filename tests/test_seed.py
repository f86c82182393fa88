"""The demo restaurant of `python -m app.dev`: seeded once through the service code, and its
owner can log in and sees a consistent floor."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from app.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from tests.fixtures.auth import actor_from
from tests.fixtures.floor import API, all_tables, assert_invariant


async def test_the_demo_restaurant_is_seeded_once_and_can_log_in(
    app: FastAPI, client: AsyncClient
) -> None:
    assert await seed_demo(app.state.db) is True
    assert await seed_demo(app.state.db) is False

    response = await client.post(
        f"{API}/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 200, response.text
    demo = actor_from(response.json())
    assert len(await all_tables(client, demo)) == 8
    state = await assert_invariant(client, demo)
    assert any(g["status"] == "seated" for g in state["guests"].values())
    bookings = await client.get(f"{API}/reservations", headers=demo.headers)
    assert len(bookings.json()["items"]) == 3
