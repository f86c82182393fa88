"""GET /dashboard/data: the floor in one call, then deltas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BeforeValidator

from app.core.errors import field_error
from app.core.openapi import API_PREFIX, errors
from app.core.schemas import never_null
from app.core.text import Text
from app.dashboard import schemas, service
from app.db.session import Handler, UnitOfWorkRoute, unit_of_work_of
from app.deps import Scope, UnitOfWorkDep, bearer_token, scope_reading

_BOOLEAN_ERROR = "must be true or false"


def _strict_boolean(value: Any) -> Any:
    """A query boolean is `true` or `false`, as in a JSON body; not `1`, `yes` or `on`."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise ValueError(_BOOLEAN_ERROR)


class DashboardRoute(UnitOfWorkRoute):
    """The dashboard is asked for by every iPad, again and again, and most answers are a 304
    or an empty delta: FastAPI's solving of its parameters and dependencies was a third of
    such a request (~60 us of ~180 us in-process). Its handler reads them itself, by the same
    rules as the signature below, which documents them: the token as the ``Scope``
    dependency reads it, ``since`` as text (the request middleware has refused U+0000 and
    lone surrogates in every query parameter), ``minimal`` strictly, the last of repeated
    parameters as FastAPI takes it; then it calls the endpoint as FastAPI would. The token's
    user is read with the restaurant's revision, in one statement."""

    def inside_unit_of_work(self, handler: Handler) -> Handler:
        async def dashboard_handler(request: Request) -> Response:
            scope, state = await scope_reading(
                request, bearer_token(request), service.USER_AND_STATE
            )
            request.state.restaurant_state = state
            params = request.query_params
            minimal = params.getlist("minimal")
            try:
                wants_minimal = bool(minimal) and _strict_boolean(minimal[-1])
            except ValueError:
                raise field_error(["query", "minimal"], _BOOLEAN_ERROR) from None
            since = params.getlist("since")
            response: Response = await self.endpoint(
                request=request,
                uow=unit_of_work_of(request),
                scope=scope,
                since=since[-1] if since else None,
                minimal=wants_minimal,
                if_none_match=request.headers.get("if-none-match"),
            )
            return response

        return dashboard_handler


router = APIRouter(prefix=f"{API_PREFIX}/dashboard", tags=["dashboard"], route_class=DashboardRoute)


StrictBooleanQuery = Annotated[bool, BeforeValidator(_strict_boolean)]
CACHE_HEADERS = {
    "ETag": {
        "description": "Of the cursor and the query, not of `serverTime`: send it back in "
        "`If-None-Match` on the same URL for a 304 while nothing changed.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`private, no-cache`: keep the answer, but ask again (with "
        "`If-None-Match`) before using it.",
        "schema": {"type": "string"},
    },
}


@router.get(
    "/data",
    operation_id="getDashboardData",
    response_model=schemas.DashboardData,
    responses={
        **errors(401),
        200: {"headers": CACHE_HEADERS},
        304: {
            "description": "Nothing changed since the `ETag` sent in `If-None-Match`; no body.",
            "headers": CACHE_HEADERS,
        },
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
            "database, or of another day of the restaurant: issued before its local midnight "
            "or before a time zone change that moved its day) gives a full sync, never an "
            "error.",
            json_schema_extra=never_null,
        ),
    ] = None,
    minimal: Annotated[
        StrictBooleanQuery,
        Query(
            description="true: a `MinimalDashboard`, whose rows are `MinimalGuest`, "
            "`MinimalTable` and `MinimalReservation`; false: a `Dashboard` of full rows. The "
            "answer's `rows` (`minimal` or `full`) says which it is."
        ),
    ] = False,
    if_none_match: Annotated[
        str | None,
        Header(
            description="An earlier answer's `ETag`: 304 with no body while nothing changed.",
            json_schema_extra=never_null,
        ),
    ] = None,
) -> Response:
    """The whole floor (`fullSync: true`) or, with `since`, exactly the rows changed by the
    transactions committed after it and the ids deleted since (`fullSync: false`). Follow the
    `cursor`s from any starting point and no change is ever missed."""
    return await service.dashboard(
        uow,
        await request.app.state.cursors.get(),
        state=getattr(request.state, "restaurant_state", None),
        since=since,
        minimal=minimal,
        if_none_match=if_none_match,
    )
