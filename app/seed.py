"""The demo restaurant: an owner to log in with (idempotent)."""

from __future__ import annotations

from sqlalchemy import select

from app.core.security import hash_password
from app.db.session import Database
from app.db.tenancy import CROSS_TENANT
from app.models import Restaurant, User
from app.restaurants.schemas import WEEKDAYS

DEMO_EMAIL = "demo@qtable.dev"
DEMO_PASSWORD = "demo-password"
DEMO_HOURS = [["11:30", "14:30"], ["17:00", "22:00"]]


async def seed_demo(db: Database) -> bool:
    """Create the demo restaurant unless its owner exists. Returns whether it was created."""
    password_hash = await hash_password(DEMO_PASSWORD)
    async with db.session(write=True) as session, session.begin():
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
        session.add(
            User(
                restaurant_id=restaurant.id,
                email=DEMO_EMAIL,
                password_hash=password_hash,
                full_name="Demo Owner",
                role="owner",
            )
        )
    return True
