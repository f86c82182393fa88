"""Random sequences of floor operations through the HTTP API; the invariant after every step.

Hypothesis drives guests, tables and reservations of two restaurants with any order of
seats, moves, status changes, completions, deletions and check-ins, including ids of the
other restaurant. After every step both restaurants are read back and checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import Actor, register

API = "/api/v1"
T = TypeVar("T")

GUEST_STATUSES = ["waiting", "notified", "seated", "completed", "left", "no_show", "cancelled"]
TABLE_STATUSES = ["available", "reserved", "dirty", "out_of_service"]
RESERVATION_STATUSES = ["confirmed", "cancelled", "no_show", "checked_in", "completed"]
# What a write may answer; anything else (a 500 above all) fails the run.
ALLOWED = {200, 201, 204, 404, 409, 422}
# Requests here run one at a time, so a 409 is always a rule of the floor, never a race
# caught by a database constraint (`conflict`) or a stale version.
RULE_CONFLICTS = {
    "table_occupied",
    "table_unavailable",
    "invalid_transition",
    "capacity_exceeded",
    "reservation_conflict",
    "duplicate",
}


class FloorMachine(RuleBasedStateMachine):
    database_url: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.app: FastAPI = create_app(make_settings(type(self).database_url()))
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.run(self._lifespan.__aenter__())
        self.client = AsyncClient(
            transport=ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://test",
        )
        self.actors: list[Actor] = []
        # Ids each restaurant created, by kind: ids[actor][kind].
        self.ids: list[dict[str, list[int]]] = [
            {"tables": [], "guests": [], "reservations": []} for _ in (0, 1)
        ]

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.client.aclose())
        self.run(self._lifespan.__aexit__(None, None, None))
        self.loop.close()

    # ----- helpers ------------------------------------------------------------------------

    def call(self, actor: int, method: str, path: str, **kwargs: Any) -> Response:
        response = self.run(
            self.client.request(
                method, f"{API}{path}", headers=self.actors[actor].headers, **kwargs
            )
        )
        assert response.status_code in ALLOWED, (method, path, kwargs, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "requestId"}
        if response.status_code == 409:
            assert response.json()["error"]["code"] in RULE_CONFLICTS, response.text
        return response

    def remember(self, actor: int, kind: str, response: Response) -> None:
        if response.status_code == 201:
            self.ids[actor][kind].append(response.json()["id"])

    def some_id(self, actor: int, kind: str, data: st.DataObject) -> int:
        """Mostly the actor's own ids; sometimes the other restaurant's, or one that never
        existed (both must be a 404)."""
        own, foreign = self.ids[actor][kind], self.ids[1 - actor][kind]
        choice = data.draw(st.sampled_from(["own"] * 6 + ["foreign", "unknown"]))
        if choice == "own" and own:
            return data.draw(st.sampled_from(own))
        if choice == "foreign" and foreign:
            return data.draw(st.sampled_from(foreign))
        return data.draw(st.integers(10_000, 10_100))

    # ----- rules --------------------------------------------------------------------------

    @initialize()
    def two_restaurants(self) -> None:
        self.actors = [
            self.run(register(self.client, name="A")),
            self.run(register(self.client, name="B")),
        ]
        for actor in (0, 1):
            self.call(actor, "PATCH", "/restaurant", json={"tableAfterGuestLeaves": "dirty"})

    @rule(actor=st.sampled_from([0, 1]), capacity=st.integers(1, 8), number=st.integers(1, 30))
    def create_table(self, actor: int, capacity: int, number: int) -> None:
        self.remember(
            actor,
            "tables",
            self.call(
                actor, "POST", "/tables", json={"tableNumber": str(number), "capacity": capacity}
            ),
        )

    @rule(actor=st.sampled_from([0, 1]), party=st.integers(1, 10))
    def create_guest(self, actor: int, party: int) -> None:
        self.remember(
            actor,
            "guests",
            self.call(actor, "POST", "/guests", json={"name": "Guest", "partySize": party}),
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data(), over=st.booleans())
    def seat(self, actor: int, data: st.DataObject, over: bool) -> None:
        gid, tid = self.some_id(actor, "guests", data), self.some_id(actor, "tables", data)
        self.call(
            actor, "POST", f"/guests/{gid}/seat", json={"tableId": tid, "allowOverCapacity": over}
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def move_or_unseat(self, actor: int, data: st.DataObject) -> None:
        gid = self.some_id(actor, "guests", data)
        target = data.draw(st.none() | st.just(self.some_id(actor, "tables", data)))
        self.call(actor, "PATCH", f"/guests/{gid}", json={"tableId": target})

    @rule(actor=st.sampled_from([0, 1]), data=st.data(), status=st.sampled_from(GUEST_STATUSES))
    def guest_status(self, actor: int, data: st.DataObject, status: str) -> None:
        self.call(
            actor,
            "PATCH",
            f"/guests/{self.some_id(actor, 'guests', data)}",
            json={"status": status},
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def complete(self, actor: int, data: st.DataObject) -> None:
        self.call(actor, "POST", f"/guests/{self.some_id(actor, 'guests', data)}/complete")

    @rule(actor=st.sampled_from([0, 1]), data=st.data(), party=st.integers(1, 10))
    def resize_party(self, actor: int, data: st.DataObject, party: int) -> None:
        self.call(
            actor,
            "PATCH",
            f"/guests/{self.some_id(actor, 'guests', data)}",
            json={"partySize": party},
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data(), status=st.sampled_from(TABLE_STATUSES))
    def table_status(self, actor: int, data: st.DataObject, status: str) -> None:
        self.call(
            actor,
            "PATCH",
            f"/tables/{self.some_id(actor, 'tables', data)}",
            json={"status": status},
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def table_guest(self, actor: int, data: st.DataObject) -> None:
        gid = data.draw(st.none() | st.just(self.some_id(actor, "guests", data)))
        self.call(
            actor,
            "PATCH",
            f"/tables/{self.some_id(actor, 'tables', data)}",
            json={"currentGuestId": gid, "allowOverCapacity": True},
        )

    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def delete_guest(self, actor: int, data: st.DataObject) -> None:
        self.call(actor, "DELETE", f"/guests/{self.some_id(actor, 'guests', data)}")

    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def delete_table(self, actor: int, data: st.DataObject) -> None:
        self.call(actor, "DELETE", f"/tables/{self.some_id(actor, 'tables', data)}")

    @rule(
        actor=st.sampled_from([0, 1]),
        data=st.data(),
        hours=st.integers(1, 6),
        with_table=st.booleans(),
    )
    def reserve(self, actor: int, data: st.DataObject, hours: int, with_table: bool) -> None:
        starts = (datetime.now(UTC) + timedelta(days=1, hours=hours)).replace(microsecond=0)
        body: dict[str, Any] = {"guestName": "Res", "partySize": 2, "startsAt": starts.isoformat()}
        if with_table:
            body["tableId"] = self.some_id(actor, "tables", data)
        self.remember(actor, "reservations", self.call(actor, "POST", "/reservations", json=body))

    @precondition(lambda self: any(ids["reservations"] for ids in self.ids))
    @rule(actor=st.sampled_from([0, 1]), data=st.data())
    def check_in(self, actor: int, data: st.DataObject) -> None:
        rid = self.some_id(actor, "reservations", data)
        body = data.draw(
            st.none()
            | st.builds(
                lambda t: {"tableId": t, "allowOverCapacity": True},
                st.just(self.some_id(actor, "tables", data)),
            )
        )
        response = self.call(actor, "POST", f"/reservations/{rid}/check-in", json=body)
        if response.status_code == 200:
            self.ids[actor]["guests"].append(response.json()["guestId"])

    @precondition(lambda self: any(ids["reservations"] for ids in self.ids))
    @rule(
        actor=st.sampled_from([0, 1]), data=st.data(), status=st.sampled_from(RESERVATION_STATUSES)
    )
    def reservation_status(self, actor: int, data: st.DataObject, status: str) -> None:
        self.call(
            actor,
            "PATCH",
            f"/reservations/{self.some_id(actor, 'reservations', data)}",
            json={"status": status},
        )

    # ----- the invariant ------------------------------------------------------------------

    def read_all(self, actor: int, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            response = self.call(
                actor,
                "GET",
                path,
                params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})},
            )
            body = response.json()
            items += body["items"]
            cursor = body["nextCursor"]
            if cursor is None:
                return items

    @invariant()
    def guest_table_invariant(self) -> None:
        if not self.actors:
            return
        for actor in (0, 1):
            tables = {t["id"]: t for t in self.read_all(actor, "/tables", {})}
            guests = {
                g["id"]: g for g in self.read_all(actor, "/guests", {"status": GUEST_STATUSES})
            }
            reservations = self.read_all(
                actor, "/reservations", {"status": [*RESERVATION_STATUSES, "booked"]}
            )
            for guest in guests.values():
                if guest["status"] == "seated":
                    # 1: seated at T <=> T occupied by this guest (and 4: T is ours).
                    table = tables[guest["tableId"]]
                    assert table["currentGuestId"] == guest["id"], (guest, table)
                    assert table["status"] == "occupied", table
                else:
                    # 3: not seated -> no table.
                    assert guest["tableId"] is None, guest
            for table in tables.values():
                if table["currentGuestId"] is not None or table["status"] == "occupied":
                    guest = guests[table["currentGuestId"]]
                    assert guest["status"] == "seated" and guest["tableId"] == table["id"]
            # 2: at most one current guest per table, one table per guest.
            current = [t["currentGuestId"] for t in tables.values() if t["currentGuestId"]]
            assert len(current) == len(set(current))
            for reservation in reservations:
                assert reservation["tableId"] in (None, *tables), reservation
                assert reservation["guestId"] in (None, *guests), reservation
                if reservation["status"] == "checked_in" and reservation["guestId"]:
                    assert guests[reservation["guestId"]]["status"] != "completed"


@pytest.mark.slow
def test_random_floor_operations_keep_the_invariant(database_url: str, tmp_path: Any) -> None:
    FloorMachine.database_url = staticmethod(lambda: database_url)  # type: ignore[assignment]
    run_state_machine_as_test(
        FloorMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=35,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
