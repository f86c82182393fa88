"""The API's vocabularies: each a StrEnum that the models, the schemas and the services share.

A member is its wire value (``GuestStatus.SEATED == "seated"``), so the database columns keep
plain strings and every comparison with a stored value holds. Each appears in the OpenAPI
document once, as a named enum schema that every field using it references.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, cast

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema


class Vocabulary(StrEnum):
    """A closed set of words, read from a JSON string in strict input models too.

    FastAPI validates a body with ``validate_python`` after ``json.loads``, where strict mode
    takes only an enum member, never the string a client sends. Lax, an enum takes exactly its
    members' values: any other string, a number, a boolean, null or an array is still refused,
    with the list of words in the message.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = cast(core_schema.EnumSchema, handler(source))
        schema["strict"] = False
        return schema

    @classmethod
    def sql_check(cls, column: str) -> str:
        """The CHECK constraint text that holds ``column`` to these words."""
        return sql_in(column, cls)


def sql_in(column: str, words: Iterable[StrEnum]) -> str:
    """``column IN ('a', 'b')``: the words as SQL literals (they are plain identifiers)."""
    literals = ", ".join(f"'{word.value}'" for word in words)
    return f"{column} IN ({literals})"


class GuestStatus(Vocabulary):
    """Where a party stands. `waiting`, `notified` and `seated` are active; `completed`,
    `left`, `no_show` and `cancelled` are final."""

    WAITING = "waiting"
    NOTIFIED = "notified"
    SEATED = "seated"
    COMPLETED = "completed"
    LEFT = "left"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class TableStatus(Vocabulary):
    """A table's state. `occupied` is reached only by seating a guest."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    OCCUPIED = "occupied"
    DIRTY = "dirty"
    OUT_OF_SERVICE = "out_of_service"


class ReservationStatus(Vocabulary):
    """A booking's state. `booked`, `confirmed` and `checked_in` hold the table;
    `completed`, `cancelled` and `no_show` are final."""

    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Role(Vocabulary):
    """A staff member's role, highest first: `owner` > `manager` > `host` > `server`."""

    OWNER = "owner"
    MANAGER = "manager"
    HOST = "host"
    SERVER = "server"


class TableAfterGuestLeaves(Vocabulary):
    """The status a table takes when its guest leaves it."""

    DIRTY = "dirty"
    AVAILABLE = "available"


class BatchOp(Vocabulary):
    """What a batch item does to its row."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class ErrorCode(Vocabulary):
    """What went wrong, for a program to act on. Each HTTP status uses its own few codes:
    400 `bad_request`; 401 `unauthorized`; 403 `forbidden`; 404 `not_found`; 405
    `method_not_allowed`; 409 `conflict`, `duplicate`, `table_occupied`, `table_unavailable`,
    `invalid_transition`, `capacity_exceeded`, `reservation_conflict`, `version_conflict`;
    412 `precondition_failed`; 413 `payload_too_large`; 422 `validation_error`,
    `idempotency_key_reused`; 429 `rate_limited`; 500 `internal_error`; 503 `unavailable`.
    A client should treat a code it does not know as the generic error of its status."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    TABLE_OCCUPIED = "table_occupied"
    TABLE_UNAVAILABLE = "table_unavailable"
    INVALID_TRANSITION = "invalid_transition"
    CAPACITY_EXCEEDED = "capacity_exceeded"
    RESERVATION_CONFLICT = "reservation_conflict"
    VERSION_CONFLICT = "version_conflict"
    PRECONDITION_FAILED = "precondition_failed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    VALIDATION_ERROR = "validation_error"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
