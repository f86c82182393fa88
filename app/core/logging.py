"""Structured (JSON) logs: one object per line, with the request's fields when present."""

from __future__ import annotations

import json
import logging
from typing import Any

_EXTRA_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "restaurant_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                data[field] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("qtable")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
