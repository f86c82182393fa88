"""The benchmark (python -m bench): its seed has the shape it claims in every restaurant, the
expired change log it adds keeps every restaurant's log whole, and a smoke run measures every
registered scenario end to end without a single error. No timing is asserted: the numbers
belong to the machine."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.purge import add_expired, loop_lag
from bench.scenarios import QTABLE_PG, SCENARIOS, SLOW_DISK
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


def test_expired_entries_come_before_each_restaurants_log(tmp_path: Path) -> None:
    path, _, _ = pristine_sqlite(tmp_path, "smoke", SMOKE)
    db = sqlite3.connect(path)
    before = dict(db.execute("SELECT restaurant_id, count(*) FROM change_log GROUP BY 1"))
    changes = dict(db.execute("SELECT restaurant_id || '/' || revision, changes FROM change_log"))
    db.close()

    expired = add_expired(path, 1000, retention=7)

    db = sqlite3.connect(path)
    assert expired.entries == 1000 and expired.kept == sum(before.values())
    (old,) = db.execute(
        "SELECT count(*) FROM change_log WHERE created_at < ?", (expired.cutoff,)
    ).fetchone()
    assert old == 1000
    added = {}
    for restaurant_id, revision in db.execute("SELECT id, revision FROM restaurants"):
        revisions = [
            r
            for (r,) in db.execute(
                "SELECT revision FROM change_log WHERE restaurant_id = ? ORDER BY revision",
                (restaurant_id,),
            )
        ]
        # One unbroken log from revision 1 to the restaurant's revision, oldest entries first.
        assert revisions == list(range(1, revision + 1))
        added[restaurant_id] = revision - before[restaurant_id]
        stamps = [
            c
            for (c,) in db.execute(
                "SELECT created_at FROM change_log WHERE restaurant_id = ? ORDER BY revision",
                (restaurant_id,),
            )
        ]
        assert stamps == sorted(stamps)
        # What the seed logged is still there, each entry moved up by as many revisions.
        for revision_before in range(1, before[restaurant_id] + 1):
            (moved,) = db.execute(
                "SELECT changes FROM change_log WHERE restaurant_id = ? AND revision = ?",
                (restaurant_id, revision_before + added[restaurant_id]),
            ).fetchone()
            assert moved == changes[f"{restaurant_id}/{revision_before}"]
    assert sum(added.values()) == 1000 and max(added.values()) - min(added.values()) <= 1


def test_the_loop_lag_histogram_is_read_from_the_metrics() -> None:
    metrics = "\n".join(
        [
            "# TYPE qtable_event_loop_lag_seconds histogram",
            *(
                f'qtable_event_loop_lag_seconds_bucket{{le="{le}"}} {count}'
                for le, count in [
                    ("0.001", 90.0),
                    ("0.0025", 95.0),
                    ("0.005", 97.0),
                    ("0.01", 97.0),
                    ("0.025", 98.0),
                    ("0.05", 98.0),
                    ("0.1", 100.0),
                    ("0.25", 100.0),
                    ("+Inf", 100.0),
                ]
            ),
            "qtable_event_loop_lag_seconds_count 100.0",
        ]
    )
    lag = loop_lag(metrics)
    assert (lag.observations, lag.over, lag.worst) == (100, 2, (0.05, 0.1))


# What a machine may lack, and the reason the scenario that needs it is then skipped with.
MAY_BE_MISSING = {
    "rush": "Redis does not answer",
    SLOW_DISK: "no C compiler",
    QTABLE_PG: "PostgreSQL does not answer",
}


@pytest.mark.slow
def test_a_smoke_run_measures_every_scenario_without_errors(tmp_path: Path) -> None:
    results_file = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(results_file)],
        cwd=ROOT,
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    results = {r["scenario"]: r for r in json.loads(results_file.read_text())["scenarios"]}
    assert list(results) == [s.name for s in SCENARIOS]
    for scenario in SCENARIOS:
        result = results[scenario.name]
        missing = MAY_BE_MISSING.get(scenario.sequence or scenario.server)
        if missing and result["skipped"]:
            # Without Redis, a C compiler or PostgreSQL (a laptop) it says so and is skipped.
            assert missing in result["skipped"], result["skipped"]
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
