"""The change log: what each committed write transaction of a restaurant changed, by revision.

One row per revision of a restaurant (``app.db.revision`` writes it in the transaction that
takes the revision, under the restaurant lock, so revision order is commit order). ``changes``
holds the minimal rows the transaction left and the ids it deleted, as the JSON the dashboard's
delta and the real-time feed send. Rows older than the retention setting are purged
(``app.sync.log.purge``); ``restaurants.change_log_start`` then says from which revision on the
log is complete.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TenantMixin, utcnow


class ChangeLog(TenantMixin, Base):
    __tablename__ = "change_log"
    __table_args__ = (
        PrimaryKeyConstraint("restaurant_id", "revision"),
        Index("ix_change_log_created_at", "created_at"),
    )

    revision: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changes: Mapped[str] = mapped_column(Text)


class DatabaseEpoch(Base):
    """One row: a random name of this database, made when it was created. A cursor carries
    it, so a cursor of a replaced (restored, recreated) database is never taken for one of
    this database."""

    __tablename__ = "database_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[str] = mapped_column(String(32))
