"""Register, log in, the OAuth2 token form, and who am I."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from app.restaurants.schemas import WEEKDAYS
from tests.fixtures.auth import PASSWORD, USER_FIELDS, Actor, login, unique_email
from tests.fixtures.errors import assert_error, assert_validation_error, without_request_id

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"

RESTAURANT_FIELDS = {
    "id",
    "name",
    "timezone",
    "tableAfterGuestLeaves",
    "defaultReservationMinutes",
    "serviceHours",
    "version",
    "createdAt",
    "updatedAt",
}
SESSION_FIELDS = {"restaurant", "user", "accessToken", "refreshToken", "tokenType", "expiresIn"}


def registration(**overrides: Any) -> dict[str, Any]:
    body = {
        "restaurantName": "Chez Nous",
        "timezone": "Europe/Paris",
        "email": unique_email("reg"),
        "password": PASSWORD,
        "fullName": "Rita Register",
    }
    body.update(overrides)
    return body


async def assert_cannot_log_in(client: AsyncClient, email: str, password: str = PASSWORD) -> None:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert_error(response, 401, "unauthorized")


async def assert_email_free(client: AsyncClient, email: str) -> None:
    """A refused registration stored nothing: the same email registers fine afterwards."""
    response = await client.post(REGISTER, json=registration(email=email))
    assert response.status_code == 201, response.text


# ----- register -------------------------------------------------------------------------------


async def test_register_answers_201_with_the_session_shape(client: AsyncClient) -> None:
    data = registration(email="Rita.Register@Example.com")
    response = await client.post(REGISTER, json=data)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == SESSION_FIELDS
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 900
    assert body["accessToken"] and body["refreshToken"]
    assert body["accessToken"] != body["refreshToken"]

    restaurant, user = body["restaurant"], body["user"]
    assert set(restaurant) == RESTAURANT_FIELDS
    assert restaurant["name"] == "Chez Nous"
    assert restaurant["timezone"] == "Europe/Paris"
    assert restaurant["tableAfterGuestLeaves"] == "dirty"
    assert restaurant["defaultReservationMinutes"] == 90
    assert restaurant["serviceHours"] == {day: [] for day in WEEKDAYS}
    assert restaurant["version"] == 1
    assert restaurant["createdAt"].endswith("Z")

    assert set(user) == USER_FIELDS  # no password hash, no token generation
    assert user["email"] == "rita.register@example.com"
    assert user["fullName"] == "Rita Register"
    assert user["role"] == "owner"
    assert user["restaurantId"] == restaurant["id"]
    assert user["updatedAt"].endswith("Z")


async def test_register_then_login_then_me(client: AsyncClient) -> None:
    data = registration()
    registered = (await client.post(REGISTER, json=data)).json()

    response = await client.post(LOGIN, json={"email": data["email"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert session["user"] == registered["user"]
    assert session["restaurant"] == registered["restaurant"]
    assert session["refreshToken"] != registered["refreshToken"]

    me = await client.get(ME, headers={"Authorization": f"Bearer {session['accessToken']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"user": registered["user"], "restaurant": registered["restaurant"]}


async def test_timezone_defaults_to_utc(client: AsyncClient) -> None:
    data = registration()
    del data["timezone"]
    response = await client.post(REGISTER, json=data)
    assert response.status_code == 201, response.text
    assert response.json()["restaurant"]["timezone"] == "UTC"


async def test_snake_case_fields_are_accepted(client: AsyncClient) -> None:
    email = unique_email("snake")
    response = await client.post(
        REGISTER,
        json={
            "restaurant_name": "Snake Diner",
            "email": email,
            "password": PASSWORD,
            "full_name": "Sid Snake",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["restaurant"]["name"] == "Snake Diner"
    assert response.json()["user"]["fullName"] == "Sid Snake"


@pytest.mark.parametrize("variant", [str.upper, str.title, lambda e: f"  {e}  "])
async def test_duplicate_email_is_409_whatever_its_case(client: AsyncClient, variant: Any) -> None:
    email = unique_email("dup")
    await client.post(REGISTER, json=registration(email=email))

    again = await client.post(
        REGISTER, json=registration(email=variant(email), password="another password 1")
    )

    body = assert_error(again, 409, "duplicate")
    assert body["error"]["details"] == {"field": "email"}
    # The first registration stands: the second password was not stored anywhere.
    await login(client, email)
    await assert_cannot_log_in(client, email, "another password 1")


@pytest.mark.parametrize("length", [10, 128])
async def test_password_length_bounds_are_accepted(client: AsyncClient, length: int) -> None:
    email = unique_email("pw")
    response = await client.post(REGISTER, json=registration(email=email, password="p" * length))
    assert response.status_code == 201, response.text
    await login(client, email, "p" * length)


@pytest.mark.parametrize("length", [0, 9, 129, 1000])
async def test_password_outside_10_to_128_is_422(client: AsyncClient, length: int) -> None:
    email = unique_email("pw")
    response = await client.post(REGISTER, json=registration(email=email, password="p" * length))
    assert_validation_error(response, "password")
    await assert_email_free(client, email)


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "utc+2", "", "Europe/"])
async def test_unknown_timezone_is_422(client: AsyncClient, timezone: str) -> None:
    email = unique_email("tz")
    response = await client.post(REGISTER, json=registration(email=email, timezone=timezone))
    assert_validation_error(response, "timezone")
    await assert_email_free(client, email)


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "restaurantId",
        "restaurant_id",
        "version",
        "createdAt",
        "updatedAt",
        "role",
        "nickname",
    ],
)
async def test_unknown_and_server_owned_fields_are_422(client: AsyncClient, field: str) -> None:
    email = unique_email("extra")
    value = "2020-01-01T00:00:00Z" if field.endswith("At") else 7
    response = await client.post(REGISTER, json=registration(email=email, **{field: value}))
    assert_validation_error(response, field)
    await assert_email_free(client, email)


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("email", "a@b"), ("fullName", "   "), ("restaurantName", "")],
)
async def test_malformed_register_fields_are_422(
    client: AsyncClient, field: str, value: str
) -> None:
    response = await client.post(REGISTER, json=registration(**{field: value}))
    assert_validation_error(response, field)


# ----- login and the OAuth2 token form ------------------------------------------------------


async def test_wrong_password_and_unknown_email_answer_the_same(
    client: AsyncClient, owner: Actor
) -> None:
    wrong_password = await client.post(
        LOGIN, json={"email": owner.email, "password": "not the password"}
    )
    unknown_email = await client.post(
        LOGIN, json={"email": unique_email("ghost"), "password": "not the password"}
    )

    assert_error(wrong_password, 401, "unauthorized")
    assert_error(unknown_email, 401, "unauthorized")
    assert without_request_id(wrong_password) == without_request_id(unknown_email)
    assert wrong_password.headers.get("www-authenticate") == unknown_email.headers.get(
        "www-authenticate"
    )


async def test_login_email_is_case_insensitive(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(LOGIN, json={"email": owner.email.upper(), "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == owner.user_id


async def test_token_form_answers_the_rfc_6749_shape(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(TOKEN, data={"username": owner.email, "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == owner.user_id
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refreshToken": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_token_form_with_a_wrong_password_is_401(client: AsyncClient, owner: Actor) -> None:
    response = await client.post(TOKEN, data={"username": owner.email, "password": "wrong one!!"})
    assert_error(response, 401, "unauthorized")
    assert "access_token" not in response.text


async def test_me_needs_a_token(client: AsyncClient) -> None:
    response = await client.get(ME)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
