"""restaurants.revision: a number that grows with every committed write of a restaurant.

Each write transaction of a restaurant adds one to it before it commits, under the restaurant
lock (app.db.revision). A reader that finds the same revision as before knows that nothing of
the restaurant has changed since: the lists serve their cached answer then.

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
    with op.batch_alter_table("restaurants") as batch:
        batch.add_column(
            sa.Column("revision", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("restaurants") as batch:
        batch.drop_column("revision")
