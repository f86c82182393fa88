from httpx import AsyncClient

from tests.fixtures.auth import Actor


async def test_register_then_me(client: AsyncClient, owner: Actor) -> None:
    response = await client.get("/api/v1/auth/me", headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["role"] == "owner"
    assert body["restaurant"]["id"] == owner.restaurant_id
    assert response.headers["x-request-id"]
