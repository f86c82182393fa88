"""Idempotency keys belong to a user; indexes for two foreign keys and the purge.

A key is now unique per (user, restaurant, key), so another staff member's answer never replays
to you. Stored answers do not say who sent them and live only 24 hours, so upgrade deletes them
rather than guess an owner: a client retrying across the upgrade runs its request again, as it
would after the 24 hours. Downgrade deletes them too, since two users' rows may share a key the
old uniqueness refuses. On PostgreSQL the table is locked first, so no request can store an
answer between the delete and the new NOT NULL column.

The purge (one restaurant's expired answers) gets a (restaurant_id, expires_at) index in place
of the lone expires_at one; refresh_tokens.restaurant_id gets the index its foreign key lacked
(restaurant deletes and tenant-scoped queries). idempotency_keys.user_id is indexed by the new
unique constraint, which leads with it.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _delete_stored_answers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE")
    op.execute("DELETE FROM idempotency_keys")


def upgrade() -> None:
    _delete_stored_answers()
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                   nullable=False))
        batch.create_foreign_key(batch.f("fk_idempotency_keys_user_id_users"), "users",
                                 ["user_id"], ["id"], ondelete="CASCADE")
        batch.drop_constraint(batch.f("uq_idempotency_keys_restaurant_id_key"), type_="unique")
        batch.create_unique_constraint(batch.f("uq_idempotency_keys_user_id_restaurant_id_key"),
                                       ["user_id", "restaurant_id", "key"])
        batch.drop_index("ix_idempotency_keys_expires_at")
        batch.create_index("ix_idempotency_keys_restaurant_id_expires_at",
                           ["restaurant_id", "expires_at"])
    op.create_index("ix_refresh_tokens_restaurant_id", "refresh_tokens", ["restaurant_id"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_restaurant_id", table_name="refresh_tokens")
    _delete_stored_answers()
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_index("ix_idempotency_keys_restaurant_id_expires_at")
        batch.create_index("ix_idempotency_keys_expires_at", ["expires_at"])
        batch.drop_constraint(batch.f("uq_idempotency_keys_user_id_restaurant_id_key"),
                              type_="unique")
        batch.create_unique_constraint(batch.f("uq_idempotency_keys_restaurant_id_key"),
                                       ["restaurant_id", "key"])
        batch.drop_constraint(batch.f("fk_idempotency_keys_user_id_users"), type_="foreignkey")
        batch.drop_column("user_id")
