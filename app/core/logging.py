"""Structured (JSON) logs that keep secrets: one object per line, with the request's fields.

No line may hold a password, a password hash, a token or a row's values, whatever fails.
Three things make sure of it: the engines hide SQL parameters from their errors
(``hide_parameters``); a database error's own text (which may quote the row, e.g. "Key
(email)=(…)") is never logged, only its type, SQLSTATE and statement; and every message and
traceback passes through :func:`redact`, which masks what looks like a hash, a JWT, a bearer
token or a ``token=``/``password=`` pair.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from typing import Any

from app.core.errors import sqlstate_of

# Set (through ``extra``) on records whose message is built from no request data.
SAFE_MESSAGE = "qtable_safe_message"

_EXTRA_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "restaurant_id")

# Exceptions raised by the database layers: their text may quote the values of a row.
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "sqlite3", "psycopg")

_SECRETS = (
    (re.compile(r"\$argon2[a-z]*\$[^\s'\",)\]]*"), "[hash]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[token]"),
    (re.compile(r"(?i)\bbearer\s+[^\s'\",]+"), "Bearer [token]"),
    (
        re.compile(r"(?i)\b(token|access_token|refresh_token|password|secret)=[^&\s'\"]+"),
        r"\1=[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _is_database_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _DATABASE_MODULES


def _describe(exc: BaseException, *, withhold: bool) -> str:
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if not withhold:
        return f"{name}: {exc}"
    code = sqlstate_of(exc)
    statement = getattr(exc, "statement", None)
    parts = [f"{name}: (database error text withheld)"]
    if code:
        parts.append(f"SQLSTATE {code}")
    if statement:
        parts.append(f"statement: {' '.join(str(statement).split())[:300]}")
    return "; ".join(parts)


def format_exception(exc: BaseException | None) -> str:
    """A traceback like Python's, cause chain included, without any database error's text."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    # A database error withholds its own text and that of the driver error it wraps.
    withheld = {
        id(error)
        for outer, error in zip([None, *chain], chain, strict=False)
        if _is_database_error(error) or (outer is not None and _is_database_error(outer))
    }
    blocks = []
    for error in reversed(chain):
        lines = ["Traceback (most recent call last):\n", *traceback.format_tb(error.__traceback__)]
        lines.append(_describe(error, withhold=id(error) in withheld) + "\n")
        blocks.append("".join(lines))
    return redact("\nThe above exception led to the following exception:\n\n".join(blocks))


class JsonFormatter(logging.Formatter):
    _second = -1
    _time = ""

    def _formatted_time(self, record: logging.LogRecord) -> str:
        # One strftime a second, not one a line.
        second = int(record.created)
        if second != self._second:
            self._time = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            self._second = second
        return self._time

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self._formatted_time(record),
            "level": record.levelname,
            "logger": record.name,
            # The access line is made of a method, a route template, a status and a time:
            # nothing in it can be a secret, and redacting it cost more than writing it.
            "message": record.getMessage()
            if getattr(record, SAFE_MESSAGE, False)
            else redact(record.getMessage()),
        }
        for field in _EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                data[field] = value
        if record.exc_info and record.exc_info[1] is not None:
            data["exception"] = format_exception(record.exc_info[1])
        return json.dumps(data, default=str)


class RedactingFilter(logging.Filter):
    """For loggers whose handlers we do not own (uvicorn's): the same redaction, applied to
    the record before any handler formats it. The arguments keep their shape, since
    uvicorn's access formatter unpacks them (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access":
            # Only HTTP requests reach it (WebSocket handshakes are logged on uvicorn.error):
            # a second line for a request QTable's own access line has logged.
            return False
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted_arg(arg) for key, arg in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = format_exception(record.exc_info[1])
            record.exc_info = None
        return True


def _redacted_arg(arg: Any) -> Any:
    return redact(arg) if isinstance(arg, str) else arg


# uvicorn logs the request line (a WebSocket token may ride in the query string) and any
# exception that escapes the application.
_FOREIGN_LOGGERS = ("uvicorn.error", "uvicorn.access")


def configure_logging(level: str) -> None:
    # A line holds none of the caller's file and line, thread or process (see JsonFormatter):
    # the logging module then need not look them up for each record (the logging HOWTO's
    # "Optimization"; a fifth of the cost of an access line).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("qtable")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in _FOREIGN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
