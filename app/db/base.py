"""Declarative base, naming convention, column types and the mixins every row shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; timestamptz on PostgreSQL, sortable text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database layer")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


# Every table with an id ends its __table_args__ with this: SQLite, without AUTOINCREMENT,
# would give a new row the id of the newest row deleted (alembic 0008).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class IdMixin:
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)


def _same_as_created(context: Any) -> datetime:
    created: datetime = context.get_current_parameters()["created_at"]
    return created


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A new row's updatedAt equals its createdAt exactly.
    updated_at: Mapped[datetime] = mapped_column(default=_same_as_created, onupdate=utcnow)


class VersionedMixin:
    """Every change increases ``version``; the ORM also checks it on UPDATE (optimistic lock)."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class TenantMixin:
    """A row owned by one restaurant. Queries on it are scoped by ``app.db.tenancy``."""

    __tenant__ = True

    @declared_attr
    def restaurant_id(cls) -> Mapped[int]:
        # Indexed through each model's composite (restaurant_id, ...) indexes.
        return mapped_column(
            IdType, ForeignKey("restaurants.id", ondelete="CASCADE"), nullable=False
        )
