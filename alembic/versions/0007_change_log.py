"""The change log, restaurants.change_log_start and the database's epoch.

change_log holds one row per revision of a restaurant: what that write transaction changed
(app.models.change_log). A restaurant's revisions up to now were never logged, so its
change_log_start starts at its current revision: a cursor from before it gets a full sync.
database_epoch gets its random epoch here, once, when the database is made.

The restaurants column is added and dropped in place, never by rebuilding the table (see 0006).

Revision ID: 0007
Revises: 0006
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("restaurant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["restaurant_id"], ["restaurants.id"],
                                name=op.f("fk_change_log_restaurant_id_restaurants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("restaurant_id", "revision", name=op.f("pk_change_log")),
    )
    op.create_index("ix_change_log_created_at", "change_log", ["created_at"])
    op.add_column(
        "restaurants",
        sa.Column("change_log_start", sa.BigInteger(), nullable=False,
                  server_default=sa.text("0")),
    )
    op.execute("UPDATE restaurants SET change_log_start = revision")
    epoch = op.create_table(
        "database_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_database_epoch_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_database_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "epoch": secrets.token_hex(16)}])


def downgrade() -> None:
    op.drop_table("database_epoch")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE restaurants DROP COLUMN change_log_start")
    else:
        op.drop_column("restaurants", "change_log_start")
    op.drop_index("ix_change_log_created_at", table_name="change_log")
    op.drop_table("change_log")
