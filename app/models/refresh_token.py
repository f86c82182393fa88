"""Refresh tokens, stored as hashes; rotation keeps a family so reuse can revoke it whole."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import NEVER_REUSE_IDS, Base, IdMixin, IdType, TenantMixin


class RefreshToken(IdMixin, TenantMixin, Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        # Its foreign key: a restaurant's delete cascades here, and tenant-scoped queries filter
        # on it; PostgreSQL would scan the whole table for either without it.
        Index("ix_refresh_tokens_restaurant_id", "restaurant_id"),
        NEVER_REUSE_IDS,
    )

    user_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
