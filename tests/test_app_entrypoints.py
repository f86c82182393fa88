"""The ways to serve QTable: ``uvicorn app.main:app``, ``fastapi run`` (bare, from pyproject's
[tool.fastapi], or given app/main.py) and the ``create_app`` factory; importing builds nothing."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import servers
from tests.fixtures.database import SQLiteTemplate
from tests.fixtures.processes import server_env

ROOT = Path(__file__).resolve().parents[1]
# The console scripts installed beside this interpreter (the project's virtualenv).
SCRIPTS = Path(sys.executable).parent


def settings_env(database_url: str) -> dict[str, str]:
    return server_env(database_url)


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter: this process imported app.main long ago."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_app_main_builds_no_app(tmp_path: Path) -> None:
    result = run_python(
        """
        import logging

        import app.main
        from app.core.config import get_settings

        assert "app" not in vars(app.main), "an app was built on import"
        assert get_settings.cache_info().currsize == 0, "settings were read on import"
        assert logging.getLogger().handlers == [], "logging was configured on import"
        assert callable(app.main.create_app)
        """,
        settings_env(f"sqlite+qtable:///{tmp_path / 'unused.db'}"),
    )
    assert result.returncode == 0, result.stderr


def test_app_main_app_is_one_app_built_on_first_use(tmp_path: Path) -> None:
    # Eight threads ask at once: uvicorn and fastapi run each look the app up, and nothing
    # may build a second one (a second realtime hub, a second set of metrics).
    result = run_python(
        """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from unittest import mock

        from fastapi import FastAPI

        import app.main as main

        assert "app" in dir(main), "fastapi run finds the app by its name"
        start = threading.Barrier(8)

        def look_up(_):
            start.wait()
            return main.app

        with mock.patch.object(main, "create_app", wraps=main.create_app) as build:
            with ThreadPoolExecutor(8) as pool:
                found = list(pool.map(look_up, range(8)))
            from app.main import app
        assert build.call_count == 1, build.call_count
        assert build.call_args == mock.call(), "built from get_settings()"
        assert isinstance(app, FastAPI)
        assert all(each is app for each in found)
        assert vars(main)["app"] is app, "later lookups are a plain global"
        assert app.state.settings.database_url.endswith("unused.db")
        try:
            main.missing
        except AttributeError:
            pass
        else:
            raise AssertionError("an unknown name must stay an AttributeError")
        """,
        settings_env(f"sqlite+qtable:///{tmp_path / 'unused.db'}"),
    )
    assert result.returncode == 0, result.stderr


def status(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(servers.HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("content-type") or ""
    finally:
        conn.close()


COMMANDS = {
    "uvicorn app.main:app": lambda port: [
        str(SCRIPTS / "uvicorn"), "app.main:app", "--host", servers.HOST, "--port", str(port),
    ],
    "uvicorn --factory": lambda port: [
        str(SCRIPTS / "uvicorn"), "app.main:create_app", "--factory",
        "--host", servers.HOST, "--port", str(port),
    ],
    "fastapi run": lambda port: [
        str(SCRIPTS / "fastapi"), "run", "--host", servers.HOST, "--port", str(port),
    ],
    "fastapi run app/main.py": lambda port: [
        str(SCRIPTS / "fastapi"), "run", "app/main.py",
        "--host", servers.HOST, "--port", str(port),
    ],
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_server_starts_and_answers(
    command: str, sqlite_template: SQLiteTemplate, tmp_path: Path
) -> None:
    port = servers.free_port()
    server = servers.start(
        command,
        COMMANDS[command](port),
        settings_env(sqlite_template.fresh(tmp_path)),
        tmp_path / "server.log",
        port,
    )
    try:
        servers.wait_ready(server)
        assert status(port, "/readyz")[0] == 200, server.tail()
        docs, docs_type = status(port, "/docs")
        assert (docs, docs_type.split(";")[0]) == (200, "text/html")
        assets, assets_type = status(port, "/docs/assets/swagger-ui-bundle.js")
        assert (assets, assets_type.split(";")[0]) == (200, "text/javascript")
    finally:
        servers.stop(server)
    log = server.log.read_text(errors="replace")
    if command == "fastapi run":
        # Read from pyproject.toml, not guessed among main.py, app.py, app/main.py, …
        assert "app.main:app" in log, log
        assert "auto-discovered" not in log, log
