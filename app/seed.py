"""The demo restaurant: an owner to log in with, a floor, a waitlist and tonight's bookings.

Idempotent: nothing happens when the demo owner exists. The rows go through the same
services as the API, so the demo floor keeps every rule the app relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.core.security import hash_password
from app.core.vocabulary import Role
from app.db.session import Database, UnitOfWork
from app.db.tenancy import CROSS_TENANT, _make_scope, bind_scope
from app.guests import service as guests
from app.guests.schemas import GuestCreate
from app.models import Restaurant, User
from app.reservations import service as reservations
from app.reservations.schemas import ReservationCreate
from app.restaurants.schemas import WEEKDAYS
from app.tables import service as tables
from app.tables.schemas import TableCreate

DEMO_EMAIL = "demo@qtable.dev"
DEMO_PASSWORD = "demo-password"  # printed on purpose: a local development login
DEMO_HOURS = [["11:30", "14:30"], ["17:00", "22:00"]]
DEMO_TABLES = [
    ("1", 2, "Window"),
    ("2", 2, "Window"),
    ("3", 4, "Window"),
    ("4", 4, "Main"),
    ("5", 4, "Main"),
    ("6", 6, "Main"),
    ("7", 8, "Terrace"),
    ("8", 2, "Bar"),
]


async def seed_demo(db: Database) -> bool:
    """Create the demo restaurant unless its owner exists. Returns whether it was created."""
    password_hash = await hash_password(DEMO_PASSWORD)
    uow = UnitOfWork(db, write=True)
    session = uow.session
    try:
        exists = await session.scalar(
            select(User.id)
            .where(User.email == DEMO_EMAIL)
            .execution_options(**{CROSS_TENANT: True})
        )
        if exists is not None:
            return False
        restaurant = Restaurant(
            name="Demo Bistro",
            timezone="Europe/Paris",
            service_hours={day: DEMO_HOURS for day in WEEKDAYS},
        )
        session.add(restaurant)
        await session.flush()
        owner = User(
            restaurant_id=restaurant.id,
            email=DEMO_EMAIL,
            password_hash=password_hash,
            full_name="Demo Owner",
            role=Role.OWNER,
        )
        session.add(owner)
        await session.flush()
        scope = _make_scope(restaurant.id, owner.id, owner.role)
        bind_scope(session.sync_session, scope)
        table_ids = []
        for number, capacity, section in DEMO_TABLES:
            table = await tables.create_table(
                uow, scope, TableCreate(table_number=number, capacity=capacity, section=section)
            )
            table_ids.append(table.id)
        for name, size in [("Martin", 2), ("Okafor", 4), ("Lindqvist", 3), ("Haddad", 5)]:
            guest = await guests.create_guest(
                uow, scope, GuestCreate(name=name, party_size=size, quoted_wait_minutes=15)
            )
            if name == "Okafor":
                await guests.seat_guest(uow, scope, guest.id, table_ids[3])
        tonight = (datetime.now(UTC) + timedelta(hours=3)).replace(
            minute=0, second=0, microsecond=0
        )
        for offset, (name, size, table_index) in enumerate(
            [("Rossi", 2, 0), ("Nakamura", 6, 5), ("Dubois", 4, None)]
        ):
            await reservations.create_reservation(
                uow,
                scope,
                ReservationCreate(
                    guest_name=name,
                    party_size=size,
                    starts_at=tonight + timedelta(minutes=30 * offset),
                    table_id=table_ids[table_index] if table_index is not None else None,
                ),
            )
        await uow.commit()
        return True
    finally:
        await uow.close()
