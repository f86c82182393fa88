"""Base classes for wire schemas: camelCase out, camelCase or snake_case in, unknown fields 422."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class OutputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )


class InputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=False
    )


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
# E.164: a plus sign, a non-zero digit, at most 15 digits in all.
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{1,14}$")]
