"""The few requests the bench itself sends (logging in, capturing an answer): blocking,
one at a time, outside every measurement."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.servers import HOST

API = "/api/v1"


class RequestFailed(RuntimeError):
    """A set-up request got an answer the bench cannot go on without."""


@dataclass
class Token:
    value: str
    expires: float  # time.monotonic() when the server stops accepting it

    def lasts(self, seconds: float) -> bool:
        return time.monotonic() + seconds < self.expires


def send(port: int, method: str, path: str, **options: Any) -> tuple[int, bytes]:
    """The status and body of one request (``exchange``'s options)."""
    status, answer, _ = exchange(port, method, path, **options)
    return status, answer


def exchange(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes, dict[str, str]]:
    """The status, body and headers (lower-case names) of one request."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        return response.status, answer, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def login(port: int, email: str, password: str) -> Token:
    started = time.monotonic()
    status, body = send(
        port, "POST", f"{API}/auth/login", body={"email": email, "password": password}
    )
    if status != 200:
        raise RequestFailed(f"login as {email} answered {status}: {body[:300]!r}")
    answer = json.loads(body)
    return Token(answer["accessToken"], started + float(answer["expiresIn"]))
