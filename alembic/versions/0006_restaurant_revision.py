"""restaurants.revision: a number that grows with every committed write of a restaurant.

Each write transaction of a restaurant adds one to it before it commits, under the restaurant
lock (app.db.revision). A reader that finds the same revision as before knows that nothing of
the restaurant has changed since: the lists serve their cached answer then.

The column is added and dropped in place (SQLite's ALTER TABLE ADD and DROP COLUMN), never by
rebuilding the table: with foreign keys on, dropping the old restaurants table while rebuilding
it would delete, by cascade, every row of every restaurant.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "restaurants",
        sa.Column("revision", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE restaurants DROP COLUMN revision")
    else:
        op.drop_column("restaurants", "revision")
