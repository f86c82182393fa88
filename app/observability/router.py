"""Health, readiness and Prometheus metrics (no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.errors import Unavailable
from app.core.openapi import DocumentedRoute, errors
from app.core.schemas import OutputModel

router = APIRouter(tags=["health"], route_class=DocumentedRoute)


class Health(OutputModel):
    status: str


@router.get("/healthz", operation_id="getHealth", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", operation_id="getReadiness", response_model=Health, responses=errors(503))
async def readyz(request: Request) -> Health:
    """The database answers; 503 `unavailable` otherwise."""
    try:
        async with request.app.state.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        raise Unavailable("The database is not reachable") from None
    return Health(status="ready")


# Prometheus scrapes it; the apps never call it, so it stays out of the document their clients
# are generated from.
@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics() -> Response:
    """Request counts and latency by route template, in Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
