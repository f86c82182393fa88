"""Base classes for wire schemas: camelCase out, camelCase or snake_case in, unknown fields 422."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Self,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from app.core.text import holds_unclean_text, text_error
from app.core.vocabulary import Vocabulary

T = TypeVar("T")
# Whether a value as sent holds bad text in a part that no nested input model will check.
TextCheck = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Named:
    """``Annotated`` metadata that makes a type a named schema of the OpenAPI document, which
    every use refers to: generators name a type written out where it is used after its place
    (`BatchRequestGuestsInner`)."""

    name: str
    description: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        # A core schema with a ref is a definition of its own in the JSON schema.
        cast(dict[str, Any], schema)["ref"] = self.name
        return schema

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        handler.resolve_ref_schema(json_schema)["description"] = self.description
        return json_schema


def untitled_properties(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A model's JSON schema without the titles pydantic makes up from field names ("Party
    Size"): client generators name inline types after titles, and the schema's own name and
    each property's name already say it."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


def never_null(schema: dict[str, Any]) -> None:
    """The JSON schema of a value that may be left out but never sent as null (its Python
    default, None, stands for "not given"): the schema without its null branch."""
    members = schema.get("anyOf")
    if members is None or {"type": "null"} not in members:
        return
    rest = [member for member in members if member != {"type": "null"}]
    del schema["anyOf"]
    if len(rest) == 1:
        # The field's own keys (description, default, examples) beside the type's.
        merged = {**rest[0], **schema}
        schema.clear()
        schema.update(merged)
    else:
        schema["anyOf"] = rest
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def input_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A request body's JSON schema: untitled properties, null only where the model's
    ``nullable`` takes it, and a field's default said in its description rather than as
    `default`, which some generators (openapi-typescript) read as "always present" and so
    make the field required in what a client sends."""
    untitled_properties(schema, model)
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    names = {field.alias or name: name for name, field in model.model_fields.items()}
    for key, prop in schema.get("properties", {}).items():
        if names.get(key, key) not in nullable:
            never_null(prop)
    for prop in schema.get("properties", {}).values():
        if "default" in prop:
            said = f"Default: `{json.dumps(prop.pop('default'))}`."
            prop["description"] = f"{prop['description']} {said}" if "description" in prop else said


class OutputModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
        # An answer always holds every field, defaults included: a client may rely on each.
        json_schema_serialization_defaults_required=True,
        json_schema_extra=untitled_properties,
    )


class InputModel(BaseModel):
    """A request body, strict for every field a subclass declares (docs/contract.md, Conventions).

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
        json_schema_extra=input_schema,
    )
    # The fields that take null, each because null means something there (a create's
    # `phone: null` is no phone); any other field sent as null is a 422, a field's Python
    # default None standing only for "not given".
    nullable: ClassVar[frozenset[str]] = frozenset()
    # Per field holding nested input models: where bad text can sit outside them.
    _nested_text_checks: ClassVar[dict[str, TextCheck]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_nullable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null")
        return value

    @model_validator(mode="before")
    @classmethod
    def _clean_keys(cls, data: Any) -> Any:
        # Such a key is refused anyway (unknown, or not text at all), but as whichever error
        # comes first; this way it is the same error as bad text anywhere else.
        if isinstance(data, dict) and any(holds_unclean_text(key) for key in data):
            raise text_error()
        return data

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        checks = {}
        for name, field in cls.model_fields.items():
            check = text_outside_input_models(field.annotation)
            if check is not None:
                checks[name] = check
        cls._nested_text_checks = checks

    @field_validator("*", mode="before")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        # Before any other check, on the value as sent: lists, tuples and nested objects too.
        # A nested input model checks its own text, so that the error names the item and
        # field it is in (``guests, 3, name``), not the whole list holding it.
        check = cls._nested_text_checks.get(info.field_name or "", holds_unclean_text)
        if check(value):
            raise text_error()
        return value


_SEQUENCES = (list, tuple, set, frozenset, Sequence, AbstractSet)
_MAPPINGS = (dict, Mapping)


def _nothing_outside(value: Any) -> bool:
    # An object is the nested model's to check; anything else that model refuses anyway.
    return False


def text_outside_input_models(annotation: Any) -> TextCheck | None:
    """The text check of a field's value that leaves to each nested ``InputModel`` the
    objects its type gives it, or None when the type nests none (the whole value is checked).

    Bad text outside those models (a string member of a union, a key of a mapping) is still
    found before anything else, though reported at the field rather than deeper."""
    if get_origin(annotation) is Annotated:
        return text_outside_input_models(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, InputModel):
        return _nothing_outside
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Union or origin is types.UnionType:
        return _any_member([a for a in args if a is not type(None)])
    if origin in _SEQUENCES:
        element = _any_member([a for a in args if a is not Ellipsis])
        if element is None:
            return None
        return _each_element(element)
    if origin in _MAPPINGS and len(args) == 2:
        entry = text_outside_input_models(args[1])
        if entry is None:
            return None
        return _each_entry(entry)
    return None


def _any_member(members: list[Any]) -> TextCheck | None:
    """A value of one of ``members``: which one takes it is the validator's choice, so any
    member that would not leave it to a model has it checked."""
    found = [text_outside_input_models(m) for m in members]
    if all(check is None for check in found):
        return None
    checks = [holds_unclean_text if check is None else check for check in found]
    checks = [check for check in dict.fromkeys(checks) if check is not _nothing_outside]
    if not checks:
        return _nothing_outside
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def _each_element(element: TextCheck) -> TextCheck:
    def check(value: Any) -> bool:
        if isinstance(value, list | tuple):
            return element is not _nothing_outside and any(element(v) for v in value)
        return holds_unclean_text(value)

    return check


def _each_entry(entry: TextCheck) -> TextCheck:
    def check(value: Any) -> bool:
        if isinstance(value, dict):
            return any(holds_unclean_text(k) or entry(v) for k, v in value.items())
        return holds_unclean_text(value)

    return check


def _patch_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A partial update's JSON schema says what its validation does: every field optional,
    and null allowed only where ``nullable`` gives it a meaning. A field left out is left
    unchanged, so its Python default (None) is no default of the API's: not said at all."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
    input_schema(schema, model)


class FieldNames(Vocabulary):
    """Names of a model's fields, as the wire spells them (camelCase). Generators derive an
    enum case's name from its value and would flatten `tableId` to `tableid`; the document
    gives each case its own name (`x-enum-varnames`, read by openapi-generator)."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        target["x-enum-varnames"] = [word.value for word in cls]
        return json_schema


CLEAR_DESCRIPTION = (
    "Fields to set to null, as if each were sent as null: for clients whose generated code "
    "leaves a nil out rather than sending null. A field both given a value and cleared is a 422."
)


class PatchModel(InputModel):
    """A partial update: omitted fields stay as they are; null is refused unless the field
    may be null, and the JSON schema says so.

    The fields that may be null are exactly the ones its ``clear`` field's vocabulary names
    (``clear: list[SomeField] | None``): a client that cannot send a null (a generated Swift
    client drops a nil) clears a field by naming it there. ``nullable`` is derived from that
    vocabulary when the class is made, so the two cannot disagree.
    """

    model_config = ConfigDict(json_schema_extra=_patch_schema)
    # Wire name of each clearable field -> its attribute name.
    _clearable: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("clear")
        if field is None:
            if cls.nullable:
                raise TypeError(f"{cls.__name__}: a field that may be null needs `clear`")
            return
        words = _clear_vocabulary(field.annotation)
        by_wire = {f.alias or name: name for name, f in cls.model_fields.items()}
        unknown = sorted(w.value for w in words if w.value not in by_wire or w.value == "clear")
        if unknown:
            raise TypeError(f"{cls.__name__}.clear names no field of it: {unknown}")
        cls._clearable = {w.value: by_wire[w.value] for w in words}
        cls.nullable = frozenset(cls._clearable.values())

    @model_validator(mode="after")
    def _cleared_fields_are_null(self) -> Self:
        for word in getattr(self, "clear", None) or ():
            name = self._clearable[word]
            if name in self.model_fields_set and getattr(self, name) is not None:
                raise ValueError(f"`{word}` is both given a value and cleared")
            setattr(self, name, None)
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client set (cleared ones as None), by attribute name."""
        return self.model_dump(exclude_unset=True, exclude={"clear"})


def _clear_vocabulary(annotation: Any) -> type[StrEnum]:
    """``E`` of ``list[E] | None``, the annotation every ``clear`` field has."""
    for member in get_args(annotation):
        if get_origin(member) is list:
            (word,) = get_args(member)
            if isinstance(word, type) and issubclass(word, StrEnum):
                return word
    raise TypeError(f"`clear` is typed list[SomeStrEnum] | None, not {annotation!r}")


class Page(OutputModel, Generic[T]):
    """A page of a list; each list's own subclass gives it its name in the document (a
    generic's name, ``Page[Guest]``, reads badly in every generated client)."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


def only(*allowed: StrEnum) -> AfterValidator:
    """Of a vocabulary, only these words here; the field still shows the whole vocabulary (one
    enum per concept in the document) and says in its description which words it takes."""
    expected = ", ".join(f"'{word.value}'" for word in allowed[:-1]) + f" or '{allowed[-1].value}'"

    def check(value: StrEnum) -> StrEnum:
        if value not in allowed:
            raise PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})
        return value

    return AfterValidator(check)


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
