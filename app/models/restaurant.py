"""The restaurant: the tenant every other row belongs to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.vocabulary import TableAfterGuestLeaves
from app.db.base import NEVER_REUSE_IDS, Base, IdMixin, TimestampMixin, VersionedMixin


class Restaurant(IdMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "restaurants"
    __table_args__ = (
        CheckConstraint(
            TableAfterGuestLeaves.sql_check("table_after_guest_leaves"),
            name="table_after_guest_leaves",
        ),
        CheckConstraint(
            "default_reservation_minutes BETWEEN 15 AND 720", name="default_reservation_minutes"
        ),
        NEVER_REUSE_IDS,
    )

    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    table_after_guest_leaves: Mapped[str] = mapped_column(
        String(16), default=TableAfterGuestLeaves.DIRTY.value
    )
    default_reservation_minutes: Mapped[int] = mapped_column(Integer, default=90)
    service_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One more for each committed write transaction of the restaurant (app.db.revision).
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    # The change log (app.models.change_log) holds every revision after this one; older
    # entries were purged. A cursor before it cannot be served by a delta.
    change_log_start: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
