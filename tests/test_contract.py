"""The committed contract is the one the app serves: a change to the API shows in the diff of
``openapi.json`` (``python -m app.contract`` writes it)."""

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


def test_check_fails_while_a_document_is_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(contract, "OPENAPI", stale)
    assert contract.main(["--check"]) == 1
    assert contract.main([]) == 0
    assert contract.main(["--check"]) == 0
