"""The AppError family and the handlers that render every error as one envelope."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.schemas import OutputModel, never_null, untitled_properties
from app.core.vocabulary import ErrorCode

logger = logging.getLogger("qtable.errors")


class AppError(Exception):
    """A failure the client can act on; rendered as the error envelope of docs/contract.md."""

    status_code = 400
    code: ErrorCode = ErrorCode.BAD_REQUEST
    message = "Bad request"
    headers: dict[str, str] | None = None
    # When true, the unit of work commits what was flushed before the error was raised
    # (for example a revoked token family) and only then answers with the error.
    commit_before_raising = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details or {}
        if headers is not None:
            self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    status_code, code, message = 400, ErrorCode.BAD_REQUEST, "Bad request"


class Unauthorized(AppError):
    status_code, code, message = 401, ErrorCode.UNAUTHORIZED, "Not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code, code, message = 403, ErrorCode.FORBIDDEN, "Your role may not do this"


class NotFound(AppError):
    status_code, code, message = 404, ErrorCode.NOT_FOUND, "Not found"


class MethodNotAllowed(AppError):
    status_code, code, message = 405, ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed"


class Conflict(AppError):
    status_code, code, message = 409, ErrorCode.CONFLICT, "Conflict"


class Duplicate(Conflict):
    code, message = ErrorCode.DUPLICATE, "Already exists"


class TableOccupied(Conflict):
    code, message = ErrorCode.TABLE_OCCUPIED, "Table is occupied"


class TableUnavailable(Conflict):
    code, message = ErrorCode.TABLE_UNAVAILABLE, "Table is out of service"


class InvalidTransition(Conflict):
    code, message = ErrorCode.INVALID_TRANSITION, "That status change is not allowed"


class CapacityExceeded(Conflict):
    code, message = ErrorCode.CAPACITY_EXCEEDED, "Party is larger than the table"


class ReservationConflict(Conflict):
    code, message = ErrorCode.RESERVATION_CONFLICT, "The table is already reserved at that time"


class VersionConflict(Conflict):
    code, message = ErrorCode.VERSION_CONFLICT, "The row changed since you read it"


class PreconditionFailed(AppError):
    status_code, code, message = (
        412,
        ErrorCode.PRECONDITION_FAILED,
        "If-Match does not match the version",
    )


class PayloadTooLarge(AppError):
    status_code, code, message = 413, ErrorCode.PAYLOAD_TOO_LARGE, "Request body is too large"


class ValidationFailed(AppError):
    status_code, code, message = 422, ErrorCode.VALIDATION_ERROR, "The request is not valid"

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None) -> None:
        super().__init__(message, details={"errors": errors})


class IdempotencyKeyReused(AppError):
    status_code, code = 422, ErrorCode.IDEMPOTENCY_KEY_REUSED
    message = "This Idempotency-Key was already used for a different request"


class RateLimited(AppError):
    status_code, code, message = 429, ErrorCode.RATE_LIMITED, "Too many attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(AppError):
    status_code, code, message = 503, ErrorCode.UNAVAILABLE, "The service is busy; retry shortly"
    headers = {"Retry-After": "1"}


def field_error(loc: list[str | int], msg: str) -> ValidationFailed:
    """A 422 naming one field, for rules that Pydantic cannot see."""
    return ValidationFailed([{"loc": loc, "msg": msg, "type": "value_error"}], msg)


# ----- wire schema ---------------------------------------------------------------------------


def _keys_that_may_be_absent(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # Each key is there only where it applies, and never null.
    untitled_properties(schema, model)
    schema.pop("required", None)
    for prop in schema.get("properties", {}).values():
        never_null(prop)


def _name_or_index(schema: dict[str, Any]) -> None:
    # A step is a string or an integer, never both: as `oneOf`, Swift's generator makes it an
    # enum of the two; an `anyOf` of two plain types comes out as an empty struct.
    schema["items"] = {"oneOf": schema["items"].pop("anyOf")}


class FieldError(OutputModel):
    """One field a request got wrong."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the names and list "
        'indexes down to the field (`["body", "guests", 3, "partySize"]`).',
        json_schema_extra=_name_or_index,
    )
    msg: str = Field(description="What is wrong, for a person.")
    type: str = Field(description="What is wrong, for a program (`missing`, `int_type`...).")


class ErrorDetails(OutputModel):
    """More about an error; each key only where its code gives it."""

    model_config = ConfigDict(json_schema_extra=_keys_that_may_be_absent)

    errors: list[FieldError] | None = Field(
        default=None, description="`validation_error`, `bad_request`: each field at fault."
    )
    entity: str | None = Field(
        default=None,
        description="A failing batch item's list: `tables`, `guests` or `reservations`.",
    )
    index: int | None = Field(default=None, description="A failing batch item's index, from 0.")
    table_id: int | None = Field(default=None, description="The table a conflict is about.")
    current_guest_id: int | None = Field(default=None, description="The guest at that table.")
    party_size: int | None = Field(default=None, description="`capacity_exceeded`: the party.")
    capacity: int | None = Field(default=None, description="`capacity_exceeded`: the table's.")
    conflicting_reservation_id: int | None = Field(
        default=None, description="`reservation_conflict`: the reservation holding the table."
    )
    current_version: int | None = Field(
        default=None,
        description="`precondition_failed`, `version_conflict`: the row's version now.",
    )
    from_: str | None = Field(
        default=None, alias="from", description="`invalid_transition`: the current status."
    )
    to: str | None = Field(default=None, description="`invalid_transition`: the status asked.")
    field: str | None = Field(default=None, description="`duplicate`: the field already taken.")


class ErrorBody(OutputModel):
    code: ErrorCode
    message: str = Field(examples=["Table 12 is occupied by guest 40"])
    details: ErrorDetails


# Not `ErrorResponse`: openapi-generator's Swift client has a type of that name and renames a
# schema that takes it.
class ApiError(OutputModel):
    """The envelope every 4xx and 5xx answer carries."""

    error: ErrorBody
    request_id: str = Field(description="The answer's `X-Request-ID`: quote it when reporting.")


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def envelope(
    request: Request,
    status_code: int,
    code: ErrorCode,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {"code": code, "message": message, "details": details or {}},
        "requestId": request_id_of(request),
    }
    return JSONResponse(body, status_code=status_code, headers=headers)


_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())],
                "msg": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return out


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return envelope(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return envelope(
            request, 400, ErrorCode.BAD_REQUEST, "The body is not valid JSON", {"errors": errors}
        )
    return envelope(
        request, 422, ErrorCode.VALIDATION_ERROR, "The request is not valid", {"errors": errors}
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(
        exc.status_code,
        ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.BAD_REQUEST,
    )
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return envelope(
        request, exc.status_code, code, message, None, dict(exc.headers) if exc.headers else None
    )


# PostgreSQL gave up on the transaction, not on the request: nothing was stored and the same
# request may succeed when sent again. Deadlock and serialization failure (class 40), a lock
# wait past lock_timeout, and a statement cancelled by statement_timeout.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE a database error carries (asyncpg errors and their SQLAlchemy wrappers)."""
    for candidate in (getattr(exc, "orig", None), exc.__cause__, exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_database_unavailable(exc: BaseException) -> bool:
    """Busy or unreachable database: the client may safely retry."""
    if isinstance(exc, OperationalError) or lost_connection(exc):
        return True
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or sqlstate_of(exc) in RETRYABLE_SQLSTATES
    ):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection it was raised on is gone (the database closed it,
    or the network did): a read may be tried again on another."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    # Raised by the driver itself, for a statement that went around SQLAlchemy (app.db.rows).
    name = type(exc).__name__
    if name in _LOST_CONNECTION_ERRORS:
        return True
    if name == "InterfaceError" and "connection is closed" in str(exc):
        return True  # asyncpg, on a connection it had seen closed
    return isinstance(exc, ConnectionError)


# asyncpg's, by name (the module is there only with PostgreSQL's extra): the server closed
# the connection or is shutting down, it was lost on the way, or the client met the closing
# half-way ("cannot switch to state ...; another operation is in progress") and cannot use
# the connection again.
_LOST_CONNECTION_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CannotConnectNowError",
        "InternalClientError",
    }
)


def log_database_unavailable(exc: BaseException, request_id: str | None) -> None:
    # The type and SQLSTATE only: a driver's message may quote the row's values.
    logger.warning(
        "database unavailable: %s (SQLSTATE %s)",
        type(exc).__name__,
        sqlstate_of(exc),
        extra={"request_id": request_id},
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if is_database_unavailable(exc):
        log_database_unavailable(exc, request_id_of(request))
        return envelope(
            request, 503, ErrorCode.UNAVAILABLE, Unavailable.message, None, {"Retry-After": "1"}
        )
    logger.exception("unhandled error", extra={"request_id": request_id_of(request)})
    return envelope(request, 500, ErrorCode.INTERNAL_ERROR, "Internal server error")


async def stale_row_handler(request: Request, exc: Exception) -> JSONResponse:
    """A concurrent transaction changed the row between our read and our write."""
    return envelope(
        request,
        409,
        VersionConflict.code,
        "The row was changed by another request; read it again and retry",
    )


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A database constraint caught what the service checks missed (a race): no 500."""
    logger.warning(
        "integrity error: %s",
        type(exc.__cause__ or exc).__name__,
        extra={"request_id": request_id_of(request)},
    )
    return envelope(
        request,
        409,
        ErrorCode.CONFLICT,
        "The change conflicts with another change made at the same time",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StaleDataError, stale_row_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
