"""Typed settings, read once from the environment (prefix ``QTABLE_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path("data")
DEV_SECRET_FILE = DATA_DIR / "jwt_secret"


def _dev_secret() -> str:
    """Generate a secret once and keep it, so dev tokens survive restarts."""
    try:
        return DEV_SECRET_FILE.read_text().strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        DEV_SECRET_FILE.write_text(secret)
        DEV_SECRET_FILE.chmod(0o600)
        return secret


SQLITE_SCHEME = "sqlite+qtable"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QTABLE_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # SQLite runs on QTable's own driver (app.db.sqlite), named in the URL: sqlite+qtable://.
    database_url: str = f"sqlite+qtable:///./{DATA_DIR}/qtable.db"
    # SQLite durability: NORMAL in WAL mode loses no committed transaction on a process crash;
    # FULL also survives power loss. See README.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    # PostgreSQL only: no statement runs, and no lock is waited for, longer than these; either
    # answers 503 `unavailable` with Retry-After. Connecting gives up after the last one.
    db_statement_timeout_ms: int = Field(default=10_000, ge=1)
    db_lock_timeout_ms: int = Field(default=3_000, ge=1)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    jwt_secret: str = ""
    jwt_algorithm: Literal["HS256"] = "HS256"
    access_token_minutes: int = Field(default=15, ge=1)
    refresh_token_days: int = Field(default=30, ge=1)

    # argon2 cost; unset keeps passlib's defaults (about 100 ms a hash). Tests lower it.
    argon2_time_cost: int | None = Field(default=None, ge=1)
    # passlib refuses less than 8 KiB per lane, and it hashes with 4 lanes.
    argon2_memory_kib: int | None = Field(default=None, ge=32)
    # How many passwords are hashed or checked at once (each takes ~100 MB); more wait.
    password_hash_threads: int = Field(default=2, ge=1)

    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    redis_url: str | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The change log (delta sync): entries older than this are purged, checked this often.
    change_log_retention_days: int = Field(default=7, ge=1)
    change_log_purge_minutes: int = Field(default=60, ge=1)
    # Real time (/api/v1/ws): how often each process looks for revisions it was not told of
    # (the safety net under Redis, and the only way between processes without it), how many
    # messages a socket may have waiting before it is sent `resync`, sockets per user, and
    # the largest message a client may send, and how many a second (twice that in a burst).
    realtime_poll_seconds: float = Field(default=1.0, gt=0)
    realtime_queue_size: int = Field(default=100, ge=1)
    realtime_max_sockets_per_user: int = Field(default=5, ge=1)
    realtime_max_message_bytes: int = Field(default=4096, ge=64)
    realtime_max_messages_per_second: float = Field(default=10.0, gt=0)

    # Auth rate limits: attempts per window, per email and per client address.
    auth_rate_window_seconds: int = Field(default=300, ge=1)
    auth_max_failures_per_email: int = Field(default=5, ge=1)
    auth_max_attempts_per_client: int = Field(default=30, ge=1)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _require_secret(self) -> Settings:
        if not self.jwt_secret:
            if self.env == "production":
                raise ValueError("QTABLE_JWT_SECRET must be set when QTABLE_ENV=production")
            self.jwt_secret = _dev_secret() if self.env == "development" else "test-" + "x" * 40
        elif self.env == "production" and len(self.jwt_secret) < 32:
            raise ValueError("QTABLE_JWT_SECRET must be at least 32 characters in production")
        return self

    @model_validator(mode="after")
    def _known_driver(self) -> Settings:
        # The URL says what runs: no other SQLite driver is served, nor silently swapped in.
        scheme = self.database_url.partition("://")[0]
        if scheme.startswith("sqlite") and scheme != SQLITE_SCHEME:
            raise ValueError(
                f"QTABLE_DATABASE_URL: SQLite is served by QTable's own driver only; "
                f"write {SQLITE_SCHEME}://, not {scheme}://"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
