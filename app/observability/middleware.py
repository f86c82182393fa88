"""One pure ASGI middleware for every request: request id, body limit, the text rule for query
strings, metrics, access log, and the envelope for errors that nothing else caught."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import (
    Unavailable,
    ValidationFailed,
    is_database_unavailable,
    log_database_unavailable,
)
from app.core.logging import SAFE_MESSAGE
from app.core.text import is_clean, text_error_detail

logger = logging.getLogger("qtable.access")

REQUESTS = Counter("qtable_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "qtable_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Request ids: a random prefix per process and a counter, unique without a syscall per
# request (uuid4 reads the system's random source each time).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ids = itertools.count(1)


def _next_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):016x}"


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body parsing lets it
    through to the envelope handlers instead of calling it a parse error."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


def _too_large_message(limit: int) -> str:
    """The configured limit in the unit a person would write it in."""
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % size == 0:
            return f"Request body is larger than {limit // size} {unit}"
    return f"Request body is larger than {limit} bytes"


def _error_body(
    status: int, code: str, message: str, request_id: str, details: dict[str, Any] | None = None
) -> bytes:
    return json.dumps(
        {
            "error": {"code": code, "message": message, "details": details or {}},
            "requestId": request_id,
        }
    ).encode()


def _query_text_errors(query_string: bytes) -> list[dict[str, Any]]:
    """The text rule for every query parameter of every route, before any route reads one.

    Names and values are percent-decoded as UTF-8, strictly: bytes that are not UTF-8 (such as
    a lone surrogate's ED A0 80) would otherwise turn quietly into U+FFFD.
    """
    if b"%" not in query_string and b"\x00" not in query_string and query_string.isascii():
        # ASCII as sent, nothing percent-escaped, no NUL byte: no U+0000 and no surrogate.
        return []
    errors = []
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = unquote_to_bytes(raw_name.replace(b"+", b" "))
        value = unquote_to_bytes(raw_value.replace(b"+", b" "))
        try:
            clean = is_clean(name.decode()) and is_clean(value.decode())
        except UnicodeDecodeError:
            clean = False
        if not clean:
            errors.append(text_error_detail(["query", name.decode(errors="replace")]))
    return errors


def _limited(receive: Receive, limit: int, too_large: str) -> Receive:
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge(too_large)
        return message

    return limited_receive


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        """``larger_bodies``: paths whose bodies may be larger (a full batch), with their
        limit."""
        self.app = app
        self._limits = {
            path: (limit, _too_large_message(limit))
            for path, limit in (larger_bodies or {}).items()
        }
        self._default_limit = (max_body_bytes, _too_large_message(max_body_bytes))
        # The labelled series of each (method, route, status): looking one up takes a lock.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        sent_id = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = sent_id if _VALID_REQUEST_ID.match(sent_id) else _next_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        async def reply(
            status: int,
            code: str,
            message: str,
            extra: list[tuple[bytes, bytes]] | None = None,
            details: dict[str, Any] | None = None,
        ) -> None:
            body = _error_body(status, code, message, request_id, details)
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *(extra or []),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})

        length = headers.get(b"content-length")
        query_errors = _query_text_errors(scope.get("query_string", b""))
        limit, too_large = self._limits.get(scope["path"], self._default_limit)
        try:
            if length is not None and (not length.isdigit() or int(length) > limit):
                await reply(413, "payload_too_large", too_large)
            elif query_errors:
                await reply(
                    422,
                    ValidationFailed.code,
                    ValidationFailed.message,
                    details={"errors": query_errors},
                )
            else:
                await self.app(scope, _limited(receive, limit, too_large), send_with_id)
        except _BodyTooLarge:
            if not status_holder["started"]:
                await reply(413, "payload_too_large", too_large)
        except Exception as exc:
            if status_holder["started"]:
                raise
            if is_database_unavailable(exc):
                log_database_unavailable(exc, request_id)
                await reply(503, "unavailable", Unavailable.message, [(b"retry-after", b"1")])
            else:
                logger.exception("unhandled error", extra={"request_id": request_id})
                await reply(500, "internal_error", "Internal server error")
        finally:
            self._observe(scope, status_holder["status"], time.perf_counter() - started, request_id)

    def _template(self, route: Any) -> str:
        # Every route is mounted with its full path template (app.api).
        return "unmatched" if route is None else str(getattr(route, "path", "?"))

    def _observe(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        template = self._template(scope.get("route"))
        method = scope["method"]
        key = (method, template, status)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= 4096:  # methods are the client's to choose
                self._series.clear()
            series = self._series[key] = (
                REQUESTS.labels(method, template, str(status)),
                LATENCY.labels(method, template),
            )
        series[0].inc()
        series[1].observe(seconds)
        state: dict[str, Any] = scope.get("state", {})
        logger.info(
            "%s %s %s %.1fms",
            method,
            template,
            status,
            seconds * 1000,
            extra={
                SAFE_MESSAGE: True,
                "request_id": request_id,
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "restaurant_id": state.get("restaurant_id"),
            },
        )
