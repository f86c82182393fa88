"""OpenAPI helpers: the API's path prefix and the documented error answers of routes."""

from __future__ import annotations

from typing import Any

from app.core.errors import ErrorResponse

# Every domain router's prefix starts with it (app.api mounts their routes as they are).
API_PREFIX = "/api/v1"

_DESCRIPTIONS = {
    400: "Malformed request (`bad_request`)",
    401: "Missing, malformed, expired, revoked or tampered token (`unauthorized`)",
    403: "Your role may not do this (`forbidden`)",
    404: "No such row in your restaurant (`not_found`)",
    409: "Conflict with the current state (see `error.code`)",
    412: "`If-Match` does not match the row's version (`precondition_failed`)",
    413: "Body larger than 1 MiB (`payload_too_large`)",
    422: "Validation failed (`validation_error`); `details.errors` lists each field",
    429: "Too many attempts (`rate_limited`); see `Retry-After`",
    500: "Unexpected failure (`internal_error`)",
    503: "Database busy or down (`unavailable`); retry after `Retry-After`",
}

# Every operation can answer these.
COMMON_ERRORS = (400, 413, 422, 500, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Documented error answers, each with the envelope schema."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in sorted({*statuses, *COMMON_ERRORS})
    }
