"""The read ceiling: FastAPI with nothing between the request and a ready answer.

Started exactly as QTable is (uvicorn, one worker, same flags, own process), it measures what
the framework and the server cost for the same request and the same response bytes, so the
ratio to it is what QTable's own work (auth, database, serialization) leaves of that.

- ``GET /empty`` answers ``{}``: the least a JSON route can do.
- ``GET /same/<name>`` answers, byte for byte, the body QTable gave for that scenario. The
  bench captures those bodies first and names their file in ``BENCH_CEILING_BODIES``: a JSON
  object, scenario slug -> body (latin-1 text of the raw bytes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Response

BODIES_ENV = "BENCH_CEILING_BODIES"


def _answer(content: bytes) -> Callable[[], Awaitable[Response]]:
    async def answer() -> Response:
        return Response(content=content, media_type="application/json")

    return answer


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/empty")
    async def empty() -> dict[str, str]:
        return {}

    bodies_file = os.environ.get(BODIES_ENV)
    bodies = json.loads(Path(bodies_file).read_text()) if bodies_file else {}
    for slug, body in bodies.items():
        app.add_api_route(f"/same/{slug}", _answer(body.encode("latin-1")), methods=["GET"])
    return app
