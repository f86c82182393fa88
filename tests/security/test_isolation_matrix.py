"""The tenant isolation matrix, built from the app itself: every route that names a row, in
its path or in its body (batch items included), is tried by restaurant B with restaurant A's
ids. Each answer is the 404 of an id that does not exist, byte for byte once the ids are
blanked; no answer to B holds anything of A; A's rows are exactly as before. A route or an id
field the matrix does not know makes the test fail until it is taught (PATH_KINDS, BODIES,
REFERENCES), so a new route cannot slip through."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from httpx import AsyncClient, Response

from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.errors import without_request_id
from tests.fixtures.floor import create_guest, create_table, seat
from tests.reservations.factories import create_reservation, iso
from tests.sync.helpers import snapshot

API = "/api/v1"
MISSING = 987_654_321
MARKER = "zzSecretOfA"  # in every name A's rows have: never in an answer to B

# The kind of row each path parameter names.
PATH_KINDS = {
    "guest_id": "guest",
    "table_id": "table",
    "reservation_id": "reservation",
    "user_id": "user",
}
# Routes that name no row of a restaurant in their path (lists, creates, the restaurant itself,
# auth): their bodies are covered by REFERENCES, their answers by the marker scan.
NO_PATH_ROW = {
    ("GET", f"{API}/dashboard/data"),
    ("GET", f"{API}/guests"),
    ("POST", f"{API}/guests"),
    ("POST", f"{API}/batch/update"),
    ("GET", f"{API}/tables"),
    ("POST", f"{API}/tables"),
    ("GET", f"{API}/reservations"),
    ("GET", f"{API}/reservations/availability"),
    ("POST", f"{API}/reservations"),
    ("GET", f"{API}/restaurant"),
    ("PATCH", f"{API}/restaurant"),
    ("GET", f"{API}/users"),
    ("POST", f"{API}/users"),
    ("POST", f"{API}/auth/register"),
    ("POST", f"{API}/auth/login"),
    ("POST", f"{API}/auth/token"),
    ("POST", f"{API}/auth/refresh"),
    ("POST", f"{API}/auth/logout"),
    ("GET", f"{API}/auth/me"),
}
# A valid body for each route that names a row in its path and takes one, so that B's request
# reaches the row lookup (a 422 would answer first otherwise).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", f"{API}/guests/{{guest_id}}"): {"notes": "B was here"},
    ("POST", f"{API}/guests/{{guest_id}}/seat"): {"tableId": "B:table"},
    ("POST", f"{API}/guests/{{guest_id}}/complete"): None,
    ("PATCH", f"{API}/tables/{{table_id}}"): {"status": "dirty"},
    ("PATCH", f"{API}/reservations/{{reservation_id}}"): {"partySize": 3},
    ("POST", f"{API}/reservations/{{reservation_id}}/check-in"): {},
    ("PATCH", f"{API}/users/{{user_id}}"): {"fullName": "B was here"},
}


def _booking() -> dict[str, Any]:
    return {
        "guestName": "B",
        "partySize": 2,
        "startsAt": iso(datetime.now(UTC) + timedelta(days=3)),
    }


# Every id a request body can carry, by (method, path, field): B's request with A's row there.
# "A:kind" is A's row of that kind, "B:kind" B's own.
REFERENCES: dict[tuple[str, str, str], tuple[str, Any]] = {
    ("PATCH", f"{API}/guests/{{guest_id}}", "tableId"): (
        f"{API}/guests/B:guest",
        {"tableId": "A:table"},
    ),
    ("POST", f"{API}/guests/{{guest_id}}/seat", "tableId"): (
        f"{API}/guests/B:guest/seat",
        {"tableId": "A:table"},
    ),
    ("PATCH", f"{API}/tables/{{table_id}}", "currentGuestId"): (
        f"{API}/tables/B:table",
        {"currentGuestId": "A:guest"},
    ),
    ("POST", f"{API}/reservations", "tableId"): (
        f"{API}/reservations",
        {**_booking(), "tableId": "A:table"},
    ),
    ("PATCH", f"{API}/reservations/{{reservation_id}}", "tableId"): (
        f"{API}/reservations/B:reservation",
        {"tableId": "A:table"},
    ),
    ("POST", f"{API}/reservations/{{reservation_id}}/check-in", "tableId"): (
        f"{API}/reservations/B:reservation/check-in",
        {"tableId": "A:table"},
    ),
    ("POST", f"{API}/batch/update", "tables[].id"): (
        f"{API}/batch/update",
        {"tables": [{"id": "A:table", "status": "dirty"}]},
    ),
    ("POST", f"{API}/batch/update", "tables[].currentGuestId"): (
        f"{API}/batch/update",
        {"tables": [{"id": "B:table", "currentGuestId": "A:guest"}]},
    ),
    ("POST", f"{API}/batch/update", "guests[].id"): (
        f"{API}/batch/update",
        {"guests": [{"id": "A:guest", "notes": "B"}]},
    ),
    ("POST", f"{API}/batch/update", "guests[].tableId"): (
        f"{API}/batch/update",
        {"guests": [{"id": "B:guest", "tableId": "A:table"}]},
    ),
    ("POST", f"{API}/batch/update", "reservations[].id"): (
        f"{API}/batch/update",
        {"reservations": [{"op": "delete", "id": "A:reservation"}]},
    ),
    ("POST", f"{API}/batch/update", "reservations[].tableId"): (
        f"{API}/batch/update",
        {"reservations": [{"op": "create", **_booking(), "tableId": "A:table"}]},
    ),
}


def _id_fields(document: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    """The fields of a request body schema that hold a row's id, as dotted paths."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _id_fields(document, document["components"]["schemas"][name], prefix)
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, ()):
            found |= _id_fields(document, option, prefix)
    if schema.get("type") == "array" and "items" in schema:
        found |= _id_fields(document, schema["items"], prefix + "[]")
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if name == "id" or (name.endswith("Id") and name != "clientId"):
            found.add(path)
        else:
            found |= _id_fields(document, field, path)
    return found


def _documented_references(app: FastAPI) -> set[tuple[str, str, str]]:
    document = app.openapi()
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            schema = body.get("application/json", {}).get("schema")
            if schema is not None:
                for field in _id_fields(document, schema):
                    found.add((method.upper(), path, field.replace(".", "", 0)))
    return found


async def _floors(client: AsyncClient, owner: Actor, rival: Actor) -> dict[str, int]:
    """A's rows (names marked) and B's: "A:guest", "B:table", ..."""
    ids: dict[str, int] = {}
    for prefix, actor in (("A", owner), ("B", rival)):
        name = MARKER if prefix == "A" else "Bee"
        table = await create_table(client, actor, f"{name}1")
        guest = await create_guest(client, actor, f"{name} guest")
        seated = await create_guest(client, actor, f"{name} seated")
        await seat(
            client, actor, seated["id"], (await create_table(client, actor, f"{name}2"))["id"]
        )
        reservation = await create_reservation(client, actor, guestName=f"{name} booking")
        staff = await add_staff(client, actor, "host")
        ids.update(
            {
                f"{prefix}:table": table["id"],
                f"{prefix}:guest": guest["id"],
                f"{prefix}:reservation": reservation["id"],
                f"{prefix}:user": staff.user_id,
            }
        )
    return ids


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str) and value in ids:
        return ids[value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _blank(response: Response, *ids: int) -> str:
    text = repr(without_request_id(response))
    for row_id in ids:
        text = re.sub(rf"\b{row_id}\b", "<id>", text)
    return text


async def _a_as_it_is(client: AsyncClient, owner: Actor) -> list[Any]:
    full = await snapshot(client, owner)
    full.pop("serverTime")
    users = (await client.get(f"{API}/users", headers=owner.headers)).json()
    reservations = (
        await client.get(f"{API}/reservations", headers=owner.headers, params={"limit": 200})
    ).json()
    restaurant = (await client.get(f"{API}/restaurant", headers=owner.headers)).json()
    return [full, users, reservations, restaurant]


async def test_restaurant_b_cannot_reach_a_row_of_a_through_any_route(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    ids = await _floors(client, owner, rival)
    before = await _a_as_it_is(client, owner)
    answers: list[Response] = []
    covered = 0

    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith(API)]
    assert routes
    for route in routes:
        for method in sorted(route.methods):
            names = re.findall(r"{(\w+)}", route.path)
            if not names:
                assert (method, route.path) in NO_PATH_ROW, (
                    f"teach the matrix {method} {route.path}"
                )
                continue
            unknown = [n for n in names if n not in PATH_KINDS]
            assert not unknown, f"{method} {route.path}: unknown path parameters {unknown}"
            body = _fill(BODIES.get((method, route.path)), ids)
            if method in ("POST", "PATCH", "PUT"):
                assert (method, route.path) in BODIES, f"teach the matrix a body: {route.path}"

            def path(row: str, template: str = route.path) -> str:
                return re.sub(r"{\w+}", row, template)

            kind = PATH_KINDS[names[0]]
            foreign = await client.request(
                method, path(str(ids[f"A:{kind}"])), json=body, headers=rival.headers
            )
            missing = await client.request(
                method, path(str(MISSING)), json=body, headers=rival.headers
            )
            answers += [foreign, missing]
            assert foreign.status_code == 404, (method, route.path, foreign.text)
            assert _blank(foreign, ids[f"A:{kind}"]) == _blank(missing, MISSING), route.path
            covered += 1

    documented = _documented_references(app)
    untaught = documented - set(REFERENCES)
    assert not untaught, f"teach the matrix these id fields: {sorted(untaught)}"
    for (method, _, field), (path, body) in REFERENCES.items():
        filled_path = path
        for key, value in ids.items():
            filled_path = filled_path.replace(key, str(value))
        foreign = await client.request(
            method, filled_path, json=_fill(body, ids), headers=rival.headers
        )
        answers.append(foreign)
        assert foreign.status_code == 404, (method, path, field, foreign.text)
        assert foreign.json()["error"]["code"] == "not_found"
        covered += 1

    # Reads that take no id: A's cursor as B's `since` is a cursor B cannot be served.
    a_cursor = (await snapshot(client, owner))["cursor"]
    since = await client.get(
        f"{API}/dashboard/data", params={"since": a_cursor}, headers=rival.headers
    )
    assert since.json()["fullSync"] is True
    answers.append(since)
    for list_path in ("guests", "tables", "reservations", "users", "restaurant", "auth/me"):
        answers.append(await client.get(f"{API}/{list_path}", headers=rival.headers))
    # A's list cursors as B's: a sort key, which pages B's own rows (or is refused).
    for list_path in ("guests", "tables", "reservations", "users"):
        page = await client.get(f"{API}/{list_path}", params={"limit": 1}, headers=owner.headers)
        a_list_cursor = page.json()["nextCursor"]
        if a_list_cursor is not None:
            answer = await client.get(
                f"{API}/{list_path}", params={"cursor": a_list_cursor}, headers=rival.headers
            )
            assert answer.status_code in (200, 422), answer.text
            answers.append(answer)

    for answer in answers:
        assert MARKER not in answer.text, (answer.request.url, answer.text[:300])
    assert await _a_as_it_is(client, owner) == before
    print(f"isolation matrix: {covered} requests with A's ids, {len(documented)} id fields")
    assert covered >= 20, covered


async def test_the_matrix_knows_every_websocket_route(app: FastAPI) -> None:
    """WebSocket routes are covered by tests/realtime (a resume with another restaurant's
    cursor gets resync; no socket gets another restaurant's changes): a new one fails here
    until it is covered too."""
    sockets = {r.path for r in app.routes if isinstance(r, APIWebSocketRoute)}
    assert sockets == {f"{API}/ws"}
