"""POST /batch/update."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError

from app.batch import schemas, service
from app.core.errors import PayloadTooLarge, ValidationFailed
from app.core.openapi import API_PREFIX, SEATING, errors
from app.core.vocabulary import ErrorCode
from app.db.session import Handler
from app.deps import Scope, UnitOfWorkDep
from app.idempotency.route import IdempotentRoute

PATH = f"{API_PREFIX}/batch/update"


def _item_error(exc: RequestValidationError) -> Exception:
    """A batch's validation error, naming its item: the 413 of a batch too large, or a 422
    whose ``details`` hold the entity and index of the first failing item and whose ``loc``s
    read ``body, guests, 3, partySize`` (without the item kind the union validated)."""
    found = list(exc.errors())
    if any(e.get("type") == schemas.TOO_LARGE for e in found):
        return PayloadTooLarge(f"A batch holds at most {schemas.MAX_ITEMS} items")
    errors: list[dict[str, Any]] = []
    for error in found:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        if (
            len(loc) > 3
            and loc[1] in schemas.ENTITY_NAMES
            and isinstance(loc[2], int)
            and loc[3] in ("create", "update", "delete")
        ):
            del loc[3]
        errors.append(
            {"loc": loc, "msg": error.get("msg", "invalid"), "type": error.get("type", "")}
        )
    failed = ValidationFailed(errors)
    first = errors[0]["loc"] if errors else []
    if len(first) > 2 and first[1] in schemas.ENTITY_NAMES and isinstance(first[2], int):
        failed.details.update(entity=first[1], index=first[2])
    return failed


class BatchRoute(IdempotentRoute):
    def inside_unit_of_work(self, handler: Handler) -> Handler:
        async def naming_items(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if any(e.get("type") == "json_invalid" for e in exc.errors()):
                    raise
                raise _item_error(exc) from None

        return super().inside_unit_of_work(naming_items)


router = APIRouter(prefix=f"{API_PREFIX}/batch", tags=["batch"], route_class=BatchRoute)

EXAMPLES = {
    "small": {
        "summary": "Clean a table, seat a guest there, add and remove guests",
        "value": {
            "tables": [{"op": "update", "id": 5, "status": "available"}],
            "guests": [
                {"op": "update", "id": 12, "tableId": 5, "version": 3},
                {"op": "create", "clientId": "tmp-1", "name": "Ana", "partySize": 4},
                {"op": "delete", "id": 9},
            ],
            "reservations": [],
        },
    },
}


@router.post(
    "/update",
    operation_id="batchUpdate",
    response_model=schemas.BatchResponse,
    responses=errors(
        401,
        403,
        404,
        413,
        conflicts=(
            *SEATING,
            ErrorCode.RESERVATION_CONFLICT,
            ErrorCode.VERSION_CONFLICT,
            ErrorCode.DUPLICATE,
        ),
    ),
)
async def batch_update(
    request: Request,
    data: Annotated[schemas.BatchRequest, Body(openapi_examples=EXAMPLES)],
    uow: UnitOfWorkDep,
    scope: Scope,
) -> Response:
    """Every item is validated before any is applied (a 422 names the item); then `tables`,
    `guests` and `reservations` are applied in that order, each in list order, with exactly
    the rules of the single endpoints. All or nothing: the first failing item's error answers,
    with `details.entity` and `details.index` (0-based), and nothing is stored or sent. An
    item's `version` that differs is 409 `version_conflict`. At most 500 items (413); the body
    may be up to 8 MiB."""
    return await service.apply(uow, scope, await request.app.state.cursors.get(), data)
