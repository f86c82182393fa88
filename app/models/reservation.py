"""A booking that holds a table over [starts_at, ends_at)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.vocabulary import ReservationStatus
from app.db.base import (
    NEVER_REUSE_IDS,
    Base,
    IdMixin,
    IdType,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
)

# Reservations in these statuses hold their table.
HOLDING_STATUSES = (
    ReservationStatus.BOOKED,
    ReservationStatus.CONFIRMED,
    ReservationStatus.CHECKED_IN,
)


class Reservation(IdMixin, TenantMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "reservations"
    __entity__ = "reservations"
    __minimal_fields__ = (
        "id",
        "guest_name",
        "party_size",
        "starts_at",
        "table_id",
        "status",
        "version",
    )
    __table_args__ = (
        UniqueConstraint("restaurant_id", "id"),
        ForeignKeyConstraint(
            ["restaurant_id", "table_id"], ["dining_tables.restaurant_id", "dining_tables.id"]
        ),
        ForeignKeyConstraint(
            ["restaurant_id", "guest_id"], ["guests.restaurant_id", "guests.id"], use_alter=True
        ),
        CheckConstraint("party_size BETWEEN 1 AND 50", name="party_size"),
        CheckConstraint("duration_minutes BETWEEN 15 AND 720", name="duration_minutes"),
        CheckConstraint(ReservationStatus.sql_check("status"), name="status"),
        Index("ix_reservations_restaurant_id_starts_at", "restaurant_id", "starts_at"),
        Index(
            "ix_reservations_restaurant_id_status_starts_at", "restaurant_id", "status", "starts_at"
        ),
        Index("ix_reservations_table_id_starts_at", "table_id", "starts_at"),
        Index("ix_reservations_guest_id", "guest_id"),
        NEVER_REUSE_IDS,
    )

    guest_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(16), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    party_size: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # starts_at + duration, kept by the service so overlap checks are plain comparisons.
    ends_at: Mapped[datetime]
    table_id: Mapped[int | None] = mapped_column(IdType, default=None)
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.BOOKED.value)
    notes: Mapped[str | None] = mapped_column(String(1000), default=None)
    guest_id: Mapped[int | None] = mapped_column(IdType, default=None)
