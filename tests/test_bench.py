"""The benchmark (python -m bench): its seed has the shape it claims in every restaurant, and a
smoke run measures every registered scenario end to end without a single error. No timing is
asserted: the numbers belong to the machine."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.scenarios import SCENARIOS
from bench.seed import SMOKE, pristine_sqlite

ROOT = Path(__file__).resolve().parents[1]


def test_every_restaurant_of_the_seed_has_the_measured_ones_shape(tmp_path: Path) -> None:
    path, manifest, _ = pristine_sqlite(tmp_path, "smoke", SMOKE)
    db = sqlite3.connect(path)

    def per_restaurant(sql: str) -> dict[int, Counter[tuple[object, ...]]]:
        shapes: dict[int, Counter[tuple[object, ...]]] = {}
        for restaurant_id, *rest in db.execute(sql):
            shapes.setdefault(restaurant_id, Counter())[tuple(rest)] += 1
        return shapes

    for sql in (
        "SELECT restaurant_id, status, version FROM guests",
        "SELECT restaurant_id, status, version, capacity FROM dining_tables",
        "SELECT restaurant_id, status, table_id IS NULL FROM reservations",
    ):
        shapes = per_restaurant(sql)
        assert len(shapes) == SMOKE.restaurants
        assert all(shape == shapes[manifest.restaurant_id] for shape in shapes.values()), sql

    guests = Counter(
        status
        for (status,) in db.execute(
            "SELECT status FROM guests WHERE restaurant_id = ?", (manifest.restaurant_id,)
        )
    )
    active = SMOKE.active_guests - SMOKE.seated - SMOKE.notified
    assert guests == {
        "completed": SMOKE.completed,
        "seated": SMOKE.seated,
        "notified": SMOKE.notified,
        "waiting": active,
    }
    # The guest and table invariant, both ways, in every restaurant.
    seated = set(db.execute("SELECT id, table_id, restaurant_id FROM guests WHERE table_id > 0"))
    occupied = set(
        db.execute(
            "SELECT current_guest_id, id, restaurant_id FROM dining_tables"
            " WHERE status = 'occupied'"
        )
    )
    assert seated == occupied
    assert len(seated) == SMOKE.seated * SMOKE.restaurants
    # Each mover sits at its own table and owns two free tables it fits.
    for guest, *free in manifest.movers:
        size, table = db.execute(
            "SELECT party_size, table_id FROM guests WHERE id = ?", (guest,)
        ).fetchone()
        assert table is not None
        for table_id in free:
            status, capacity = db.execute(
                "SELECT status, capacity FROM dining_tables WHERE id = ?", (table_id,)
            ).fetchone()
            assert status == "available" and capacity >= size
    assert len({t for _, *free in manifest.movers for t in free}) == 2 * len(manifest.movers)


@pytest.mark.slow
def test_a_smoke_run_measures_every_scenario_without_errors(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(results_file)],
        cwd=ROOT,
        capture_output=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    results = {r["scenario"]: r for r in json.loads(results_file.read_text())["scenarios"]}
    assert list(results) == [s.name for s in SCENARIOS]
    for scenario in SCENARIOS:
        result = results[scenario.name]
        if scenario.sequence == "rush" and result["skipped"]:
            # Its two processes share a Redis; without one (a laptop) it says so and is skipped.
            assert "Redis does not answer" in result["skipped"]
            continue
        assert result["skipped"] is None, scenario.name
        if scenario.sequence == "batch":
            assert set(result["groups"]) == {"batch", "singles"}
            assert result["ratio"] is not None, scenario.name
        elif scenario.sequence == "rush":
            assert set(result["groups"]) == {"dashboard", "patch", "batch"}, result
            assert result["requests"] > 0
        else:
            assert set(result["groups"]) == {g.name for g in scenario.groups}
        for name, group in result["groups"].items():
            assert group["requests"] > 0, (scenario.name, name)
        assert result["errors"] == 0, (scenario.name, result["error_samples"])
        assert result["warmup_errors"] == 0, (scenario.name, result["error_samples"])
        if scenario.reference is not None:
            assert result["ratio"] is not None, scenario.name
