"""Password hashing (argon2, off the event loop) and access-token encoding. No database here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt
from passlib.context import CryptContext

_passwords = CryptContext(schemes=["argon2"], deprecated="auto")
# Verified when an email is unknown, so a login costs the same whether or not it exists.
_DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))


def configure_password_hashing(*, time_cost: int | None, memory_kib: int | None) -> None:
    """Override argon2 cost (tests use a cheap one; production keeps passlib's defaults)."""
    global _passwords, _DUMMY_HASH
    options = {}
    if time_cost is not None:
        options["argon2__time_cost"] = time_cost
    if memory_kib is not None:
        options["argon2__memory_cost"] = memory_kib
    _passwords = CryptContext(schemes=["argon2"], deprecated="auto", **options)
    _DUMMY_HASH = _passwords.hash(secrets.token_urlsafe(16))


ACCESS_TOKEN_TYPE = "access"


def _lower_priority() -> None:
    """Hashing threads run at a lower CPU priority than the event loop, so ten logins at
    once cannot starve the requests of the floor. On Linux niceness belongs to the thread
    (and to the threads argon2 starts from it); elsewhere it would be the whole process."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.nice(10)


def _hashing_pool(threads: int) -> ThreadPoolExecutor:
    """Password hashing and checks: a few threads, not asyncio's default pool, so that a
    burst of logins queues here (argon2 takes ~100 MB and ~100 ms of CPU each)."""
    return ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix="qtable-argon2", initializer=_lower_priority
    )


_hashing = _hashing_pool(2)


def configure_password_threads(threads: int) -> None:
    global _hashing
    _hashing.shutdown(wait=False)
    _hashing = _hashing_pool(threads)


async def _off_loop(call: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_hashing, call, *args)


_CHEAP = CryptContext(schemes=["argon2"], argon2__time_cost=1, argon2__memory_cost=64)


def hash_password_cheaply(password: str) -> str:
    """An argon2 hash at its lowest cost, at once: for the many rows a seed makes that never
    log in (the benchmark's other restaurants). Never for a real account."""
    hashed: str = _CHEAP.hash(password)
    return hashed


async def hash_password(password: str) -> str:
    hashed: str = await _off_loop(_passwords.hash, password)
    return hashed


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work for a missing user: verify against a dummy hash and answer False."""
    if password_hash is None:
        await _off_loop(_passwords.verify, password, _DUMMY_HASH)
        return False
    try:
        return bool(await _off_loop(_passwords.verify, password, password_hash))
    except ValueError:
        return False


class InvalidToken(Exception):
    """The token is malformed, expired, tampered with, or not an access token."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    restaurant_id: int
    role: str
    generation: int
    expires_at: int  # the ``exp`` claim: seconds since the epoch


def encode_access_token(
    *,
    user_id: int,
    restaurant_id: int,
    role: str,
    generation: int,
    secret: str,
    minutes: int,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "rid": restaurant_id,
        "role": role,
        "gen": generation,
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=minutes)).timestamp()),
        "jti": secrets.token_urlsafe(8),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


# Verified tokens, so that each is verified once, not on every request (python-jose takes
# ~100 us). A hit is still checked for expiry; the signature and claims cannot have changed.
_VERIFIED_LIMIT = 4096
_verified: dict[tuple[str, str], AccessClaims] = {}


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    """The claims of a valid access token, or InvalidToken. A token stays valid through the
    second its ``exp`` names (python-jose's rule)."""
    key = (secret, token)
    claims = _verified.get(key)
    if claims is None:
        claims = _decode_access_token(token, secret=secret)
        if len(_verified) >= _VERIFIED_LIMIT:
            _verified.clear()
        _verified[key] = claims
    elif int(time.time()) > claims.expires_at:
        del _verified[key]
        raise InvalidToken("Signature has expired.")
    return claims


def _decode_access_token(token: str, *, secret: str) -> AccessClaims:
    try:
        # The algorithm is pinned: alg=none and any other algorithm are refused.
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
        if jwt.get_unverified_header(token).get("alg") != "HS256":
            raise InvalidToken("unexpected algorithm")
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=int(claims["sub"]),
            restaurant_id=int(claims["rid"]),
            role=str(claims["role"]),
            generation=int(claims["gen"]),
            expires_at=int(claims["exp"]),
        )
    except (JWTError, KeyError, TypeError, ValueError) as exc:
        raise InvalidToken(str(exc)) from exc


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
