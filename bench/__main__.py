"""python -m bench: QTable's performance benchmark, run from the repository root.

Starts QTable (uvicorn, one worker) on a seeded database, the ceiling apps beside it, and
drives each scenario over loopback HTTP with a load generator in its own process. Prints the
run's parameters and a markdown table, writes JSON. Exits 0 even when targets are missed (it
is a measurement); 1 when the run itself broke.

    python -m bench                      # SQLite, 16 connections, 2 s warm-up + 10 s each
    python -m bench --db postgres        # on a PostgreSQL server (no write ceiling there)
    python -m bench --long               # and the scenarios that take minutes (the purge)
    python -m bench --only "slow disk: healthz,change log purge"   # these measurements alone
    python -m bench --smoke --json out.json   # a tiny run of every scenario, in a temp dir
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import seed, slow_disk
from bench.run import Config, run
from bench.servers import ROOT

DATA_DIR = ROOT / "bench" / ".data"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="a database on the server where qtable_bench and qtable_bench_solo are created",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="the Redis the rush hour's two QTable processes share (skipped when it is away)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (2)")
    parser.add_argument("--connections", type=int, help="connections per scenario (16)")
    parser.add_argument("--json", type=Path, help="results file (bench/.data/results-<db>.json)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny seed, short scenarios, 4 connections, cheap argon2, in a temporary directory",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names to run (default: all)"
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="also the long scenarios (the change log purge of 1,000,000 entries: minutes)",
    )
    parser.add_argument(
        "--fsync-delay-ms",
        type=float,
        default=slow_disk.DEFAULT_DELAY_MS,
        help="how much longer each fsync of the slow disk's server takes (20)",
    )
    parser.add_argument(
        "--purge-entries",
        type=int,
        help="expired change log entries the purge scenario starts with (1,000,000)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())

    def config(data_dir: Path) -> Config:
        return Config(
            db=args.db,
            postgres_url=args.postgres_url,
            shape=seed.SMOKE if args.smoke else seed.FULL,
            connections=args.connections or (4 if args.smoke else 16),
            warmup=args.warmup if args.warmup is not None else (0.5 if args.smoke else 2.0),
            duration=args.duration or (0.5 if args.smoke else 10.0),
            data_dir=data_dir,
            json_path=args.json or data_dir / f"results-{args.db}.json",
            smoke=args.smoke,
            only=only,
            redis_url=args.redis_url,
            fsync_delay_ms=args.fsync_delay_ms,
            long=args.long,
            purge_entries=args.purge_entries or (10_000 if args.smoke else 1_000_000),
        )

    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="qtable-bench-") as tmp:
            return run(config(Path(tmp)))
    return run(config(DATA_DIR))


if __name__ == "__main__":
    sys.exit(main())
