"""The caller's own restaurant and its settings."""

from __future__ import annotations

from sqlalchemy import select

from app.core.errors import NotFound
from app.db.locks import AFTER_LEAVE_KEY, record_locked
from app.db.repository import check_version
from app.db.session import UnitOfWork
from app.db.tenancy import RestaurantScope
from app.models import Restaurant
from app.restaurants import schemas


async def load_restaurant(uow: UnitOfWork, *, for_update: bool = False) -> Restaurant:
    """The restaurant ``uow`` is bound to (the tenancy guard's criteria do not reach the
    restaurants table: its id comes from the unit of work, never from a caller)."""
    stmt = select(Restaurant).where(Restaurant.id == uow.bound_scope().restaurant_id)
    if for_update:
        # The restaurant lock (app.db.locks) is this same lock mode on this same row.
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    restaurant = await uow.session.scalar(stmt)
    if restaurant is None:  # deleted while the token was alive
        raise NotFound("Restaurant not found")
    if for_update:
        record_locked(uow.session.sync_session, restaurant)
    return restaurant


async def get_restaurant(uow: UnitOfWork, scope: RestaurantScope) -> schemas.Restaurant:
    return schemas.Restaurant.model_validate(await load_restaurant(uow))


async def update_restaurant(
    uow: UnitOfWork, scope: RestaurantScope, data: schemas.RestaurantUpdate, if_match: int | None
) -> schemas.Restaurant:
    restaurant = await load_restaurant(uow, for_update=True)
    check_version(restaurant, if_match)
    changes = data.changes()
    if data.service_hours is not None:
        changes.pop("service_hours")
        restaurant.service_hours = schemas.stored_hours(data.service_hours)
    for field, value in changes.items():
        setattr(restaurant, field, value)
    await uow.session.flush()
    # The restaurant lock read the setting before this change.
    uow.session.info[AFTER_LEAVE_KEY] = restaurant.table_after_guest_leaves
    return schemas.Restaurant.model_validate(restaurant)
