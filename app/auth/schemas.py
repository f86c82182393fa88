"""Auth requests and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.core.schemas import InputModel, Name, OutputModel
from app.restaurants.schemas import Restaurant, Timezone
from app.users.schemas import Email, Password, User


class RegisterRequest(InputModel):
    restaurant_name: Name
    timezone: Timezone = "UTC"
    email: Email
    password: Password
    full_name: Name


class LoginRequest(InputModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class RefreshRequest(InputModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class AuthSession(OutputModel):
    restaurant: Restaurant
    user: User
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class OAuth2Token(BaseModel):
    """RFC 6749 section 5.1 (snake_case on purpose: Swagger's Authorize button reads it)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class Me(OutputModel):
    user: User
    restaurant: Restaurant
