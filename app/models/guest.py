"""A party on the waitlist or at a table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.vocabulary import GuestStatus, sql_in
from app.db.base import (
    NEVER_REUSE_IDS,
    Base,
    IdMixin,
    IdType,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
)

ACTIVE_GUEST_STATUSES = (GuestStatus.WAITING, GuestStatus.NOTIFIED, GuestStatus.SEATED)
ACTIVE_GUESTS_SQL = sql_in("status", ACTIVE_GUEST_STATUSES)


class Guest(IdMixin, TenantMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "guests"
    __entity__ = "guests"
    __minimal_fields__ = ("id", "name", "status", "table_id", "party_size", "version")
    __table_args__ = (
        UniqueConstraint("restaurant_id", "id"),
        # A table has at most one current guest.
        UniqueConstraint("table_id"),
        ForeignKeyConstraint(
            ["restaurant_id", "table_id"], ["dining_tables.restaurant_id", "dining_tables.id"]
        ),
        ForeignKeyConstraint(
            ["restaurant_id", "reservation_id"], ["reservations.restaurant_id", "reservations.id"]
        ),
        CheckConstraint("party_size BETWEEN 1 AND 50", name="party_size"),
        CheckConstraint(GuestStatus.sql_check("status"), name="status"),
        CheckConstraint(
            "(status = 'seated' AND table_id IS NOT NULL)"
            " OR (status <> 'seated' AND table_id IS NULL)",
            name="seated_has_table",
        ),
        Index("ix_guests_restaurant_id_status_arrived_at", "restaurant_id", "status", "arrived_at"),
        Index("ix_guests_restaurant_id_arrived_at", "restaurant_id", "arrived_at"),
        # The default list: active guests by arrival (alembic 0005). A query uses it only
        # when it names these statuses as literals (app.guests.service.list_guests).
        Index(
            "ix_guests_active",
            "restaurant_id",
            "arrived_at",
            "id",
            sqlite_where=text(ACTIVE_GUESTS_SQL),
            postgresql_where=text(ACTIVE_GUESTS_SQL),
        ),
        Index("ix_guests_reservation_id", "reservation_id"),
        NEVER_REUSE_IDS,
    )

    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(16), default=None)
    party_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=GuestStatus.WAITING.value)
    table_id: Mapped[int | None] = mapped_column(IdType, default=None)
    quoted_wait_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    notes: Mapped[str | None] = mapped_column(String(1000), default=None)
    reservation_id: Mapped[int | None] = mapped_column(IdType, default=None)
    arrived_at: Mapped[datetime]
    seated_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
