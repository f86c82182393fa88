"""Base classes for wire schemas: camelCase out, camelCase or snake_case in, unknown fields 422."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from app.core.text import holds_unclean_text, text_error

T = TypeVar("T")


class OutputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )


class InputModel(BaseModel):
    """A request body, strict for every field a subclass declares (API.md, Conventions).

    - JSON types as declared: an integer takes a JSON integer (not `true`, `"4"`, nor `4.0`:
      iOS encodes an Int as `4`, so `4.0` is a client bug worth showing), a number takes an
      integer or a number, a boolean takes `true` or `false`, a string takes a string.
    - No string anywhere in the body, object keys included, holds U+0000 or an unpaired
      surrogate (app.core.text).

    FastAPI validates the body after ``json.loads`` (``validate_python``), where strict mode
    wants Python objects: a timestamp must be a ``Timestamp`` and a fixed-length array an
    ``Annotated[tuple[...], Strict(False)]``. Declared bare, a datetime refuses every string
    and a tuple every array: a mistake there fails closed, in the first test that sends one.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=False,
        strict=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _clean_keys(cls, data: Any) -> Any:
        # Such a key is refused anyway (unknown, or not text at all), but as whichever error
        # comes first; this way it is the same error as bad text anywhere else.
        if isinstance(data, dict) and any(holds_unclean_text(key) for key in data):
            raise text_error()
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        # Before any other check, on the value as sent: lists, tuples and nested objects too.
        if holds_unclean_text(value):
            raise text_error()
        return value


class PatchModel(InputModel):
    """A partial update: omitted fields stay as they are; null is refused unless the field
    may be null (listed in ``nullable``)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_nullable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Page(OutputModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


# A person's or restaurant's name: surrounding whitespace trimmed, then 1..100 characters.
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100), AfterValidator(_not_blank)
]
Notes = Annotated[str, StringConstraints(max_length=1000)]
# Pydantic would also read a number, or a string of digits, as seconds since the epoch.
_ISO_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_text(value: Any) -> Any:
    # A datetime object never comes out of a JSON body: it is the service's own code building
    # a request model (the demo seed, a batch item), and AwareDatetime still wants an offset.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_TIMESTAMP.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be an ISO 8601 timestamp string with an offset"
        )
    return value


# An instant in a request: an ISO 8601 string with an offset ("...T19:30:00+02:00" or "...Z").
# Lax (Strict(False)) only so that the string is parsed; _iso_text has refused anything else.
Timestamp = Annotated[AwareDatetime, Strict(False), BeforeValidator(_iso_text)]
# E.164: a plus sign, a non-zero digit, at most 15 digits in all.
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$")]
