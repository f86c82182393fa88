"""create_app(): lifespan (engine, realtime hub), middleware, error handlers, routers; ``app``.

uvicorn app.main:create_app --factory   builds an app per server process
uvicorn app.main:app, fastapi run        the same app, built on first use of ``app.main.app``
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.api import include_routers
from app.auth.rate_limit import AuthRateLimiter
from app.batch.router import PATH as BATCH_PATH
from app.batch.schemas import MAX_BODY_BYTES as BATCH_BODY_BYTES
from app.core.config import Settings, get_settings
from app.core.docs import SERVERS, TAGS, install_docs
from app.core.errors import install_error_handlers
from app.core.integers import require_canonical_integers
from app.core.logging import configure_logging
from app.core.openapi import finish_document_when_built
from app.core.security import configure_password_hashing, configure_password_threads
from app.db.engine import create_engine
from app.db.session import Database
from app.idempotency.route import Replayed, replayed_handler
from app.observability.loop_lag import watch_loop_lag
from app.observability.middleware import RequestMiddleware
from app.realtime.hub import Hub, close_sockets_on_exit_signals
from app.sync.log import CursorSource, purge_forever

DESCRIPTION = """\
QTable runs a restaurant's floor: the waitlist, seated parties, tables and reservations.

Authenticate with **Authorize** (email as username). Every error answers with
`{"error": {"code", "message", "details"}, "requestId"}`.
"""


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """``clock``: the present by which restaurants' days are told (tests move it)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    configure_password_threads(settings.password_hash_threads)
    if settings.argon2_time_cost or settings.argon2_memory_kib:
        configure_password_hashing(
            time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(create_engine(settings))
        app.state.cursors = CursorSource(settings.jwt_secret, db.engine, clock)
        purging = asyncio.create_task(
            purge_forever(
                db.engine,
                keep=timedelta(days=settings.change_log_retention_days),
                every=timedelta(minutes=settings.change_log_purge_minutes),
            )
        )
        watching = asyncio.create_task(watch_loop_lag())
        hub = Hub(
            db,
            app.state.cursors.get,
            poll_seconds=settings.realtime_poll_seconds,
            queue_size=settings.realtime_queue_size,
            max_sockets_per_user=settings.realtime_max_sockets_per_user,
        )
        hub.start(settings.redis_url)
        restore_signals = close_sockets_on_exit_signals(hub)
        app.state.db = db
        app.state.hub = hub
        app.state.publish = hub.notify
        app.state.auth_limiter = AuthRateLimiter(
            max_failures_per_email=settings.auth_max_failures_per_email,
            max_attempts_per_client=settings.auth_max_attempts_per_client,
            window_seconds=settings.auth_rate_window_seconds,
        )
        try:
            yield
        finally:
            restore_signals()
            await hub.close()  # every socket closed with 1001
            for task in (purging, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await db.dispose()

    app = FastAPI(
        title="QTable",
        version="1.0.0",
        description=DESCRIPTION,
        servers=SERVERS,
        openapi_tags=TAGS,
        # Served by install_docs() with their assets from the app, not from a CDN.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # QTable exports Prometheus metrics (/metrics) and JSON logs, not OpenTelemetry; with
        # FastAPI's native telemetry on, every request asked OpenTelemetry whether a provider
        # was configured (three environment lookups a request).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_exception_handler(Replayed, replayed_handler)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "ETag", "Retry-After"],
        )
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        larger_bodies={BATCH_PATH: max(BATCH_BODY_BYTES, settings.max_body_bytes)},
    )
    include_routers(app)
    install_docs(app)
    require_canonical_integers(app)
    finish_document_when_built(app)
    return app


# ``app`` is built on first access, not on import: importing this module (as the tests and
# ``--factory`` do) must not read settings, configure logging or size thread pools.
app: FastAPI
_building = threading.Lock()


def __getattr__(name: str) -> FastAPI:
    """``app.main.app``: the app of ``get_settings()``, built once, then an ordinary global
    (so later lookups no longer come here)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _building:
        built: FastAPI | None = globals().get("app")
        if built is None:
            built = globals()["app"] = create_app()
    return built


def __dir__() -> list[str]:
    # fastapi run looks for the app among the module's names.
    return sorted({*globals(), "app"})
