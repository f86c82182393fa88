"""Every delta answers: any number of changed rows of every kind, minimal or full, across the
size at which the dashboard reads changed rows in chunks, gives 200 with exactly the changed
rows in the order docs/contract.md gives (guests by `arrivedAt`, tables by `tableNumber`,
reservations by
`startsAt`, then `id`) and the deleted ids."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dashboard import service as dashboard_service
from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import Actor, register
from tests.sync.helpers import ENTITIES, MINIMAL_FIELDS, dashboard

BATCH = "/api/v1/batch/update"
# Small chunks, so that a few rows cross the threshold, and several chunks, of the real code.
CHUNK = 3
_SORT = {"guests": "arrivedAt", "tables": "tableNumber", "reservations": "startsAt"}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def api_order(entity: str, rows: list[dict[str, Any]]) -> list[int]:
    """The ids of full rows in the order docs/contract.md gives."""
    field = _SORT[entity]

    def key(row: dict[str, Any]) -> tuple[Any, int]:
        value = row[field]
        return (value if entity == "tables" else _instant(value)), row["id"]

    return [row["id"] for row in sorted(rows, key=key)]


async def post_batch(client: AsyncClient, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(BATCH, json=body, headers=actor.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _later(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(days=2, hours=hours)).isoformat()


async def check_delta(client: AsyncClient, plan: dict[str, Any]) -> None:
    """Rows before a cursor, then the plan's changes in two transactions; the delta from the
    cursor, minimal and full, against what was changed."""
    actor = await register(client, name="Delta")
    before = await post_batch(
        client,
        actor,
        {
            "tables": [
                {"op": "create", "tableNumber": f"old {n}", "capacity": 4} for n in range(4)
            ],
            "guests": [{"op": "create", "name": f"old {n}", "partySize": 2} for n in range(6)],
        },
    )
    old_guests = [r["id"] for r in before["results"]["guests"]]
    old_tables = [r["id"] for r in before["results"]["tables"]]
    cursor = (await dashboard(client, actor)).json()["cursor"]

    # Table numbers that sort otherwise than their ids; guests and reservations likewise.
    first = await post_batch(
        client,
        actor,
        {
            "tables": [
                *(
                    {"op": "create", "tableNumber": f"new {9 - n} {n}", "capacity": 4}
                    for n in range(plan["tables"])
                ),
                *({"id": i, "capacity": 6} for i in old_tables[: plan["tables_updated"]]),
            ],
            "guests": [
                *(
                    {"op": "create", "name": f"new {n}", "partySize": 1 + n % 4}
                    for n in range(plan["guests"])
                ),
                *({"id": i, "name": "renamed"} for i in old_guests[: plan["guests_updated"]]),
                *({"op": "delete", "id": i} for i in old_guests[4 : 4 + plan["guests_deleted"]]),
            ],
            "reservations": [
                {"op": "create", "guestName": f"R{n}", "partySize": 2, "startsAt": _later(-n)}
                for n in range(plan["reservations"])
            ],
        },
    )
    new_guests = [r["id"] for r in first["results"]["guests"] if r["op"] == "create"]
    # A second transaction: a guest created after the cursor, then deleted, is only deleted.
    gone_new = new_guests[: plan["new_guests_deleted"]]
    if gone_new:
        await post_batch(client, actor, {"guests": [{"op": "delete", "id": i} for i in gone_new]})

    changed = {
        "guests": {
            *(set(new_guests) - set(gone_new)),
            *old_guests[: plan["guests_updated"]],
        },
        "tables": {
            *(r["id"] for r in first["results"]["tables"] if r["op"] == "create"),
            *old_tables[: plan["tables_updated"]],
        },
        "reservations": {r["id"] for r in first["results"]["reservations"]},
    }
    deleted = {
        "guests": sorted({*old_guests[4 : 4 + plan["guests_deleted"]], *gone_new}),
        "tables": [],
        "reservations": [],
    }

    full = await dashboard(client, actor, cursor)
    minimal = await dashboard(client, actor, cursor, minimal=True)
    for response in (full, minimal):
        assert response.status_code == 200, response.text
    full_body, minimal_body = full.json(), minimal.json()
    for body, is_minimal in ((full_body, False), (minimal_body, True)):
        assert body["fullSync"] is False
        assert body["deleted"] == deleted
        for entity in ENTITIES:
            ids = [row["id"] for row in body[entity]]
            assert set(ids) == changed[entity], (entity, is_minimal)
            assert len(ids) == len(set(ids))
            # The order of the full rows, which carry the sort keys.
            assert ids == api_order(entity, full_body[entity]), (entity, is_minimal)
            if is_minimal:
                assert all(set(row) == MINIMAL_FIELDS[entity] for row in body[entity])


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard_service, "_CHUNK", CHUNK)


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncClient]]:
    """The app on its own event loop, for hypothesis to drive example after example."""
    loop = asyncio.new_event_loop()
    app: FastAPI = create_app(make_settings(database_url))
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test"
    )
    try:
        yield loop, client
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


# Up to three chunks of each kind, and every size around a chunk's edge.
_SIZE = st.integers(min_value=0, max_value=3 * CHUNK + 1)


def test_every_delta_answers_exactly_the_changed_rows_in_order(
    small_chunks: None, served: tuple[asyncio.AbstractEventLoop, AsyncClient]
) -> None:
    loop, client = served

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        plan=st.fixed_dictionaries(
            {
                "guests": _SIZE,
                "guests_updated": st.integers(0, 4),
                "guests_deleted": st.integers(0, 2),
                "new_guests_deleted": st.integers(0, 2),
                "tables": _SIZE,
                "tables_updated": st.integers(0, 4),
                "reservations": _SIZE,
            }
        )
    )
    def check(plan: dict[str, Any]) -> None:
        loop.run_until_complete(check_delta(client, plan))

    check()


async def test_a_minimal_delta_over_more_than_a_chunk_of_guests_answers(
    client: AsyncClient, owner: Actor
) -> None:
    """The real threshold: 501 guests changed after the cursor (it answered 500, forever)."""
    cursor = (await dashboard(client, owner)).json()["cursor"]
    size = dashboard_service._CHUNK + 1
    created: list[int] = []
    for start in range(0, size, 500):
        names = range(start, min(size, start + 500))
        body = await post_batch(
            client,
            owner,
            {"guests": [{"op": "create", "name": f"G{n}", "partySize": 2} for n in names]},
        )
        created += [r["id"] for r in body["results"]["guests"]]
    full = await dashboard(client, owner, cursor)
    minimal = await dashboard(client, owner, cursor, minimal=True)
    assert full.status_code == 200 and minimal.status_code == 200, minimal.text
    expected = api_order("guests", full.json()["guests"])
    assert sorted(expected) == sorted(created)
    assert [g["id"] for g in minimal.json()["guests"]] == expected
