"""Does login time tell which emails have an account? ``python -m bench.login_timing``

In-process, on a fresh SQLite database, with argon2 at its production cost: logins with a wrong
password for an email that exists, and for emails that do not, interleaved, each one alone;
prints the median and the spread of each. An unknown email is verified against a dummy hash
of the same cost (app.core.security.verify_password), so the two should not differ by more
than the noise.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from httpx import ASGITransport, AsyncClient

ROUNDS = 30
ROOT = Path(__file__).resolve().parents[1]


async def measure(rounds: int = ROUNDS) -> dict[str, list[float]]:
    from alembic.config import Config

    from alembic import command
    from app.core.config import Settings
    from app.main import create_app

    root = ROOT
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+qtable:///{directory}/timing.db"
        config = Config(str(root / "alembic.ini"))
        config.set_main_option("script_location", str(root / "alembic"))
        config.attributes["database_url"] = url
        config.attributes["configure_logger"] = False
        await asyncio.to_thread(command.upgrade, config, "head")
        settings = Settings(
            env="test",
            database_url=url,
            jwt_secret="t" * 48,
            log_level="WARNING",
            auth_max_failures_per_email=1_000_000,
            auth_max_attempts_per_client=1_000_000,
        )
        app = create_app(settings)
        times: dict[str, list[float]] = {"known email": [], "unknown email": []}
        async with app.router.lifespan_context(app):
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://bench") as http:
                registered = await http.post(
                    "/api/v1/auth/register",
                    json={
                        "restaurantName": "Timing",
                        "email": "known@timing.example.com",
                        "password": "the-right-password-1",
                        "fullName": "Known",
                    },
                )
                registered.raise_for_status()
                for n in range(rounds):
                    for kind, email in (
                        ("known email", "known@timing.example.com"),
                        ("unknown email", f"nobody-{n}@timing.example.com"),
                    ):
                        started = time.perf_counter()
                        response = await http.post(
                            "/api/v1/auth/login",
                            json={"email": email, "password": "a-wrong-password-1"},
                        )
                        times[kind].append((time.perf_counter() - started) * 1000)
                        assert response.status_code == 401, response.text
        return times


def main() -> int:
    times = asyncio.run(measure())
    for kind, values in times.items():
        quartiles = statistics.quantiles(values, n=4)
        print(
            f"{kind}: median {statistics.median(values):.1f} ms, "
            f"quartiles {quartiles[0]:.1f} / {quartiles[2]:.1f} ms ({len(values)} logins)"
        )
    known, unknown = (statistics.median(v) for v in times.values())
    print(f"difference of the medians: {abs(known - unknown):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
