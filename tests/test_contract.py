"""The committed contract is the one the app serves: a change to the API shows in the diff of
``openapi.json`` or ``asyncapi.json`` (``python -m app.contract`` writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from app import contract


async def test_the_committed_openapi_document_is_the_served_one() -> None:
    app = contract._app()
    committed = contract.OPENAPI.read_text(encoding="utf-8")
    assert contract.render(app.openapi()) == committed, "run python -m app.contract"
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(committed)


async def test_the_committed_asyncapi_document_is_the_served_one() -> None:
    app = contract._app()
    committed = contract.ASYNCAPI.read_text(encoding="utf-8")
    assert contract.documents(app)[contract.ASYNCAPI] == committed, "run python -m app.contract"
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        served = await client.get("/asyncapi.json")
        listed = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == json.loads(committed)
    assert "/asyncapi.json" not in listed.json()["paths"]


def test_check_fails_while_a_document_is_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = contract._app()
    monkeypatch.setattr(contract, "_app", lambda: app)
    paths = {"OPENAPI": tmp_path / "openapi.json", "ASYNCAPI": tmp_path / "asyncapi.json"}
    for name, path in paths.items():
        monkeypatch.setattr(contract, name, path)
    assert contract.main(["--check"]) == 1  # neither written yet
    assert contract.main([]) == 0
    assert contract.main(["--check"]) == 0
    for path in paths.values():
        path.write_text("{}\n", encoding="utf-8")
        assert contract.main(["--check"]) == 1
        path.unlink()
        assert contract.main(["--check"]) == 1
        assert contract.main([]) == 0
        assert contract.main(["--check"]) == 0


def test_the_repository_cites_its_own_contract() -> None:
    """Code, comments and docs refer to the repository's own documents (docs/contract.md,
    openapi.json, asyncapi.json, README), never to a file kept outside it."""
    outside = ("API" + ".md", "../" + "shared")
    places = [contract.ROOT / name for name in ("README.md", "SECURITY.md", "Dockerfile")]
    for folder in ("app", "tests", "bench", "docs", "alembic", ".ci"):
        places += [
            path
            for path in (contract.ROOT / folder).rglob("*")
            if path.is_file()
            and path.suffix in {".py", ".md", ".ts", ".json", ""}
            and "node_modules" not in path.parts
            and "generated" not in path.parts
        ]
    citing = [
        str(path.relative_to(contract.ROOT))
        for path in places
        if path.exists() and any(name in path.read_text(errors="replace") for name in outside)
    ]
    assert citing == []
