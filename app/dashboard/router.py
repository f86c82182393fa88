"""GET /dashboard/data: the floor in one call, then deltas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BeforeValidator

from app.core.openapi import API_PREFIX, errors
from app.core.text import Text
from app.dashboard import schemas, service
from app.db.session import UnitOfWorkRoute
from app.deps import Scope, UnitOfWorkDep

router = APIRouter(
    prefix=f"{API_PREFIX}/dashboard", tags=["dashboard"], route_class=UnitOfWorkRoute
)


def _strict_boolean(value: Any) -> Any:
    """A query boolean is `true` or `false`, as in a JSON body; not `1`, `yes` or `on`."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


StrictBooleanQuery = Annotated[bool, BeforeValidator(_strict_boolean)]


@router.get(
    "/data",
    operation_id="getDashboardData",
    response_model=schemas.DashboardData,
    responses={
        **errors(401),
        304: {"description": "Nothing changed since the `ETag` sent in `If-None-Match`."},
    },
)
async def dashboard_data(
    request: Request,
    uow: UnitOfWorkDep,
    scope: Scope,
    since: Annotated[
        Text | None,
        Query(
            description="The `cursor` of an earlier answer: only what changed after it. A "
            "cursor that cannot be served (too old, malformed, of another restaurant or "
            "database, or of an earlier local date) gives a full sync, never an error."
        ),
    ] = None,
    minimal: Annotated[
        StrictBooleanQuery,
        Query(description="Minimal rows (`MinimalGuest`, `MinimalTable`, `MinimalReservation`)."),
    ] = False,
    if_none_match: Annotated[
        str | None,
        Header(description="An earlier answer's `ETag`: 304 with no body while nothing changed."),
    ] = None,
) -> Response:
    """The whole floor (`fullSync: true`) or, with `since`, exactly the rows changed by the
    transactions committed after it and the ids deleted since (`fullSync: false`). Follow the
    `cursor`s from any starting point and no change is ever missed."""
    return await service.dashboard(
        uow,
        scope,
        await request.app.state.cursors.get(),
        since=since,
        minimal=minimal,
        if_none_match=if_none_match,
    )
