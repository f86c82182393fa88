"""Stored first answers to requests sent with an Idempotency-Key, kept for 24 hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import NEVER_REUSE_IDS, Base, IdMixin, IdType, TenantMixin


class IdempotencyKey(IdMixin, TenantMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # A key belongs to the staff member who sent it: a colleague's answer never replays
        # to you. user_id leads so this index also serves the cascade when a user is deleted.
        UniqueConstraint("user_id", "restaurant_id", "key"),
        # The purge on every store deletes one restaurant's expired answers.
        Index("ix_idempotency_keys_restaurant_id_expires_at", "restaurant_id", "expires_at"),
        NEVER_REUSE_IDS,
    )

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
