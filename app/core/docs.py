"""The API's documentation: Swagger UI and ReDoc served with their own assets, tags, servers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
# Under /docs with the pages, so one proxy rule can publish or hide all of the documentation.
ASSETS_PATH = "/docs/assets"
# fastapi-offline ships Swagger UI's and ReDoc's bundles (and FastAPI's icon) as package data;
# served from here, the pages load nothing from another host, so they work without internet.
ASSETS_PACKAGE = ("fastapi_offline", "static")

# Paths start with /api/v1 already: a client joins them to the host it was given as they are.
SERVERS: list[dict[str, Any]] = [
    {"url": "/", "description": "The host serving this document; paths carry /api/v1."}
]

# In the order the documentation lists them: signing in, the floor, then administration.
TAGS: list[dict[str, Any]] = [
    {
        "name": "auth",
        "description": "Register a restaurant, log in and out, refresh tokens, and read who "
        "is signed in. `POST /api/v1/auth/token` is the OAuth2 form behind **Authorize**.",
    },
    {
        "name": "dashboard",
        "description": "The whole floor in one call: tables, active guests and today's "
        "reservations, or only what changed since a cursor.",
    },
    {
        "name": "guests",
        "description": "The waitlist and seated parties. Seating, moving and completing a "
        "guest keeps the guest and the table in step.",
    },
    {
        "name": "tables",
        "description": "The floor plan: each table's number, capacity, section, position and "
        "status. Owners and managers add, change and remove tables.",
    },
    {
        "name": "reservations",
        "description": "Bookings that hold a table for a time slot, free slots for a party, "
        "and check-in, which turns a booking into a guest.",
    },
    {
        "name": "batch",
        "description": "Many table, guest and reservation changes in one transaction, all or "
        "nothing, under the same rules as the single calls.",
    },
    {
        "name": "users",
        "description": "The restaurant's staff accounts and their roles, from owner down to "
        "server.",
    },
    {
        "name": "restaurant",
        "description": "The caller's own restaurant: its name, time zone, service hours and "
        "what a table becomes when its guest leaves.",
    },
    {
        "name": "health",
        "description": "Liveness and readiness probes for load balancers and orchestrators; "
        "they need no token.",
    },
]


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs (with its OAuth2 redirect page) and ReDoc at /redoc, as FastAPI
    serves them, but with their scripts and styles from ``ASSETS_PATH``. The app must be
    built with ``docs_url=None, redoc_url=None``. None of these routes is in the document."""
    openapi_url = app.openapi_url
    redirect_url = app.swagger_ui_oauth2_redirect_url
    assert openapi_url is not None, "the pages show the OpenAPI document"
    assert redirect_url is not None, "Authorize returns to the redirect page"

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, every URL the browser follows needs it back.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    # Plain routes, as FastAPI adds its own documentation pages: they take no parameters
    # and none of them belongs in the document.
    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(REDOC_PATH, redoc, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
