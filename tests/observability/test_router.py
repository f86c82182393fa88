"""Health, readiness and Prometheus metrics labelled by full route templates."""

from __future__ import annotations

import re

from httpx import AsyncClient

from tests.fixtures.auth import Actor


async def test_healthz_answers_without_auth(client: AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_answers_when_the_database_does(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


def samples(text: str, route: str) -> dict[tuple[str, str], float]:
    """(method, status) -> count of qtable_http_requests_total for one route label."""
    pattern = re.compile(
        r'^qtable_http_requests_total\{method="(\w+)",route="'
        + re.escape(route)
        + r'",status="(\d+)"\} ([0-9.e+]+)$',
        re.MULTILINE,
    )
    return {(m, s): float(v) for m, s, v in pattern.findall(text)}


async def test_metrics_count_requests_by_full_route_template(
    client: AsyncClient, owner: Actor
) -> None:
    template = "/api/v1/users/{user_id}"
    before = samples((await client.get("/metrics")).text, template)

    assert (await client.get(f"/api/v1/users/{owner.user_id}", headers=owner.headers)).is_success
    assert (await client.get("/api/v1/users/424242", headers=owner.headers)).status_code == 404
    await client.get("/no/such/route/31337")
    response = await client.get("/metrics")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    after = samples(text, template)
    assert after[("GET", "200")] == before.get(("GET", "200"), 0) + 1
    assert after[("GET", "404")] == before.get(("GET", "404"), 0) + 1
    assert samples(text, "/api/v1/auth/register")[("POST", "201")] >= 1
    assert samples(text, "unmatched")[("GET", "404")] >= 1
    assert "qtable_http_request_duration_seconds_bucket" in text
    # Labels are templates: raw ids and unknown paths never become label values.
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert not any(re.search(r"/\d+", route) for route in routes), routes
    assert not any("31337" in route for route in routes)
