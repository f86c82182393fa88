"""OpenAPI helpers: the API's path prefix, the documented error answers of routes with their
headers and examples, the `X-Request-ID` header on every answer, and what the document needs
once FastAPI has written it (``finish_document``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.core.errors import ApiError
from app.core.vocabulary import ErrorCode

# Every domain router's prefix starts with it (app.api mounts their routes as they are).
API_PREFIX = "/api/v1"

REQUEST_ID = "X-Request-ID"

# Response headers, as the document declares them.
HEADERS: dict[str, dict[str, Any]] = {
    REQUEST_ID: {
        "description": "The request's id: the `X-Request-ID` the client sent, or one the "
        "server made. An error body repeats it as `requestId`.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "`Bearer`: the scheme the request must authenticate with.",
        "schema": {"type": "string"},
    },
}

_DESCRIPTIONS = {
    400: "Malformed request (`bad_request`)",
    401: "Missing, malformed, expired, revoked or tampered token (`unauthorized`)",
    403: "Your role may not do this (`forbidden`)",
    404: "No such row in your restaurant (`not_found`)",
    409: "Conflict with another change made at the same time (`conflict`)",
    412: "`If-Match` does not match the row's version (`precondition_failed`)",
    413: "Body larger than 1 MiB (`payload_too_large`)",
    422: "Validation failed (`validation_error`); `details.errors` lists each field",
    429: "Too many attempts (`rate_limited`); see `Retry-After`",
    500: "Unexpected failure (`internal_error`)",
    503: "Database busy or down (`unavailable`); retry after `Retry-After`",
}

# Headers an error answer carries besides X-Request-ID.
_ERROR_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",), 503: ("Retry-After",)}

# Every operation can answer these.
COMMON_ERRORS = (400, 413, 422, 500, 503)


def _error(
    summary: str, code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "value": {
            "error": {"code": code.value, "message": message, "details": details or {}},
            "requestId": "5f2c1e9a0b7d4c3e000000000000002a",
        },
    }


# Error answers as the server writes them, each a named example of the document's components
# that every operation answering with it refers to (openapi-generator warns about examples
# written out in a response).
EXAMPLES: dict[str, dict[str, Any]] = {
    "BadRequest": _error(
        "The body is not JSON",
        ErrorCode.BAD_REQUEST,
        "The body is not valid JSON",
        {"errors": [{"loc": ["body", 1], "msg": "JSON decode error", "type": "json_invalid"}]},
    ),
    "Unauthorized": _error(
        "No valid access token", ErrorCode.UNAUTHORIZED, "The access token is not valid"
    ),
    "Forbidden": _error(
        "A host changing the floor plan",
        ErrorCode.FORBIDDEN,
        "Only owners and managers may create tables",
    ),
    "NotFound": _error(
        "Not one of your restaurant's rows", ErrorCode.NOT_FOUND, "Guest 40 not found"
    ),
    "Conflict": _error(
        "Two changes at once",
        ErrorCode.CONFLICT,
        "The change conflicts with another change made at the same time",
    ),
    "LastOwner": _error(
        "Removing or demoting the last owner",
        ErrorCode.CONFLICT,
        "A restaurant must keep at least one owner",
    ),
    "TableOccupied": _error(
        "Seating at a table someone sits at",
        ErrorCode.TABLE_OCCUPIED,
        "Table 12 is occupied by guest 40",
        {"tableId": 12, "currentGuestId": 40},
    ),
    "TableUnavailable": _error(
        "Seating at a table out of service",
        ErrorCode.TABLE_UNAVAILABLE,
        "Table 7 is out of service",
        {"tableId": 7},
    ),
    "InvalidTransition": _error(
        "A move the lifecycle forbids",
        ErrorCode.INVALID_TRANSITION,
        "Guest 40 cannot go from completed to seated",
        {"from": "completed", "to": "seated"},
    ),
    "CapacityExceeded": _error(
        "A party larger than the table",
        ErrorCode.CAPACITY_EXCEEDED,
        "Party of 6 is larger than table 12 (4 seats)",
        {"tableId": 12, "partySize": 6, "capacity": 4},
    ),
    "ReservationConflict": _error(
        "The table is booked then",
        ErrorCode.RESERVATION_CONFLICT,
        "Table 12 is already reserved at that time (reservation 31)",
        {"tableId": 12, "conflictingReservationId": 31},
    ),
    "VersionConflict": _error(
        "A batch item's version is not the row's",
        ErrorCode.VERSION_CONFLICT,
        "Guest 40 is at version 4, not 3",
        {"currentVersion": 4, "entity": "guests", "index": 0},
    ),
    "Duplicate": _error(
        "Already taken",
        ErrorCode.DUPLICATE,
        "That email is already registered",
        {"field": "email"},
    ),
    "IdempotencyKeyRunning": _error(
        "A request with this Idempotency-Key still runs",
        ErrorCode.CONFLICT,
        "A request with this Idempotency-Key is still running; retry shortly",
    ),
    "PreconditionFailed": _error(
        "`If-Match` names an older version",
        ErrorCode.PRECONDITION_FAILED,
        "Guest 40 is at version 4, not 3",
        {"currentVersion": 4},
    ),
    "PayloadTooLarge": _error(
        "Too large a body", ErrorCode.PAYLOAD_TOO_LARGE, "Request body is larger than 1 MiB"
    ),
    "ValidationError": _error(
        "A field out of range",
        ErrorCode.VALIDATION_ERROR,
        "The request is not valid",
        {
            "errors": [
                {
                    "loc": ["body", "partySize"],
                    "msg": "Input should be less than or equal to 50",
                    "type": "less_than_equal",
                }
            ]
        },
    ),
    "IdempotencyKeyReused": _error(
        "This Idempotency-Key came with another request",
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was already used for a different request",
    ),
    "RateLimited": _error(
        "Too many attempts", ErrorCode.RATE_LIMITED, "Too many attempts; try again later"
    ),
    "InternalError": _error(
        "An unexpected failure", ErrorCode.INTERNAL_ERROR, "Internal server error"
    ),
    "Unavailable": _error(
        "The database is busy", ErrorCode.UNAVAILABLE, "The service is busy; retry shortly"
    ),
}
# The examples of each status, by name.
_STATUS_EXAMPLES: dict[int, tuple[str, ...]] = {
    400: ("BadRequest",),
    401: ("Unauthorized",),
    403: ("Forbidden",),
    404: ("NotFound",),
    409: ("Conflict",),
    412: ("PreconditionFailed",),
    413: ("PayloadTooLarge",),
    422: ("ValidationError",),
    429: ("RateLimited",),
    500: ("InternalError",),
    503: ("Unavailable",),
}
# The example of each code a route names among its conflicts (409).
_CONFLICT_EXAMPLES = {
    ErrorCode.CONFLICT: "LastOwner",
    ErrorCode.TABLE_OCCUPIED: "TableOccupied",
    ErrorCode.TABLE_UNAVAILABLE: "TableUnavailable",
    ErrorCode.INVALID_TRANSITION: "InvalidTransition",
    ErrorCode.CAPACITY_EXCEEDED: "CapacityExceeded",
    ErrorCode.RESERVATION_CONFLICT: "ReservationConflict",
    ErrorCode.VERSION_CONFLICT: "VersionConflict",
    ErrorCode.DUPLICATE: "Duplicate",
}
# The conflicts of seating a guest (docs/contract.md: the first of these that applies answers).
SEATING = (
    ErrorCode.INVALID_TRANSITION,
    ErrorCode.TABLE_UNAVAILABLE,
    ErrorCode.TABLE_OCCUPIED,
    ErrorCode.CAPACITY_EXCEEDED,
)


def example_ref(name: str) -> dict[str, str]:
    """A reference to one of ``EXAMPLES``."""
    assert name in EXAMPLES, name
    return {"$ref": f"#/components/examples/{name}"}


def headers(*names: str) -> dict[str, dict[str, Any]]:
    return {name: copy.deepcopy(HEADERS[name]) for name in names}


def errors(*statuses: int, conflicts: Sequence[ErrorCode] = ()) -> dict[int | str, dict[str, Any]]:
    """Documented error answers: the envelope schema, the headers they carry, and examples
    with the codes each status uses; ``conflicts``: the codes of this route's 409."""
    answers: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *COMMON_ERRORS, *((409,) if conflicts else ())}):
        description, examples = _DESCRIPTIONS[status], _STATUS_EXAMPLES[status]
        if status == 409 and conflicts:
            description = "Conflict with the current state: " + ", ".join(
                f"`{code.value}`" for code in conflicts
            )
            examples = tuple(_CONFLICT_EXAMPLES[code] for code in conflicts)
        answers[status] = {
            "model": ApiError,
            "description": description,
            "headers": headers(REQUEST_ID, *_ERROR_HEADERS.get(status, ())),
            "content": {
                "application/json": {"examples": {name: example_ref(name) for name in examples}}
            },
        }
    return answers


def add_headers(
    responses: dict[int | str, dict[str, Any]],
    declared: dict[str, dict[str, Any]],
    statuses: Callable[[int], bool] = lambda status: True,
) -> None:
    """Declare ``declared`` headers on those of ``responses`` whose status ``statuses``
    takes."""
    for status, response in responses.items():
        if (isinstance(status, int) or status.isdigit()) and statuses(int(status)):
            response.setdefault("headers", {}).update(copy.deepcopy(declared))


class DocumentedRoute(APIRoute):
    """A route whose every documented answer, its success included, declares the
    `X-Request-ID` header the request middleware puts on every response."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = copy.deepcopy(kwargs.get("responses") or {})
        # FastAPI's default status for a route that names none.
        responses.setdefault(kwargs.get("status_code") or 200, {})
        add_headers(responses, headers(REQUEST_ID))
        kwargs["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))
        super().__init__(path, endpoint, **kwargs)


# ----- once FastAPI has written the document -------------------------------------------------

_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def edit_document_when_built(app: FastAPI, edit: Callable[[FastAPI, dict[str, Any]], None]) -> None:
    """Have ``edit`` change the document the first time it is built: FastAPI's documented way
    to extend it, replacing ``app.openapi`` (the result is kept in ``app.openapi_schema``)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        first = not app.openapi_schema
        document = build()
        if first:
            edit(app, document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def finish_document_when_built(app: FastAPI) -> None:
    """Called last in ``create_app``, with every route in place: :func:`finish_document`."""
    edit_document_when_built(app, finish_document)


def finish_document(app: FastAPI, document: dict[str, Any]) -> None:
    """What FastAPI cannot write in the document itself: the named error examples the
    answers refer to; parameters without the title it gives each (`Date`, which
    typescript-fetch takes for a model named like the language's own `Date`); and, as
    declared, the values its document model changes. It reads every bound as a float and
    leaves out every null: a generator may type an integer whose bound reads `50.0` as a
    floating-point number, and an example without its nulls says something else
    (`{"tableId": null}` unseats a guest; `{}` changes nothing)."""
    document.setdefault("components", {})["examples"] = copy.deepcopy(EXAMPLES)
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                parameter.get("schema", {}).pop("title", None)
    _integer_bounds(document)
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        declared = getattr(route.body_field.field_info, "openapi_examples", None)
        if not declared:
            continue
        media_type = getattr(route.body_field.field_info, "media_type", "application/json")
        for method in route.methods or ():
            body = document["paths"][route.path_format][method.lower()]["requestBody"]
            body["content"][media_type]["examples"] = copy.deepcopy(declared)


def _integer_bounds(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in _BOUNDS:
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = int(value)
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)
