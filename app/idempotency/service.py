"""Idempotency keys: a user's first answer to a POST, stored with its write, replayed on retry."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select

from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.models import IdempotencyKey

KEEP_FOR = timedelta(hours=24)
# What a body that ``json.loads`` cannot read is parsed as.
NOT_JSON: Final = object()
# The first byte of a body's form: a body as sent never reads as a canonical JSON text.
_CANONICAL, _AS_SENT = b"j", b"b"


def fingerprint(method: str, path: str, body: bytes, parsed: Any) -> str:
    """Of what the request means: its method, path and ``parsed``, the body as ``json.loads``
    read it (FastAPI's parser, so a duplicate key means what the handler saw), or NOT_JSON.

    The same JSON written with other spacing, key order or escapes (``\\u0041`` for ``A``) is
    the same request, so its retry replays; an integer and a number stay apart, as ``4`` and
    ``4.0`` do for a strict API. A body that is not JSON counts as sent."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), _body_form(body, parsed)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _body_form(body: bytes, parsed: Any) -> bytes:
    if parsed is not NOT_JSON:
        try:
            # ASCII escapes: a lone surrogate, which UTF-8 cannot hold, is written too.
            text = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        except (ValueError, RecursionError):
            pass
        else:
            return _CANONICAL + text.encode("ascii")
    return _AS_SENT + body


async def find(uow: UnitOfWork, scope: RestaurantScope, key: str) -> IdempotencyKey | None:
    """The answer stored for this user's key, unless it has expired (``remember`` purges it).

    Keys belong to the user who sent them, as Stripe's belong to an account: a colleague's
    answer never replays to you, not even a refusal of the very same request (a server's 403
    must not answer the owner)."""
    return await uow.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.restaurant_id == scope.restaurant_id,
            IdempotencyKey.user_id == scope.user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at > datetime.now(UTC),
        )
    )


async def remember(
    uow: UnitOfWork,
    scope: RestaurantScope,
    *,
    key: str,
    fingerprint: str,
    status_code: int,
    body: bytes,
) -> None:
    """Store the answer in the request's own transaction: it commits with the write or not
    at all. The restaurant's expired answers go at the same time, so the table stays at
    about a day of keys."""
    now = datetime.now(UTC)
    await uow.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.restaurant_id == scope.restaurant_id, IdempotencyKey.expires_at <= now
        )
    )
    uow.session.add(
        IdempotencyKey(
            restaurant_id=scope.restaurant_id,
            user_id=scope.user_id,
            key=key,
            fingerprint=fingerprint,
            status_code=status_code,
            body=body.decode(),
            created_at=now,
            expires_at=now + KEEP_FOR,
        )
    )
    await uow.session.flush()
