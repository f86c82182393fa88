"""The route class of the authenticated routers: every POST takes an Idempotency-Key.

A dependency looks the key up, among the caller's own, once the caller is authenticated; a
stored answer is replayed (with ``Idempotent-Replayed: true``), a key reused for another request
is a 422. Otherwise the route handler's answer, success or 4xx, is stored in the same unit of
work as the write.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError

from app.core.errors import (
    AppError,
    Conflict,
    IdempotencyKeyReused,
    app_error_handler,
    validation_error_handler,
)
from app.core.openapi import add_headers, errors, example_ref, headers
from app.core.schemas import never_null
from app.core.text import Text
from app.db.session import Handler, UnitOfWork, UnitOfWorkRoute, unit_of_work_of
from app.deps import Scope
from app.idempotency import service

REPLAYED_HEADER = "Idempotent-Replayed"


class Replayed(Exception):
    """The stored first answer, to be sent again as it was."""

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body


async def replayed_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replayed)
    return Response(
        exc.body or None,
        status_code=exc.status_code,
        media_type="application/json" if exc.body else None,
        headers={REPLAYED_HEADER: "true"},
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    key: str
    fingerprint: str


async def idempotency_key(
    request: Request,
    scope: Scope,
    key: Annotated[
        Text | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Any client string. The first answer (any status but 5xx) is kept 24 "
            "hours; a retry with the same key and request gets it again with "
            "`Idempotent-Replayed: true` and changes nothing; the same key with another "
            "request is 422 `idempotency_key_reused`.",
            json_schema_extra=never_null,
        ),
    ] = None,
) -> None:
    if key is None:
        return
    body = await request.body()
    try:
        # Starlette keeps the JSON that FastAPI parsed for the handler: not parsed twice.
        parsed = await request.json()
    except (ValueError, RecursionError):
        parsed = service.NOT_JSON
    request_print = service.fingerprint(request.method, request.url.path, body, parsed)
    stored = await service.find(unit_of_work_of(request), scope, key)
    if stored is None:
        request.state.idempotency = _Pending(key, request_print)
        return
    if stored.fingerprint != request_print:
        raise IdempotencyKeyReused()
    raise Replayed(stored.status_code, stored.body)


REPLAYED_DOCUMENTED = {
    REPLAYED_HEADER: {
        "description": "`true` on the stored first answer to a request sent again with its "
        "`Idempotency-Key`; absent otherwise.",
        "schema": {"type": "string", "const": "true"},
    }
}


def _document_idempotency(responses: dict[int | str, dict[str, Any]], success: int) -> None:
    """What an Idempotency-Key adds to a POST's answers: any of them but a 5xx may be a
    replay, a retry while the first request runs is a 409 with `Retry-After`, and the key
    sent with another request is a 422."""
    responses.setdefault(success, {})
    add_headers(responses, REPLAYED_DOCUMENTED, lambda status: status < 500)
    add_headers(responses, headers("Retry-After"), lambda status: status == 409)
    for status, name in ((409, "IdempotencyKeyRunning"), (422, "IdempotencyKeyReused")):
        content = responses[status].setdefault("content", {}).setdefault("application/json", {})
        content.setdefault("examples", {})[name] = example_ref(name)


class IdempotentRoute(UnitOfWorkRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []), Depends(idempotency_key)]
            # 409 also answers a retry while the first request with its key still runs.
            responses = copy.deepcopy({**errors(409), **(kwargs.get("responses") or {})})
            _document_idempotency(responses, kwargs.get("status_code") or 200)
            kwargs["responses"] = responses
        super().__init__(path, endpoint, **kwargs)

    def inside_unit_of_work(self, handler: Handler) -> Handler:
        async def remembering_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except (AppError, RequestValidationError) as exc:
                pending: _Pending | None = getattr(request.state, "idempotency", None)
                if pending is None or (isinstance(exc, AppError) and exc.status_code >= 500):
                    raise
                # The answer is kept, the write is not: undo it, store the error, and let
                # the unit of work commit just that.
                uow: UnitOfWork = request.state.uow
                if isinstance(exc, AppError) and exc.commit_before_raising:
                    await uow.commit()
                else:
                    await uow.rollback()
                if isinstance(exc, AppError):
                    response = await app_error_handler(request, exc)
                else:
                    response = await validation_error_handler(request, exc)
                await _remember(request, pending, response)
                return response
            pending = getattr(request.state, "idempotency", None)
            if pending is not None and response.status_code < 500:
                await _remember(request, pending, response)
            return response

        return remembering_handler


async def _remember(request: Request, pending: _Pending, response: Response) -> None:
    try:
        await service.remember(
            request.state.uow,
            request.state.scope,
            key=pending.key,
            fingerprint=pending.fingerprint,
            status_code=response.status_code,
            body=bytes(response.body),
        )
    except IntegrityError:
        # Another request with this key committed first (PostgreSQL runs them side by side).
        raise Conflict(
            "A request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        ) from None
