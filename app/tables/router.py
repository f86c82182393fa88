"""Tables: list, create, read, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.core.openapi import API_PREFIX, errors
from app.core.pagination import CursorQuery, LimitQuery
from app.core.schemas import Page
from app.db.repository import row_body
from app.deps import IfMatch, Scope, UnitOfWorkDep, if_match_version
from app.idempotency.route import IdempotentRoute
from app.tables import schemas, service

router = APIRouter(prefix=f"{API_PREFIX}/tables", tags=["tables"], route_class=IdempotentRoute)


@router.get(
    "", operation_id="listTables", response_model=Page[schemas.Table], responses=errors(401)
)
async def list_tables(
    uow: UnitOfWorkDep,
    scope: Scope,
    status_: Annotated[
        list[schemas.TableStatus] | None,
        Query(alias="status", description="Only these statuses (may repeat)."),
    ] = None,
    section: Annotated[str | None, Query(max_length=50)] = None,
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
    responses=errors(401, 403, 409),
)
async def create_table(data: schemas.TableCreate, uow: UnitOfWorkDep, scope: Scope) -> Response:
    """Owners and managers only. A `tableNumber` already used is 409 `duplicate`."""
    table = await service.create_table(uow, scope, data)
    return row_body(table, schemas.Table, status.HTTP_201_CREATED)


@router.get(
    "/{table_id}", operation_id="getTable", response_model=schemas.Table, responses=errors(401, 404)
)
async def get_table(table_id: int, uow: UnitOfWorkDep, scope: Scope) -> Response:
    return await service.get_table(uow, scope, table_id)


@router.patch(
    "/{table_id}",
    operation_id="updateTable",
    response_model=schemas.Table,
    responses=errors(401, 403, 404, 409, 412),
)
async def update_table(
    table_id: int,
    data: schemas.TableUpdate,
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
    responses=errors(401, 403, 404, 409, 412),
)
async def delete_table(
    table_id: int, uow: UnitOfWorkDep, scope: Scope, if_match: IfMatch = None
) -> None:
    """Owners and managers only. An occupied table is 409 `table_occupied`; reservations
    that held the table keep their booking without a table."""
    await service.delete_table(uow, scope, table_id, if_match=if_match_version(if_match))
