"""The /api/v1 router: every domain router, mounted once."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.auth.router import auth_required
from app.auth.router import router as auth_router
from app.guests.router import router as guests_router
from app.observability.router import router as health_router
from app.reservations.router import router as reservations_router
from app.restaurants.router import router as restaurant_router
from app.tables.router import router as tables_router
from app.users.router import router as users_router

API_PREFIX = "/api/v1"
# In order of traffic: FastAPI tries each router's routes in turn, ~1 us a route, so the
# floor's routes come first. Their prefixes differ, so the order decides nothing else.
DOMAIN_ROUTERS = (
    guests_router,
    tables_router,
    reservations_router,
    restaurant_router,
    users_router,
    auth_router,
    auth_required,
)


def include_routers(app: FastAPI) -> None:
    """Each domain router straight into the app, under the API prefix. One level of
    inclusion: FastAPI matches a request against every route of every router it passes
    through, once to match and again to dispatch, so a nested /api/v1 router doubled the
    routing cost of every request."""
    app.include_router(health_router)
    for router in DOMAIN_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)


def route_templates() -> dict[str, str]:
    """operationId -> full path template, for metrics and logs (a matched route only knows
    its path inside its own router)."""
    mounted = [(API_PREFIX, router) for router in DOMAIN_ROUTERS] + [("", health_router)]
    return {
        route.operation_id: prefix + route.path
        for prefix, router in mounted
        for route in router.routes
        if isinstance(route, APIRoute) and route.operation_id
    }
