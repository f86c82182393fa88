"""The canonical-integer rule for every route's path and query parameters."""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Iterator
from collections.abc import Sequence as AbstractSequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from starlette.convertors import PathConvertor, StringConvertor
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import ValidationFailed
from app.core.openapi import edit_document_when_built

# The type pydantic gives an integer it cannot read ("abc"): a client sees one type for any
# badly written integer, whichever of the two refused it.
ERROR_TYPE = "int_parsing"
MESSAGE = "Input should be an integer written as 0 or as ASCII digits without a leading zero"
SIGNED_MESSAGE = f"{MESSAGE}, after '-' if negative"
DESCRIPTION = (
    "Written in ASCII digits, with no sign or leading zero (`0`, `47`); `+47`, `047`, `47.0`, "
    "`4_7` or a space is 422."
)
SIGNED_DESCRIPTION = (
    "Written in ASCII digits, with no leading zero and `-` only before a negative (`0`, `47`, "
    "`-47`); `+47`, `-0`, `047`, `47.0`, `4_7` or a space is 422."
)

Location = Literal["path", "query"]


def is_canonical(text: str, *, signed: bool = False) -> bool:
    """``0`` or ``[1-9][0-9]*`` in ASCII (``-`` first when ``signed``, but never ``-0``).

    int() and pydantic also read ``+4``, ``04``, `` 4``, ``4_0`` (40), ``4.0`` and non-ASCII
    digits: one id would have many addresses, and a typo could reach another row."""
    if signed and text[:1] == "-":
        text = text[1:]
        if text == "0":
            return False
    return text.isascii() and text.isdigit() and (text[0] != "0" or len(text) == 1)


@dataclass(frozen=True, slots=True)
class IntegerParameter:
    location: Location
    # Every key the request may carry it under (an alias and its choices).
    names: tuple[str, ...]
    signed: bool


def integer_parameters(dependant: Dependant) -> list[IntegerParameter]:
    """The integer-typed path and query parameters of a route's endpoint and of every
    dependency it has, however deep."""
    found: dict[tuple[Location, tuple[str, ...]], IntegerParameter] = {}
    pending = [dependant]
    while pending:
        current = pending.pop()
        pending.extend(current.dependencies)
        groups: tuple[tuple[Location, Any], ...] = (
            ("path", current.path_params),
            ("query", current.query_params),
        )
        for location, fields in groups:
            for field in fields:
                for name, info in _declared_fields(field.name, field.field_info):
                    signed = _signedness(info.annotation, info.metadata)
                    if signed is not None:
                        names = _request_names(name, info)
                        found[location, names] = IntegerParameter(location, names, signed)
    return list(found.values())


class CanonicalIntegers:
    """A route's ASGI app behind the rule, wrapped as Starlette wraps a route in its own
    middleware (``Route(middleware=...)``). It reads the raw text before any route class or
    FastAPI parses it, so a route class that reads its parameters itself is covered too; its
    422 is raised for the app's error handlers to render."""

    __slots__ = ("app", "parameters", "path", "query")

    def __init__(self, app: ASGIApp, parameters: list[IntegerParameter]) -> None:
        self.app = app
        self.parameters = parameters
        self.path = tuple(
            (name, p.signed) for p in parameters if p.location == "path" for name in p.names
        )
        self.query = {
            name: p.signed for p in parameters if p.location == "query" for name in p.names
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        errors: dict[tuple[str, str], dict[str, Any]] = {}
        if self.path:
            values = scope.get("path_params", {})
            for name, signed in self.path:
                value = values.get(name)
                if isinstance(value, str) and not is_canonical(value, signed=signed):
                    errors["path", name] = _error("path", name, signed)
        query_string: bytes = scope.get("query_string", b"")
        if self.query and query_string:
            for name, value in _query_pairs(query_string):
                negatives = self.query.get(name)
                if negatives is not None and not is_canonical(value, signed=negatives):
                    errors.setdefault(("query", name), _error("query", name, negatives))
        if errors:
            raise ValidationFailed(list(errors.values()))
        await self.app(scope, receive, send)


def require_canonical_integers(app: FastAPI) -> None:
    """Put every route of ``app`` that has an integer path or query parameter behind the rule,
    and say so in those parameters' OpenAPI descriptions. Routes without one are left as they
    are. Call it once every route is in ``app.routes``."""
    described: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        parameters = integer_parameters(route.dependant)
        if not parameters:
            continue
        _require_raw_path_text(route, parameters)
        if not isinstance(route.app, CanonicalIntegers):
            route.app = CanonicalIntegers(route.app, parameters)
        for method in route.methods or ():
            described[route.path_format, method.lower()] = {
                (p.location, name): SIGNED_DESCRIPTION if p.signed else DESCRIPTION
                for p in parameters
                for name in p.names
            }
    _describe_in_openapi(app, described)


# ----- reading declarations ------------------------------------------------------------------


def _declared_fields(name: str, info: FieldInfo) -> Iterator[tuple[str, FieldInfo]]:
    """A parameter, or the fields of a parameter model (``Annotated[Filters, Query()]``),
    which FastAPI reads one by one from the query string."""
    model = _without_none(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        yield from model.model_fields.items()
    else:
        yield name, info


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _request_names(name: str, info: FieldInfo) -> tuple[str, ...]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        choices = tuple(c for c in alias.choices if isinstance(c, str))
        if choices:
            return choices
    if isinstance(alias, str) and alias:
        return (alias,)
    return (info.alias or name,)


def _signedness(annotation: Any, metadata: Iterable[Any] = ()) -> bool | None:
    """None when the annotation does not read integers (only); else whether it declares that
    a negative one may be meant."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *more = get_args(annotation)
        return _signedness(inner, (*metadata, *more))
    if origin in (Union, types.UnionType):
        return _all_signedness(get_args(annotation), metadata)
    if (
        isinstance(origin, type)
        and issubclass(origin, AbstractSequence | AbstractSet)
        and not issubclass(origin, str | bytes)
    ):
        return _all_signedness(get_args(annotation), metadata)
    if origin is Literal:
        values = get_args(annotation)
        if values and all(type(v) is int for v in values):
            return any(v < 0 for v in values)
        return None
    if isinstance(annotation, type) and issubclass(annotation, int):
        if issubclass(annotation, bool):
            return None
        if issubclass(annotation, enum.Enum):
            return any(member.value < 0 for member in annotation)
        return _declares_negatives(metadata)
    return None


def _all_signedness(alternatives: Iterable[Any], metadata: Iterable[Any]) -> bool | None:
    """Of a union's members or a sequence's items: integers only, or None. ``int | str`` also
    reads "04" as text, so it is not an integer parameter."""
    kinds = [
        _signedness(a, metadata) for a in alternatives if a is not type(None) and a is not Ellipsis
    ]
    if not kinds or any(kind is None for kind in kinds):
        return None
    return any(kinds)


def _declares_negatives(metadata: Iterable[Any]) -> bool:
    """A lower bound that admits a negative integer (``ge=-10``, ``gt=-2``); without one, a
    parameter is an id, a count or a size, and ``-`` is only a typo."""
    for item in metadata:
        if isinstance(item, FieldInfo):
            if _declares_negatives(item.metadata):
                return True
            continue
        ge, gt = getattr(item, "ge", None), getattr(item, "gt", None)
        if (ge is not None and ge <= -1) or (gt is not None and gt < -1):
            return True
    return False


def _require_raw_path_text(route: APIRoute, parameters: list[IntegerParameter]) -> None:
    """A convertor such as ``{id:int}`` turns ``047`` into 47 before the rule could see it."""
    for parameter in parameters:
        for name in parameter.names if parameter.location == "path" else ():
            convertor = route.param_convertors.get(name)
            if convertor is not None and not isinstance(convertor, StringConvertor | PathConvertor):
                raise TypeError(
                    f"{route.path}: write {{{name}}} and type the parameter int; a path "
                    "convertor hides the text the canonical-integer rule checks"
                )


def _query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """Every name and value, repeats included, read exactly as Starlette's QueryParams reads
    them (so the rule checks what FastAPI will parse). Without an escape or a ``+``, splitting
    gives the same pairs as parse_qsl in a fifth of the time."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    pairs = []
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            pairs.append((name, value))
    return pairs


def _error(location: Location, name: str, signed: bool) -> dict[str, Any]:
    return {
        "loc": [location, name],
        "msg": SIGNED_MESSAGE if signed else MESSAGE,
        "type": ERROR_TYPE,
    }


# ----- the document --------------------------------------------------------------------------


def _describe_in_openapi(
    app: FastAPI, described: dict[tuple[str, str], dict[tuple[str, str], str]]
) -> None:
    edit_document_when_built(app, lambda _, document: _add_descriptions(document, described))


def _add_descriptions(
    document: dict[str, Any], described: dict[tuple[str, str], dict[tuple[str, str], str]]
) -> None:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            rules = described.get((path, method))
            if not rules or not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                rule = rules.get((parameter.get("in"), parameter.get("name")))
                if rule is None:
                    continue
                before = parameter.get("description")
                if before and rule in before:
                    continue
                parameter["description"] = f"{before} {rule}" if before else rule
                schema = parameter.get("schema", {})
                # FastAPI copies a parameter's description into its schema: keep them equal.
                if before and schema.get("description") == before:
                    schema["description"] = parameter["description"]
