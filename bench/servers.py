"""Server processes: started on free ports with their output in a log file, waited for until
they answer, and always stopped (terminate, then kill) however the run ends."""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


class ServerFailed(RuntimeError):
    """A server did not start, or stopped answering: the run cannot measure anything."""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; a race is possible but harmless here:
    the server would fail to bind and the run stops with its log)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the bench process dies, even by SIGKILL, so no server
    outlives a killed run."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


def uvicorn_command(app: str, port: int) -> list[str]:
    """How every server under test is started: uvicorn (uvloop and httptools when installed),
    one worker, an app factory, and uvicorn's own access log off, as QTable is deployed
    (it writes its own access line, with the request id)."""
    return [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--host", HOST, "--port", str(port), "--workers", "1", "--no-access-log",
    ]  # fmt: skip


def start(name: str, command: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
    return Server(name, port, process, log)


def get(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_ready(server: Server, path: str = "/healthz", timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(
                f"{server.name} exited with {server.process.returncode} before answering; "
                f"its log ({server.log}) ends with:\n{server.tail()}"
            )
        try:
            if get(server.port, path) == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise ServerFailed(
        f"{server.name} did not answer {path} within {timeout:.0f} s:\n{server.tail()}"
    )


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
