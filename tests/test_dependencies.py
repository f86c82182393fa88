"""Every route endpoint and every dependency of the app is ``async def``.

FastAPI awaits a coroutine (or async generator) dependency on the event loop, but runs a
plain ``def`` dependency, a class, or a sync endpoint on a worker thread: a thread hop for
each request, and a blocking call hidden from the loop's own scheduling. The app is written
to need none, so any sync callable must be listed below with the reason it is allowed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from app.db.session import UnitOfWorkRoute, current_unit_of_work
from app.main import create_app
from tests.conftest import make_settings

# Sync callables FastAPI may run on a thread, each with why it is accepted: none today (the
# OAuth2 form of POST /auth/token is a form model FastAPI reads itself, not a class it calls).
ALLOWED_SYNC: dict[Any, str] = {}


def _unwrap(call: Any) -> Any:
    while isinstance(call, functools.partial):
        call = call.func
    return inspect.unwrap(call)


def is_async(call: Callable[..., Any]) -> bool:
    """A coroutine function, an async generator function, or an instance whose
    ``__call__`` is one (such as ``OAuth2PasswordBearer``). A class never is: FastAPI calls
    it, synchronously, to make the instance."""
    call = _unwrap(call)
    if inspect.isclass(call):
        return False
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004
    if dunder is None or inspect.isfunction(call) or inspect.ismethod(call):
        return False
    dunder = _unwrap(dunder)
    return inspect.iscoroutinefunction(dunder) or inspect.isasyncgenfunction(dunder)


def describe(call: Any) -> str:
    call = _unwrap(call)
    if inspect.isclass(call) or inspect.isfunction(call) or inspect.ismethod(call):
        return f"{call.__module__}.{call.__qualname__}"
    return f"an instance of {type(call).__module__}.{type(call).__qualname__}"


def dependencies(dependant: Dependant, chain: tuple[str, ...] = ()) -> Iterator[tuple[Any, str]]:
    """Every dependency below ``dependant``, depth first, with the chain that reaches it."""
    for sub in dependant.dependencies:
        if sub.call is None:
            continue
        path = (*chain, describe(sub.call))
        yield sub.call, " -> ".join(path)
        yield from dependencies(sub, path)


def routes() -> list[tuple[str, Any, Dependant | None]]:
    """(``METHODS /path``, endpoint, dependant) for every route of a fresh app, included
    routers flattened with their router-level dependencies."""
    app = create_app(make_settings("sqlite+qtable:///:memory:"))
    found = []
    for route in iter_route_contexts(app.routes):
        methods = ",".join(sorted(getattr(route, "methods", None) or ()))
        dependant = getattr(route, "dependant", None)
        found.append((f"{methods} {route.path}", route.endpoint, dependant))
    return found


def test_the_walk_sees_every_api_route_and_their_dependencies() -> None:
    """The checks below are only as good as the walk: it must reach the API's routes and,
    through them, the dependencies the app is known to use."""
    found = routes()
    names = {name for name, _, _ in found}
    assert {"GET /api/v1/guests", "POST /api/v1/auth/token", "GET /healthz"} <= names
    calls = {
        describe(call)
        for _, _, dependant in found
        if dependant is not None
        for call, _ in dependencies(dependant)
    }
    assert {
        "app.db.session.current_unit_of_work",
        "app.deps.current_scope",
        "an instance of fastapi.security.oauth2.OAuth2PasswordBearer",
    } <= calls


def test_every_endpoint_is_async() -> None:
    """A sync endpoint (API route or plain Starlette route such as /docs) would run on a
    worker thread for every request."""
    sync = [
        f"{name}: endpoint {describe(endpoint)} is not async"
        for name, endpoint, _ in routes()
        if endpoint is not None and not is_async(endpoint) and endpoint not in ALLOWED_SYNC
    ]
    assert not sync, "\n".join(sync)


def test_every_dependency_is_async() -> None:
    """Every dependency FastAPI resolves for any route, however deep, is awaited on the
    loop; the only exceptions are those listed in ALLOWED_SYNC with their reason."""
    sync = sorted(
        {
            f"{name}: dependency {chain} is not async"
            for name, _, dependant in routes()
            if dependant is not None
            for call, chain in dependencies(dependant)
            if not is_async(call) and _unwrap(call) not in ALLOWED_SYNC
        }
    )
    assert not sync, "\n".join(sync)


def test_every_allowed_exception_is_still_used() -> None:
    """An exception nobody needs any more is removed from the list, so the list stays the
    exact set of thread hops the app accepts."""
    used = {
        _unwrap(call)
        for _, _, dependant in routes()
        if dependant is not None
        for call, _ in dependencies(dependant)
    }
    assert set(ALLOWED_SYNC) <= used, set(ALLOWED_SYNC) - used


def test_the_check_tells_sync_from_async() -> None:
    """The classification itself, on the kinds of callables FastAPI accepts."""

    def plain() -> None: ...

    async def coroutine() -> None: ...

    async def agen() -> Any:
        yield

    class AsyncCallable:
        async def __call__(self) -> None: ...

    class SyncCallable:
        def __call__(self) -> None: ...

    assert is_async(coroutine) and is_async(agen) and is_async(AsyncCallable())
    assert is_async(functools.partial(coroutine))
    assert not is_async(plain)
    assert not is_async(SyncCallable())
    assert not is_async(AsyncCallable)  # calling the class makes an instance, synchronously


def test_every_route_that_needs_a_unit_of_work_makes_one() -> None:
    """UnitOfWorkDep reads the unit of work that UnitOfWorkRoute makes around the handler
    (and commits before the response); a route of another class would fail at run time."""
    app = create_app(make_settings("sqlite+qtable:///:memory:"))
    missing = []
    for context in iter_route_contexts(app.routes):
        route = getattr(context, "original_route", context)
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        needs = any(call is current_unit_of_work for call, _ in dependencies(dependant))
        if needs and not isinstance(route, UnitOfWorkRoute):
            missing.append(f"{sorted(route.methods)} {context.path}")
    assert missing == []
