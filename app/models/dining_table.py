"""A table on the restaurant's floor (named DiningTable to keep clear of SQL tables)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.vocabulary import TableStatus
from app.db.base import (
    NEVER_REUSE_IDS,
    Base,
    IdMixin,
    IdType,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
)

# Byte order on both databases, so lists page identically on SQLite and PostgreSQL.
TableNumberType = String(20).with_variant(String(20, collation="C"), "postgresql")


class DiningTable(IdMixin, TenantMixin, VersionedMixin, TimestampMixin, Base):
    __tablename__ = "dining_tables"
    __entity__ = "tables"
    __label__ = "Table"
    __minimal_fields__ = ("id", "table_number", "status", "current_guest_id", "version")
    __table_args__ = (
        UniqueConstraint("restaurant_id", "id"),
        UniqueConstraint("restaurant_id", "table_number"),
        # A guest is at at most one table.
        UniqueConstraint("current_guest_id"),
        ForeignKeyConstraint(
            ["restaurant_id", "current_guest_id"],
            ["guests.restaurant_id", "guests.id"],
            use_alter=True,
        ),
        CheckConstraint("capacity BETWEEN 1 AND 50", name="capacity"),
        CheckConstraint("min_capacity BETWEEN 1 AND capacity", name="min_capacity"),
        CheckConstraint(TableStatus.sql_check("status"), name="status"),
        CheckConstraint(
            "(status = 'occupied' AND current_guest_id IS NOT NULL)"
            " OR (status <> 'occupied' AND current_guest_id IS NULL)",
            name="occupied_has_guest",
        ),
        Index("ix_dining_tables_restaurant_id_status", "restaurant_id", "status"),
        Index("ix_dining_tables_restaurant_id_section", "restaurant_id", "section"),
        NEVER_REUSE_IDS,
    )

    table_number: Mapped[str] = mapped_column(TableNumberType)
    capacity: Mapped[int] = mapped_column(Integer)
    min_capacity: Mapped[int] = mapped_column(Integer, default=1)
    section: Mapped[str | None] = mapped_column(String(50), default=None)
    status: Mapped[str] = mapped_column(String(16), default=TableStatus.AVAILABLE.value)
    current_guest_id: Mapped[int | None] = mapped_column(IdType, default=None)
    pos_x: Mapped[float | None] = mapped_column(Float, default=None)
    pos_y: Mapped[float | None] = mapped_column(Float, default=None)
