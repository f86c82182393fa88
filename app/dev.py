"""Run the server for development: migrate the database, seed a demo restaurant, serve.

python -m app.dev [--host 127.0.0.1] [--port 8000] [--no-seed]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvicorn
from alembic.config import Config

from alembic import command
from app.core.config import get_settings
from app.db.engine import create_engine
from app.db.session import Database
from app.seed import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

ROOT = Path(__file__).resolve().parents[1]


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


async def _seed() -> bool:
    db = Database(create_engine(get_settings()))
    try:
        return await seed_demo(db)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args()
    settings = get_settings()
    migrate(settings.database_url)
    if not args.no_seed:
        created = asyncio.run(_seed())
        print("Demo restaurant", "created." if created else "already there.")
        print(f"  Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(f"  Swagger UI: http://{args.host}:{args.port}/docs", flush=True)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        proxy_headers=True,
        # QTable writes one access line per request itself, with its request id.
        access_log=False,
    )


if __name__ == "__main__":
    main()
