"""/docs and /redoc work without internet (every asset from the app itself), and the document
they show is the client's surface: servers, tags in order, no documentation or metrics routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from httpx import ASGITransport, AsyncClient
from starlette.routing import Route

from app.main import create_app
from tests.conftest import make_settings
from tests.fixtures.auth import PASSWORD, Actor
from tests.fixtures.database import sqlite_url

PAGES = ("/docs", "/redoc")
# Where the browser goes after Swagger's Authorize; a page of the app too.
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# Attributes whose value the browser fetches or follows.
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "spec-url"}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""")
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""")
JS_IMPORT = re.compile(r"""\bimport(?:\s*\(|\s+[^'"]*?\bfrom)?\s*(['"])(.*?)\1""")
# A string in an inline script that is a URL or a path: the document's and the redirect page's.
JS_URLISH = re.compile(r"""(['"])((?:/|[a-z][a-z0-9+.-]*://)[^'"]*)\1""")
ABSOLUTE_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]*", re.IGNORECASE)
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class References(HTMLParser):
    """Every URL a page makes the browser load or follow, as written in it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag if tag in ("script", "style") else None
        for name, value in attrs:
            if value is None:
                continue
            if name == "srcset":
                self.found.extend(part.split()[0] for part in value.split(",") if part.strip())
            elif name in URL_ATTRIBUTES:
                self.found.append(value)
            elif name == "style":
                self.found.extend(css_references(value))

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.found.extend(css_references(data))
        elif self._in == "script":
            self.found.extend(m.group(2) for m in JS_IMPORT.finditer(data))
            self.found.extend(m.group(2) for m in JS_URLISH.finditer(data))


def css_references(css: str) -> list[str]:
    return [m.group(2) for p in (CSS_URL, CSS_IMPORT) for m in p.finditer(css)]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    parser.close()
    return parser.found


def same_origin(reference: str) -> bool:
    """A relative reference: no scheme, no host (``//cdn…`` names one too)."""
    parts = urlsplit(reference.strip())
    return not parts.scheme and not parts.netloc and not reference.strip().startswith("//")


def expected_types(path: str) -> tuple[str, ...]:
    return CONTENT_TYPES.get(Path(urlsplit(path).path).suffix, ("text/html",))


def build() -> FastAPI:
    # The pages and their assets touch no database: the file is never created.
    return create_app(make_settings(sqlite_url(Path("unused.db"))))


@pytest.fixture(scope="module")
def docs_app() -> FastAPI:
    return build()


@pytest.fixture(params=["", "/qtable"], ids=["at-root", "behind-a-prefix"])
async def docs_client(
    request: pytest.FixtureRequest, docs_app: FastAPI
) -> AsyncIterator[tuple[AsyncClient, str]]:
    """A client, and the prefix a proxy strips before the app (``--root-path``)."""
    root: str = request.param
    transport = ASGITransport(app=docs_app, root_path=root)
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, root


def test_the_reference_parser_sees_what_a_cdn_page_loads() -> None:
    """The checks below are only as good as the parser: FastAPI's own pages, as they were
    served before, load from a CDN, and each way of naming a URL is found."""
    cdn_pages = (
        get_swagger_ui_html(openapi_url="/openapi.json", title="t").body.decode(),
        get_redoc_html(openapi_url="/openapi.json", title="t").body.decode(),
    )
    for html in cdn_pages:
        assert [r for r in references(html) if not same_origin(r)], html
    written = (
        '<img srcset="https://a.example/1.png 1x, /2.png 2x">'
        '<div style="background:url(//b.example/x)"></div>'
        "<style>@import 'https://c.example/s.css';</style>"
        "<script>import('https://d.example/m.js'); fetch(\"//e.example/x\")</script>"
    )
    foreign = {urlsplit(r).netloc for r in references(written) if not same_origin(r)}
    assert foreign == {"a.example", "b.example", "c.example", "d.example", "e.example"}
    assert "/2.png" in references(written)


@pytest.mark.parametrize("page", PAGES)
async def test_pages_reference_no_other_host(
    docs_client: tuple[AsyncClient, str], page: str
) -> None:
    client, root = docs_client
    response = await client.get(root + page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    found = references(response.text)
    assert f"{root}/openapi.json" in found
    assert [r for r in found if not same_origin(r)] == []
    # Nor in any form the parser does not read (a comment, an attribute it does not know).
    assert ABSOLUTE_URL.findall(response.text) == []


@pytest.mark.parametrize("page", PAGES)
async def test_every_asset_a_page_references_is_served_by_the_app(
    docs_client: tuple[AsyncClient, str], page: str
) -> None:
    client, root = docs_client
    page_url = root + page
    html = (await client.get(page_url)).text
    pending = [urljoin(page_url, r) for r in references(html)]
    scripts = [p for p in pending if p.endswith(".js")]
    assert scripts, "the page loads its viewer's script"
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url.startswith(f"{root}/"), url
        response = await client.get(url)
        assert response.status_code == 200, url
        content_type = response.headers["content-type"].split(";")[0].strip()
        assert content_type in expected_types(url), (url, content_type)
        if content_type == "text/css":
            # A stylesheet's own images and imports are either inline or the app's too.
            for reference in css_references(response.text):
                if reference.startswith("data:"):
                    continue
                assert same_origin(reference), (url, reference)
                pending.append(urljoin(url, reference))


async def test_swagger_authorize_returns_to_the_apps_own_redirect_page(
    docs_client: tuple[AsyncClient, str],
) -> None:
    client, root = docs_client
    html = (await client.get(f"{root}/docs")).text
    assert f"oauth2RedirectUrl: window.location.origin + '{root}{OAUTH2_REDIRECT}'" in html
    redirect = await client.get(root + OAUTH2_REDIRECT)
    assert redirect.status_code == 200
    assert redirect.headers["content-type"].startswith("text/html")
    assert "oauth2" in redirect.text
    assert ABSOLUTE_URL.findall(redirect.text) == []


async def test_authorize_as_swagger_does_gets_a_token_the_api_accepts(
    client: AsyncClient, owner: Actor
) -> None:
    """Swagger UI posts the password form to the document's tokenUrl (relative to its
    server) and sends the token it gets back as a bearer token."""
    document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    token_url = urljoin(document["servers"][0]["url"], scheme["flows"]["password"]["tokenUrl"])
    form = {"grant_type": "password", "username": owner.email, "password": PASSWORD, "scope": ""}
    issued = await client.post(token_url, data=form)
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert token["token_type"].lower() == "bearer"
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["user"]["email"] == owner.email


async def test_unknown_asset_is_a_404(docs_app: FastAPI) -> None:
    transport = ASGITransport(app=docs_app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/docs/assets/missing.js")
    assert response.status_code == 404


# ----- the document the pages show ---------------------------------------------------------


@pytest.fixture(scope="module")
def document(docs_app: FastAPI) -> dict[str, Any]:
    return docs_app.openapi()


def operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                yield operation


def test_documentation_routes_and_metrics_are_not_in_the_document(
    docs_app: FastAPI, document: dict[str, Any]
) -> None:
    paths = set(document["paths"])
    assert not {p for p in paths if p.startswith(("/docs", "/redoc", "/openapi"))}
    assert "/metrics" not in paths
    assert {"/healthz", "/readyz"} <= paths
    ids = {operation["operationId"] for operation in operations(document)}
    assert "getMetrics" not in ids
    # Still served: hidden from the clients, not removed.
    served = {route.path for route in docs_app.routes if isinstance(route, Route)}
    assert {"/metrics", "/docs", "/redoc", OAUTH2_REDIRECT} <= served


def test_the_server_is_the_documents_own_host_and_paths_carry_the_prefix(
    docs_app: FastAPI, document: dict[str, Any]
) -> None:
    """A generated client joins the server's URL and a path as written: with "/" (the
    default OpenAPI gives a document without servers, and Swift's runtime's) it asks the
    host it was configured with for /api/v1/…, nothing added."""
    assert [server["url"] for server in document["servers"]] == ["/"]
    assert all(server.get("description") for server in document["servers"])
    api = [path for path in document["paths"] if path not in ("/healthz", "/readyz")]
    assert api
    assert [path for path in api if not path.startswith("/api/v1/")] == []
    # Authorize posts the form to this URL, relative to the same server.
    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    token_url = scheme["flows"]["password"]["tokenUrl"]
    assert token_url == "/api/v1/auth/token"
    assert any(
        isinstance(route, Route) and route.path == token_url and "POST" in (route.methods or ())
        for route in docs_app.routes
    )


def test_tags_are_described_in_order_and_cover_every_operation(
    document: dict[str, Any],
) -> None:
    names = [tag["name"] for tag in document["tags"]]
    assert names == [
        "auth",
        "dashboard",
        "guests",
        "tables",
        "reservations",
        "batch",
        "users",
        "restaurant",
        "health",
    ]
    assert all(tag["description"].strip() for tag in document["tags"])
    used = {tag for operation in operations(document) for tag in operation["tags"]}
    assert used == set(names), "describe a new tag in app/core/docs.py TAGS, in its place"
