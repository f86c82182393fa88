"""The floor: dining tables, guests and reservations.

Tables and guests point at each other, and so do guests and reservations; those two
foreign keys are added once both tables exist (batch mode recreates the table on SQLite).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dining_tables',
    sa.Column('table_number', sa.String(length=20).with_variant(sa.String(length=20, collation='C'), 'postgresql'), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('min_capacity', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=50), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('current_guest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('pos_x', sa.Float(), nullable=True),
    sa.Column('pos_y', sa.Float(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('restaurant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'occupied' AND current_guest_id IS NOT NULL) OR (status <> 'occupied' AND current_guest_id IS NULL)", name=op.f('ck_dining_tables_occupied_has_guest')),
    sa.CheckConstraint("status IN ('available', 'reserved', 'occupied', 'dirty', 'out_of_service')", name=op.f('ck_dining_tables_status')),
    sa.CheckConstraint('capacity BETWEEN 1 AND 50', name=op.f('ck_dining_tables_capacity')),
    sa.CheckConstraint('min_capacity BETWEEN 1 AND capacity', name=op.f('ck_dining_tables_min_capacity')),
    sa.ForeignKeyConstraint(['restaurant_id'], ['restaurants.id'], name=op.f('fk_dining_tables_restaurant_id_restaurants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dining_tables')),
    sa.UniqueConstraint('current_guest_id', name=op.f('uq_dining_tables_current_guest_id')),
    sa.UniqueConstraint('restaurant_id', 'id', name=op.f('uq_dining_tables_restaurant_id_id')),
    sa.UniqueConstraint('restaurant_id', 'table_number', name=op.f('uq_dining_tables_restaurant_id_table_number'))
    )
    op.create_index('ix_dining_tables_restaurant_id_section', 'dining_tables', ['restaurant_id', 'section'], unique=False)
    op.create_index('ix_dining_tables_restaurant_id_status', 'dining_tables', ['restaurant_id', 'status'], unique=False)
    op.create_table('reservations',
    sa.Column('guest_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('party_size', sa.Integer(), nullable=False),
    sa.Column('starts_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('ends_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('table_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.String(length=1000), nullable=True),
    sa.Column('guest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('restaurant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('booked', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show')", name=op.f('ck_reservations_status')),
    sa.CheckConstraint('duration_minutes BETWEEN 15 AND 720', name=op.f('ck_reservations_duration_minutes')),
    sa.CheckConstraint('party_size BETWEEN 1 AND 50', name=op.f('ck_reservations_party_size')),
    sa.ForeignKeyConstraint(['restaurant_id', 'table_id'], ['dining_tables.restaurant_id', 'dining_tables.id'], name=op.f('fk_reservations_restaurant_id_table_id_dining_tables')),
    sa.ForeignKeyConstraint(['restaurant_id'], ['restaurants.id'], name=op.f('fk_reservations_restaurant_id_restaurants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
    sa.UniqueConstraint('restaurant_id', 'id', name=op.f('uq_reservations_restaurant_id_id'))
    )
    op.create_index('ix_reservations_guest_id', 'reservations', ['guest_id'], unique=False)
    op.create_index('ix_reservations_restaurant_id_starts_at', 'reservations', ['restaurant_id', 'starts_at'], unique=False)
    op.create_index('ix_reservations_restaurant_id_status_starts_at', 'reservations', ['restaurant_id', 'status', 'starts_at'], unique=False)
    op.create_index('ix_reservations_table_id_starts_at', 'reservations', ['table_id', 'starts_at'], unique=False)
    op.create_table('guests',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('party_size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('table_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quoted_wait_minutes', sa.Integer(), nullable=True),
    sa.Column('notes', sa.String(length=1000), nullable=True),
    sa.Column('reservation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('arrived_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seated_at', app.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', app.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('restaurant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'seated' AND table_id IS NOT NULL) OR (status <> 'seated' AND table_id IS NULL)", name=op.f('ck_guests_seated_has_table')),
    sa.CheckConstraint("status IN ('waiting', 'notified', 'seated', 'completed', 'left', 'no_show', 'cancelled')", name=op.f('ck_guests_status')),
    sa.CheckConstraint('party_size BETWEEN 1 AND 50', name=op.f('ck_guests_party_size')),
    sa.ForeignKeyConstraint(['restaurant_id', 'reservation_id'], ['reservations.restaurant_id', 'reservations.id'], name=op.f('fk_guests_restaurant_id_reservation_id_reservations')),
    sa.ForeignKeyConstraint(['restaurant_id', 'table_id'], ['dining_tables.restaurant_id', 'dining_tables.id'], name=op.f('fk_guests_restaurant_id_table_id_dining_tables')),
    sa.ForeignKeyConstraint(['restaurant_id'], ['restaurants.id'], name=op.f('fk_guests_restaurant_id_restaurants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guests')),
    sa.UniqueConstraint('restaurant_id', 'id', name=op.f('uq_guests_restaurant_id_id')),
    sa.UniqueConstraint('table_id', name=op.f('uq_guests_table_id'))
    )
    op.create_index('ix_guests_reservation_id', 'guests', ['reservation_id'], unique=False)
    op.create_index('ix_guests_restaurant_id_arrived_at', 'guests', ['restaurant_id', 'arrived_at'], unique=False)
    op.create_index('ix_guests_restaurant_id_status_arrived_at', 'guests', ['restaurant_id', 'status', 'arrived_at'], unique=False)


    with op.batch_alter_table("dining_tables") as batch:
        batch.create_foreign_key(
            "fk_dining_tables_restaurant_id_current_guest_id_guests", "guests",
            ["restaurant_id", "current_guest_id"], ["restaurant_id", "id"])
    with op.batch_alter_table("reservations") as batch:
        batch.create_foreign_key(
            "fk_reservations_restaurant_id_guest_id_guests", "guests",
            ["restaurant_id", "guest_id"], ["restaurant_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.drop_constraint("fk_reservations_restaurant_id_guest_id_guests", type_="foreignkey")
    with op.batch_alter_table("dining_tables") as batch:
        batch.drop_constraint("fk_dining_tables_restaurant_id_current_guest_id_guests",
                              type_="foreignkey")
    op.drop_table("guests")
    op.drop_table("reservations")
    op.drop_table("dining_tables")
