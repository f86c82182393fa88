"""A client that sends its body byte by byte holds neither the server nor a database lock:
the body is read before the unit of work touches the database, and reading it is a wait on
the event loop like any other."""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI
from httpx import AsyncClient

from tests.fixtures.auth import Actor
from tests.fixtures.floor import GUESTS, create_guest
from tests.fixtures.realtime import serve


async def test_a_body_sent_byte_by_byte_holds_no_lock(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    body = json.dumps({"name": "Slow", "partySize": 2}).encode()
    async with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST {GUESTS} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Authorization: {owner.headers['Authorization']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head)
        await writer.drain()
        sent = 0
        try:
            # Half the body, slowly; then other clients write, and are answered at once.
            for byte in body[: len(body) // 2]:
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.01)
            for n in range(3):
                response = await client.patch(
                    f"{GUESTS}/{guest['id']}", headers=owner.headers, json={"notes": f"n{n}"}
                )
                assert response.status_code == 200, response.text
            # The slow request itself is still waiting for its body: no answer yet.
            try:
                early = await asyncio.wait_for(reader.read(1), 0.05)
            except TimeoutError:
                early = None
            assert early is None, early
            writer.write(body[sent:])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            assert status_line.startswith(b"HTTP/1.1 201"), status_line
        finally:
            writer.close()
            await writer.wait_closed()
