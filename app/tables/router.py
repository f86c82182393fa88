"""Tables: list, create, read, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.core.openapi import API_PREFIX, SEATING, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import never_null
from app.core.vocabulary import ErrorCode, TableStatus
from app.db.repository import row_body
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.idempotency.route import IdempotentRoute
from app.tables import schemas, service

router = APIRouter(prefix=f"{API_PREFIX}/tables", tags=["tables"], route_class=IdempotentRoute)

UPDATE_EXAMPLES = {
    "cleaned": {"summary": "The table is clean again", "value": {"status": "available"}},
    "seat": {"summary": "Seat guest 40 here", "value": {"currentGuestId": 40}},
    "free": {"summary": "Its guest leaves (completed)", "value": {"currentGuestId": None}},
    "layout": {
        "summary": "Move it on the floor plan, out of any section",
        "value": {"posX": 3.5, "posY": 1.0, "section": None},
    },
}
TableId = Annotated[
    int, Path(description="A table's `id`; 404 unless it is one of your restaurant's tables.")
]


@router.get("", operation_id="listTables", response_model=schemas.TablePage, responses=errors(401))
async def list_tables(
    uow: UnitOfWorkDep,
    scope: Scope,
    status_: Annotated[
        list[TableStatus] | None,
        Query(
            alias="status",
            description="Only these statuses (may repeat).",
            json_schema_extra=never_null,
        ),
    ] = None,
    section: Annotated[
        str | None,
        Query(
            max_length=50, description="Only tables of this section.", json_schema_extra=never_null
        ),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    """Ordered by `tableNumber` (byte order), then `id`."""
    return await service.list_tables(
        uow, scope, statuses=status_, section=section, limit=limit, cursor=cursor
    )


@router.post(
    "",
    operation_id="createTable",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Table,
    responses=errors(401, 403, conflicts=(ErrorCode.DUPLICATE,)),
)
async def create_table(data: schemas.TableCreate, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """Owners and managers only. A `tableNumber` already used is 409 `duplicate`."""
    table = await service.create_table(uow, scope, data)
    return row_body(table, schemas.Table, status.HTTP_201_CREATED)


@router.get(
    "/{table_id}", operation_id="getTable", response_model=schemas.Table, responses=errors(401, 404)
)
async def get_table(table_id: TableId, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """One table, as it stands now."""
    return await service.get_table(uow, scope, table_id)


@router.patch(
    "/{table_id}",
    operation_id="updateTable",
    response_model=schemas.Table,
    responses=errors(401, 403, 404, 412, conflicts=(ErrorCode.DUPLICATE, *SEATING)),
)
async def update_table(
    table_id: TableId,
    data: Annotated[schemas.TableUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
    if_match: IfMatch = None,
) -> Response:
    """`status` of an occupied table is 409 `table_occupied`; `occupied` itself is reached
    only by seating (422 here). `currentGuestId: G` seats G here exactly like the guest's
    PATCH `tableId`; `currentGuestId: null` completes the current guest."""
    table = await service.update_table(
        uow, scope, table_id, data, if_match=if_match_version(if_match)
    )
    return row_body(table, schemas.Table)


@router.delete(
    "/{table_id}",
    operation_id="deleteTable",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 412, conflicts=(ErrorCode.TABLE_OCCUPIED,)),
)
async def delete_table(
    table_id: TableId, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Owners and managers only. An occupied table is 409 `table_occupied`; reservations
    that held the table keep their booking without a table."""
    await service.delete_table(uow, scope, table_id, if_match=if_match_version(if_match))
