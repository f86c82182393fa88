"""pyproject.toml allows only dependency versions that have every feature the code uses."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Feature the code relies on -> (distribution, first version that has it).
FEATURES = {
    # app/db/sqlite.py: sqlalchemy.util.concurrency.await_ (await_only before 2.1).
    "sqlalchemy.util.concurrency.await_": ("sqlalchemy", (2, 1)),
}


def _lower_bound(distribution: str) -> tuple[int, ...]:
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in requirements:
        match = re.match(rf"^{distribution}(\[[^\]]*\])?>=([0-9.]+)", requirement)
        if match:
            return tuple(int(part) for part in match.group(2).split("."))
    raise AssertionError(f"{distribution} has no lower bound in pyproject.toml")


def test_lower_bounds_have_every_feature_used() -> None:
    for feature, (distribution, first) in FEATURES.items():
        assert _lower_bound(distribution) >= first, f"{feature} needs {distribution} {first}"


def test_the_features_are_still_used() -> None:
    # If the code stops using a feature, its entry (and maybe the bound) can go.
    assert (
        "from sqlalchemy.util.concurrency import await_" in (ROOT / "app/db/sqlite.py").read_text()
    )
