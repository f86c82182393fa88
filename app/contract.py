"""The API's contract as committed files, written from the app: openapi.json and asyncapi.json.

``openapi.json`` describes the HTTP API; ``asyncapi.json`` (AsyncAPI 3.0) the WebSocket, its
rows the same schemas as the other's.

python -m app.contract           write the documents
python -m app.contract --check   exit 1 when a committed document differs from the app's

The committed documents are what client generators (the iOS app's Swift client above all) are
run over; a change to one is reviewed in its diff like code, and ``tests/test_contract.py``
fails while one differs from what the app serves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.realtime.asyncapi import document as asyncapi_document

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "openapi.json"
ASYNCAPI = ROOT / "asyncapi.json"


def render(document: dict[str, Any]) -> str:
    """A document as committed: indented, non-ASCII as it is, one newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents(app: FastAPI) -> dict[Path, str]:
    return {OPENAPI: render(app.openapi()), ASYNCAPI: render(asyncapi_document(app.version))}


def _app() -> FastAPI:
    from app.core.config import Settings
    from app.main import create_app

    # The document depends on no setting that differs between deployments; building it opens
    # no database.
    return create_app(Settings(env="test", jwt_secret="contract" * 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in documents(_app()).items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m app.contract", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
