"""Staff users on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.core.schemas import InputModel, Name, OutputModel, Page, PatchModel
from app.core.vocabulary import Role


def _normal_email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError("must be an email address")
    if any(c.isspace() for c in value) or value.count("@") != 1:
        raise ValueError("must be an email address")
    return value


Email = Annotated[
    str,
    Field(max_length=254, examples=["host@example.com"], json_schema_extra={"format": "email"}),
    AfterValidator(_normal_email),
]
Password = Annotated[str, Field(min_length=10, max_length=128)]


class User(OutputModel):
    id: int
    restaurant_id: int
    email: str
    full_name: str
    role: Role
    version: int
    created_at: datetime
    updated_at: datetime


class UserPage(Page[User]):
    """Staff by `id`."""


class UserCreate(InputModel):
    email: Email
    password: Password
    full_name: Name
    role: Role


class UserUpdate(PatchModel):
    email: Email | None = None
    password: Password | None = None
    full_name: Name | None = None
    role: Role | None = None
    current_password: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Your own current password. Needed, and checked, only when you change "
        "your own `password` or `email` (403 `forbidden` without it or when it is wrong); "
        "ignored otherwise, as when a manager or owner edits someone else. Each check counts "
        "against the login limit of your email: past that limit it is refused (403) unchecked.",
    )
