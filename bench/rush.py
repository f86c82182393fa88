"""The rush hour: two QTable processes sharing Redis, HTTP devices and WebSocket listeners
across several restaurants at once, run from the bench process.

Each HTTP device belongs to one restaurant and loops: 80 % of its requests follow the
dashboard from its own cursor, as an iPad does (`GET /dashboard/data?minimal=true&since=`),
20 % write (a guest PATCH, or a batch of three), with a short pause between requests. Each
listener holds a socket to one of the two processes for one restaurant. At the end, every
listener must have received every change written to its restaurant exactly once, in an
unbroken cursor chain, and nothing of another restaurant. Delivery latency is measured from
the moment a write's request was sent to the moment the change arrived on a socket: an upper
bound of commit-to-delivery.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect

API = "/api/v1"


@dataclass
class Restaurant:
    index: int
    token: str
    guests: list[int]
    written: dict[tuple[int, int], float] = field(default_factory=dict)  # (id, version): sent


@dataclass
class Listener:
    restaurant: Restaurant
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    hello: str = ""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def _device(
    base: str,
    restaurant: Restaurant,
    until: float,
    latencies: dict[str, list[float]],
    errors: list[str],
    rng: random.Random,
    pause: float,
) -> None:
    headers = {"Authorization": f"Bearer {restaurant.token}"}
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        while time.monotonic() < until:
            kind = rng.random()
            started = time.monotonic()
            if kind < 0.8:
                params = {"minimal": "true", **({"since": cursor} if cursor else {})}
                response = await http.get(f"{API}/dashboard/data", params=params)
                name = "dashboard"
                if response.status_code == 200:
                    cursor = response.json()["cursor"]
            elif kind < 0.9:
                guest = rng.choice(restaurant.guests)
                sent = time.time()
                response = await http.patch(
                    f"{API}/guests/{guest}", json={"notes": f"rush {rng.random():.6f}"}
                )
                name = "patch"
                if response.status_code == 200:
                    row = response.json()
                    restaurant.written[(row["id"], row["version"])] = sent
            else:
                items = [
                    {"id": g, "notes": f"rush {rng.random():.6f}"}
                    for g in rng.sample(restaurant.guests, 3)
                ]
                sent = time.time()
                response = await http.post(f"{API}/batch/update", json={"guests": items})
                name = "batch"
                if response.status_code == 200:
                    for row in response.json()["guests"]:
                        restaurant.written[(row["id"], row["version"])] = sent
            latencies.setdefault(name, []).append((time.monotonic() - started) * 1000)
            if response.status_code != 200:
                errors.append(f"{name} {response.status_code}: {response.text[:200]}")
            await asyncio.sleep(pause)


async def _listen(url: str, listener: Listener, stop: asyncio.Event) -> None:
    async with connect(f"{url}?token={listener.restaurant.token}", open_timeout=10) as socket:
        hello = json.loads(await socket.recv())
        listener.hello = hello["cursor"]
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(socket.recv(), 0.5)
            except TimeoutError:
                continue
            listener.received.append((time.time(), json.loads(raw)))


def _check(listener: Listener, all_ids: dict[int, int]) -> tuple[list[str], list[float]]:
    """What is wrong with what a listener received, and its delivery latencies (ms)."""
    problems = []
    chain = listener.hello
    seen: dict[tuple[int, int], int] = {}
    latencies = []
    restaurant = listener.restaurant
    for at, message in listener.received:
        if message.get("type") != "changes":
            problems.append(f"a {message.get('type')} message")
            continue
        if message["previousCursor"] != chain:
            problems.append("a break in the cursor chain")
        chain = message["cursor"]
        for row in message["guests"]:
            key = (row["id"], row["version"])
            seen[key] = seen.get(key, 0) + 1
            if all_ids.get(row["id"]) != restaurant.index:
                problems.append(f"guest {row['id']} of another restaurant")
            sent = restaurant.written.get(key)
            if sent is not None:
                latencies.append((at - sent) * 1000)
    missing = [key for key in restaurant.written if key not in seen]
    twice = [key for key, n in seen.items() if n > 1]
    if missing:
        problems.append(f"{len(missing)} changes never arrived")
    if twice:
        problems.append(f"{len(twice)} changes arrived twice")
    return problems, latencies


async def run(
    ports: tuple[int, int],
    logins: list[tuple[str, str]],
    *,
    duration: float = 30.0,
    devices: int = 20,
    listeners: int = 50,
    pause: float = 0.05,
) -> dict[str, Any]:
    """``logins``: (email, password) of each restaurant's owner."""
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    restaurants: list[Restaurant] = []
    all_ids: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=bases[0], timeout=60) as http:
        for index, (email, password) in enumerate(logins):
            answer = await http.post(
                f"{API}/auth/login", json={"email": email, "password": password}
            )
            answer.raise_for_status()
            token = answer.json()["accessToken"]
            page = await http.get(
                f"{API}/guests",
                params={"status": "waiting", "limit": 200},
                headers={"Authorization": f"Bearer {token}"},
            )
            page.raise_for_status()
            guests = [g["id"] for g in page.json()["items"]][:60]
            restaurants.append(Restaurant(index, token, guests))
            all_ids.update(dict.fromkeys(guests, index))
    rng = random.Random(20261128)
    stop = asyncio.Event()
    socks = [Listener(restaurants[n % len(restaurants)]) for n in range(listeners)]
    listening = [
        asyncio.create_task(_listen(f"ws://127.0.0.1:{ports[n % 2]}{API}/ws", listener, stop))
        for n, listener in enumerate(socks)
    ]
    while any(not s.hello for s in socks):
        await asyncio.sleep(0.05)
        for task in listening:
            if task.done():
                task.result()
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    until = time.monotonic() + duration
    await asyncio.gather(
        *(
            _device(
                bases[n % 2],
                restaurants[n % len(restaurants)],
                until,
                latencies,
                errors,
                random.Random(rng.random()),
                pause,
            )
            for n in range(devices)
        )
    )
    await asyncio.sleep(2.0)  # the last changes on their way
    stop.set()
    await asyncio.gather(*listening)
    problems: list[str] = []
    delivery: list[float] = []
    for listener in socks:
        found, measured = _check(listener, all_ids)
        problems += found
        delivery += measured
    return {
        "endpoints": {
            name: {
                "requests": len(values),
                "p50_ms": _percentile(values, 0.5),
                "p99_ms": _percentile(values, 0.99),
            }
            for name, values in sorted(latencies.items())
        },
        "errors": errors,
        "problems": problems,
        "writes": sum(len(r.written) for r in restaurants),
        "deliveries": len(delivery),
        "delivery_p50_ms": _percentile(delivery, 0.5),
        "delivery_p99_ms": _percentile(delivery, 0.99),
    }
