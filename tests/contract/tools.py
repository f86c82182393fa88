"""The client generators the contract is checked with, and where they run: each is pinned
(tests/contract/ts/package.json, pyproject.toml's dev extra), and a missing one skips its test
with the reason, except in CI (CI=true), where it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "openapi.json"
TS = Path(__file__).resolve().parent / "ts"
BIN = Path(sys.executable).parent
HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def need(tool: str, found: str | None) -> str:
    """The path of ``tool``; skipped without it (failed in CI)."""
    if found is None:
        message = f"the contract tests need {tool}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def executable(name: str) -> str:
    """A command of this virtualenv's, or of the PATH."""
    local = BIN / name
    return str(local) if local.exists() else need(name, shutil.which(name))


def run(command: list[str], cwd: Path | None = None, timeout: float = 300) -> str:
    """Run a generator; its output (stdout and stderr), or the test fails with it."""
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command[:3])} failed ({done.returncode}):\n{output[-4000:]}")
    return output


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
