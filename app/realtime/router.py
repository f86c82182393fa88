"""GET /api/v1/ws: the restaurant's committed changes, pushed (docs/contract.md, Real time).

One `changes` message per committed transaction, empty for one that changed no floor row (a
settings or staff change), each chained to the one before by `previousCursor`. When the
restaurant's day moves (its local midnight, or a time zone change that moves it), the socket is
sent `resync` and nothing more until `resume`: the app asks the dashboard, which answers a full
sync of the new day, and resumes from its cursor. A chain never crosses a day.

The access token comes in the ``token`` query parameter or the Authorization header. A bad or
missing one: the upgrade is accepted and the socket closed at once with 4401, before anything
is sent. So is a socket whose token expires, or whose user is deleted or changes role or
password (found at the restaurant's next revision, or its next poll). More sockets than
``realtime_max_sockets_per_user`` for one user: closed with 1008. A client message larger than
``realtime_max_message_bytes``: closed with 1009; more than ``realtime_max_messages_per_second``
(bursts of twice that): closed with 1008. Messages of a type other than `ping` and
`resume` are ignored (later versions of the app may send more).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.core.errors import Unauthorized
from app.core.openapi import API_PREFIX
from app.core.security import InvalidToken, decode_access_token
from app.db.session import UnitOfWork
from app.deps import TOKEN_USER, authenticate_reading, bearer_token
from app.realtime.hub import Hub, Socket

router = APIRouter(prefix=API_PREFIX)

UNAUTHORIZED = 4401


def _token(websocket: WebSocket) -> str | None:
    """The ``token`` query parameter, else the Authorization header's bearer token."""
    return websocket.query_params.get("token") or bearer_token(websocket)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.accept()
    await websocket.close(code, reason)


@router.websocket("/ws")
async def feed(websocket: WebSocket) -> None:
    app = websocket.app
    settings = app.state.settings
    hub: Hub = app.state.hub
    token = _token(websocket)
    uow = UnitOfWork(app.state.db, write=False)
    try:
        scope, user = await authenticate_reading(token, uow, settings, TOKEN_USER)
        expires_at = decode_access_token(token or "", secret=settings.jwt_secret).expires_at
    except (Unauthorized, InvalidToken):
        await _refuse(websocket, UNAUTHORIZED, "the access token is not valid")
        return
    finally:
        await uow.close()
    if hub.user_sockets(scope) >= hub.max_sockets_per_user:
        await _refuse(websocket, 1008, "too many sockets for this user")
        return

    await websocket.accept()
    closed = asyncio.Event()

    async def close(code: int, reason: str) -> None:
        if not closed.is_set():
            closed.set()
            if websocket.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close(code, reason)

    socket = Socket(scope, user[1], hub.queue_size, close)
    try:
        cursor = await hub.join(socket)
        socket.put(json.dumps({"type": "hello", "cursor": cursor}))
        tasks = [
            asyncio.create_task(_send(websocket, socket, closed)),
            asyncio.create_task(_receive(websocket, socket, hub, settings)),
            asyncio.create_task(_expire(socket, expires_at)),
            asyncio.create_task(closed.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    finally:
        hub.leave(socket)
        await close(1000, "")


async def _send(websocket: WebSocket, socket: Socket, closed: asyncio.Event) -> None:
    while not closed.is_set():
        message = await socket.queue.get()
        await websocket.send_text(message)


async def _receive(websocket: WebSocket, socket: Socket, hub: Hub, settings: Any) -> None:
    limit = settings.realtime_max_message_bytes
    rate = settings.realtime_max_messages_per_second
    allowance, last = 2 * rate, time.monotonic()  # a token bucket: bursts of twice the rate
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        data = message.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > limit:
            await socket.close(1009, f"messages are limited to {limit} bytes")
            return
        now = time.monotonic()
        allowance = min(2 * rate, allowance + (now - last) * rate) - 1
        last = now
        if allowance < 0:
            await socket.close(1008, f"at most {rate:g} messages a second")
            return
        if text is None:
            continue
        try:
            request = json.loads(text)
        except ValueError:
            continue
        if not isinstance(request, dict):
            continue
        if request.get("type") == "ping":
            socket.put('{"type":"pong"}')
        elif request.get("type") == "resume":
            await hub.resume(socket, request.get("cursor"))


async def _expire(socket: Socket, expires_at: int) -> None:
    # Valid through the second its exp names, as for HTTP requests.
    await asyncio.sleep(max(0.0, expires_at + 1 - time.time()))
    await socket.close(UNAUTHORIZED, "the access token has expired")
