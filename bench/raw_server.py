"""A server that does nothing but answer: the load generator's own ceiling.

Every request (head only: it serves body-less GETs) gets the same prebuilt ``200 {}``, with
no HTTP parsing beyond finding where each request ends. Whatever rate the load generator
reaches against it is the most it can measure; the servers under test must stay well below.

``python -m bench.raw_server --port P``
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import cast

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
END = b"\r\n\r\n"


class Answer(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        data = self.pending + data if self.pending else data
        count = data.count(END)
        if count:
            self.transport.write(RESPONSE * count)  # type: ignore[union-attr]
            data = data[data.rfind(END) + 4 :]
        self.pending = data


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, host, port)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
