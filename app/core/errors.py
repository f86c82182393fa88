"""The AppError family and the handlers that render every error as one envelope."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("qtable.errors")


class AppError(Exception):
    """A failure the client can act on; rendered as the API.md error envelope."""

    status_code = 400
    code = "bad_request"
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
    status_code, code, message = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status_code, code, message = 401, "unauthorized", "Not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code, code, message = 403, "forbidden", "Your role may not do this"


class NotFound(AppError):
    status_code, code, message = 404, "not_found", "Not found"


class MethodNotAllowed(AppError):
    status_code, code, message = 405, "method_not_allowed", "Method not allowed"


class Conflict(AppError):
    status_code, code, message = 409, "conflict", "Conflict"


class Duplicate(Conflict):
    code, message = "duplicate", "Already exists"


class TableOccupied(Conflict):
    code, message = "table_occupied", "Table is occupied"


class TableUnavailable(Conflict):
    code, message = "table_unavailable", "Table is out of service"


class InvalidTransition(Conflict):
    code, message = "invalid_transition", "That status change is not allowed"


class CapacityExceeded(Conflict):
    code, message = "capacity_exceeded", "Party is larger than the table"


class ReservationConflict(Conflict):
    code, message = "reservation_conflict", "The table is already reserved at that time"


class VersionConflict(Conflict):
    code, message = "version_conflict", "The row changed since you read it"


class PreconditionFailed(AppError):
    status_code, code, message = 412, "precondition_failed", "If-Match does not match the version"


class PayloadTooLarge(AppError):
    status_code, code, message = 413, "payload_too_large", "Request body is too large"


class ValidationFailed(AppError):
    status_code, code, message = 422, "validation_error", "The request is not valid"

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None) -> None:
        super().__init__(message, details={"errors": errors})


class IdempotencyKeyReused(AppError):
    status_code, code = 422, "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request"


class RateLimited(AppError):
    status_code, code, message = 429, "rate_limited", "Too many attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(AppError):
    status_code, code, message = 503, "unavailable", "The service is busy; retry shortly"
    headers = {"Retry-After": "1"}


def field_error(loc: list[str | int], msg: str) -> ValidationFailed:
    """A 422 naming one field, for rules that Pydantic cannot see."""
    return ValidationFailed([{"loc": loc, "msg": msg, "type": "value_error"}], msg)


# ----- wire schema ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(examples=["table_occupied"])
    message: str = Field(examples=["Table 12 is occupied by guest 40"])
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The envelope every 4xx and 5xx answer carries."""

    error: ErrorBody
    requestId: str | None = None


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def envelope(
    request: Request,
    status_code: int,
    code: str,
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
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
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
            request, 400, "bad_request", "The body is not valid JSON", {"errors": errors}
        )
    return envelope(
        request, 422, "validation_error", "The request is not valid", {"errors": errors}
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(
        exc.status_code, "internal_error" if exc.status_code >= 500 else "bad_request"
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
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or sqlstate_of(exc) in RETRYABLE_SQLSTATES
    ):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))


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
            request, 503, "unavailable", Unavailable.message, None, {"Retry-After": "1"}
        )
    logger.exception("unhandled error", extra={"request_id": request_id_of(request)})
    return envelope(request, 500, "internal_error", "Internal server error")


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
        request, 409, "conflict", "The change conflicts with another change made at the same time"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StaleDataError, stale_row_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)
