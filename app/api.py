"""The /api/v1 router: every domain router, mounted once."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.router import auth_required
from app.auth.router import router as auth_router
from app.guests.router import router as guests_router
from app.reservations.router import router as reservations_router
from app.restaurants.router import router as restaurant_router
from app.tables.router import router as tables_router
from app.users.router import router as users_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(auth_router)
api_router.include_router(auth_required)
api_router.include_router(users_router)
api_router.include_router(restaurant_router)
api_router.include_router(tables_router)
api_router.include_router(guests_router)
api_router.include_router(reservations_router)
