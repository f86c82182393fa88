"""Auth requests and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.schemas import InputModel, Name, OutputModel, input_schema, untitled_properties
from app.core.text import holds_unclean_text, text_error
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


class TokenForm(BaseModel):
    """The OAuth2 password grant (RFC 6749 section 4.3) as a form, for Swagger's Authorize
    button (snake_case, as the RFC names the fields)."""

    model_config = ConfigDict(json_schema_extra=input_schema)
    grant_type: str = Field(default="password", pattern="^password$")
    username: str = Field(description="The staff member's email.")
    password: str = Field(json_schema_extra={"format": "password"})
    scope: str = Field(default="", description="Not used: a token carries its user's role.")
    client_id: str = Field(default="", description="Not used.")
    client_secret: str = Field(
        default="", description="Not used.", json_schema_extra={"format": "password"}
    )

    @field_validator("*", mode="before")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        # The rule InputModel gives JSON bodies: the username reaches the database.
        if holds_unclean_text(value):
            raise text_error()
        return value


class OAuth2Token(BaseModel):
    """RFC 6749 section 5.1 (snake_case on purpose: Swagger's Authorize button reads it)."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, json_schema_extra=untitled_properties
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class Me(OutputModel):
    user: User
    restaurant: Restaurant
