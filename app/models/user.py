"""Staff users: each belongs to exactly one restaurant; emails are unique service-wide."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.vocabulary import Role
from app.db.base import NEVER_REUSE_IDS, Base, IdMixin, TenantMixin, TimestampMixin, VersionedMixin


class User(IdMixin, TenantMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(Role.sql_check("role"), name="role"),
        Index("ix_users_restaurant_id_role", "restaurant_id", "role"),
        NEVER_REUSE_IDS,
    )

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    # Bumped by auth.service.end_sessions whenever outstanding access tokens must stop
    # working: a new password, email or role.
    token_generation: Mapped[int] = mapped_column(Integer, default=1)
