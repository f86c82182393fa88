"""An index of the waitlist and the seated parties alone, in arrival order.

The default guest list (waiting, notified, seated; by arrival) read the restaurant's whole
history through ix_guests_restaurant_id_arrived_at, skipping every finished guest: with 5,000
finished guests behind 600 active ones, 1.25 ms for a page of 200 on SQLite, and more each
month. This partial index holds the active guests only; the list names the same three
statuses as literals, which is what lets SQLite and PostgreSQL use it.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('waiting', 'notified', 'seated')"


def upgrade() -> None:
    op.create_index(
        "ix_guests_active",
        "guests",
        ["restaurant_id", "arrived_at", "id"],
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_guests_active", table_name="guests")
