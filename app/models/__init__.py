"""All models, imported once so the metadata is complete (Alembic reads it from here)."""

from app.db.base import Base
from app.models.change_log import ChangeLog, DatabaseEpoch
from app.models.dining_table import DiningTable
from app.models.guest import Guest
from app.models.idempotency_key import IdempotencyKey
from app.models.refresh_token import RefreshToken
from app.models.reservation import Reservation
from app.models.restaurant import Restaurant
from app.models.user import User

__all__ = [
    "Base",
    "ChangeLog",
    "DatabaseEpoch",
    "DiningTable",
    "Guest",
    "IdempotencyKey",
    "RefreshToken",
    "Reservation",
    "Restaurant",
    "User",
]
