"""Idempotency keys: a user's first answer to a POST, stored with its write, replayed on retry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.models import IdempotencyKey

KEEP_FOR = timedelta(hours=24)


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


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
