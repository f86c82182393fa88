"""GET /api/v1/ws (docs/contract.md, Real time): hello, one `changes` message per committed
transaction
of the socket's restaurant and none of another's, in commit order with a gap-free cursor
chain, nothing for a rollback, resume, resync, ping, and the token's life."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from app.core.security import encode_access_token
from app.db.tenancy import _make_scope
from app.models import User
from app.realtime.hub import Socket
from app.sync.cursor import Cursors
from tests.fixtures.auth import Actor, add_staff
from tests.fixtures.floor import create_guest, create_table, guest_url, seat
from tests.fixtures.realtime import feed, serve
from tests.sync.helpers import snapshot

BATCH = "/api/v1/batch/update"


def token_of(actor: Actor) -> str:
    return actor.headers["Authorization"].split(" ", 1)[1]


async def test_hello_then_each_committed_change_of_the_restaurant_only(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    async with (
        serve(app) as base,
        feed(base, token_of(owner)) as mine,
        feed(base, token_of(rival)) as theirs,
    ):
        assert mine.hello["cursor"] == (await snapshot(client, owner))["cursor"]  # type: ignore[attr-defined]
        table = await create_table(client, owner, "1")
        message = await mine.next()
        assert message["type"] == "changes"
        assert message["previousCursor"] == mine.hello["cursor"]  # type: ignore[attr-defined]
        assert message["tables"] == [
            {
                "id": table["id"],
                "tableNumber": "1",
                "status": "available",
                "currentGuestId": None,
                "version": 1,
            }
        ]
        assert message["guests"] == [] and message["reservations"] == []
        assert message["deleted"] == {"guests": [], "tables": [], "reservations": []}
        # The cursor is the dashboard's: a delta from it holds nothing new.
        assert message["cursor"] == (await snapshot(client, owner))["cursor"]

        guest = await create_guest(client, owner)
        await seat(client, owner, guest["id"], table["id"])
        created, seated = await mine.next(), await mine.next()
        assert created["previousCursor"] == message["cursor"]
        assert seated["previousCursor"] == created["cursor"]
        assert {g["status"] for g in seated["guests"]} == {"seated"}
        assert seated["tables"][0]["status"] == "occupied"
        await client.delete(guest_url(guest["id"]), headers=owner.headers)
        gone = await mine.next()
        assert gone["deleted"]["guests"] == [guest["id"]]
        await theirs.nothing()


async def test_a_batch_is_one_message_and_a_failed_one_sends_nothing(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1")
    guests = [await create_guest(client, owner, f"G{n}") for n in range(3)]
    async with serve(app) as base, feed(base, token_of(owner)) as mine:
        failed = await client.post(
            BATCH,
            headers=owner.headers,
            json={
                "guests": [
                    {"id": guests[0]["id"], "tableId": table["id"]},
                    {"id": guests[1]["id"], "tableId": table["id"]},
                ]
            },
        )
        assert failed.status_code == 409
        refused = await client.post(f"{guest_url(guests[0]['id'])}/complete", headers=owner.headers)
        assert refused.status_code == 409
        # A PATCH that changes nothing changes no version and sends no event (docs/contract.md).
        same = await client.patch(
            guest_url(guests[0]["id"]), headers=owner.headers, json={"name": guests[0]["name"]}
        )
        assert same.status_code == 200 and same.json()["version"] == guests[0]["version"]
        await mine.nothing()
        done = await client.post(
            BATCH,
            headers=owner.headers,
            json={
                "guests": [
                    {"id": guests[0]["id"], "tableId": table["id"]},
                    {"id": guests[1]["id"], "status": "notified"},
                    {"op": "delete", "id": guests[2]["id"]},
                ]
            },
        )
        assert done.status_code == 200, done.text
        message = await mine.next()
        assert message["cursor"] == done.json()["cursor"]
        assert message["previousCursor"] == done.json()["previousCursor"]
        assert sorted(g["id"] for g in message["guests"]) == sorted(
            g["id"] for g in done.json()["guests"]
        )
        assert message["deleted"]["guests"] == [guests[2]["id"]]
        await mine.nothing()


async def test_messages_follow_commit_order_under_concurrent_writes(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guests = [await create_guest(client, owner, f"G{n}") for n in range(12)]
    async with (
        serve(app) as base,
        feed(base, token_of(owner)) as first,
        feed(base, token_of(owner)) as second,
    ):
        await asyncio.gather(
            *(
                client.patch(guest_url(g["id"]), headers=owner.headers, json={"notes": "x"})
                for g in guests
            )
        )
        for socket in (first, second):
            chain = socket.hello["cursor"]  # type: ignore[attr-defined]
            seen = []
            for _ in range(12):
                message = await socket.next()
                assert message["previousCursor"] == chain
                chain = message["cursor"]
                seen += [g["id"] for g in message["guests"]]
            assert sorted(seen) == sorted(g["id"] for g in guests)
            await socket.nothing(0.2)
        assert chain == (await snapshot(client, owner))["cursor"]


async def test_resume_after_a_disconnect_delivers_exactly_the_missed_changes(
    app: FastAPI, client: AsyncClient, owner: Actor, rival: Actor
) -> None:
    async with serve(app) as base:
        async with feed(base, token_of(owner)) as before:
            kept = before.hello["cursor"]  # type: ignore[attr-defined]
        guest = await create_guest(client, owner, "Missed")
        table = await create_table(client, owner, "7")
        await seat(client, owner, guest["id"], table["id"])
        doomed = await create_guest(client, owner, "Gone")
        await client.delete(guest_url(doomed["id"]), headers=owner.headers)
        async with feed(base, token_of(owner)) as after:
            await after.send({"type": "resume", "cursor": kept})
            caught_up = await after.next()
            assert caught_up["type"] == "changes"
            assert caught_up["previousCursor"] == kept
            assert caught_up["cursor"] == (await snapshot(client, owner))["cursor"]
            assert [(g["id"], g["status"]) for g in caught_up["guests"]] == [
                (guest["id"], "seated")
            ]
            assert [t["id"] for t in caught_up["tables"]] == [table["id"]]
            assert caught_up["deleted"]["guests"] == [doomed["id"]]
            await create_guest(client, owner, "Later")
            later = await after.next()
            assert later["previousCursor"] == caught_up["cursor"]
        # Another restaurant's cursor, another database's, or none that decodes: resync.
        theirs = (await snapshot(client, rival))["cursor"]
        position = (await app.state.cursors.get()).read(owner.restaurant_id, kept)
        replaced = Cursors(app.state.settings.jwt_secret, "another-epoch").issue(
            owner.restaurant_id, position
        )
        async with feed(base, token_of(owner)) as other:
            for cursor in (theirs, replaced, "junk", 7, None):
                await other.send({"type": "resume", "cursor": cursor})
                assert await other.next() == {"type": "resync"}


async def test_ping_answers_pong_and_other_messages_are_ignored(app: FastAPI, owner: Actor) -> None:
    async with serve(app) as base, feed(base, token_of(owner)) as mine:
        await mine.send({"type": "subscribe-to-everything"})
        await mine.connection.send("not json")
        await mine.send({"type": "ping"})
        assert await mine.next() == {"type": "pong"}


@pytest.mark.parametrize("token", [None, "", "not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."])
async def test_a_bad_or_missing_token_is_closed_4401_before_anything(
    app: FastAPI, token: str | None
) -> None:
    async with serve(app) as base, feed(base, token, hello=False) as refused:
        assert await refused.closed_with() == 4401


async def test_the_token_may_come_in_the_authorization_header(app: FastAPI, owner: Actor) -> None:
    async with serve(app) as base, feed(base, token_of(owner), header=True) as mine:
        await mine.send({"type": "ping"})
        assert await mine.next() == {"type": "pong"}


async def test_a_socket_whose_user_is_deleted_demoted_repassworded_or_expired_closes_4401(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    host = await add_staff(client, owner, "host")
    manager = await add_staff(client, owner, "manager")
    server = await add_staff(client, owner, "server")
    settings = app.state.settings
    soon = encode_access_token(
        user_id=owner.user_id,
        restaurant_id=owner.restaurant_id,
        role=owner.role,
        generation=1,
        secret=settings.jwt_secret,
        minutes=1,
        now=datetime.now(UTC) - timedelta(seconds=58),
    )
    async with (
        serve(app) as base,
        feed(base, token_of(host)) as hosts,
        feed(base, token_of(manager)) as managers,
        feed(base, token_of(server)) as servers_,
        feed(base, soon) as expiring,
    ):
        response = await client.delete(f"/api/v1/users/{host.user_id}", headers=owner.headers)
        assert response.status_code == 204
        response = await client.patch(
            f"/api/v1/users/{manager.user_id}", headers=owner.headers, json={"role": "server"}
        )
        assert response.status_code == 200, response.text
        response = await client.patch(
            f"/api/v1/users/{server.user_id}",
            headers=owner.headers,
            json={"password": "another-long-password-1"},
        )
        assert response.status_code == 200, response.text
        for socket in (hosts, managers, servers_):
            assert await socket.close_code() == 4401
        assert await expiring.close_code() == 4401


async def test_too_many_sockets_and_too_large_messages(app: FastAPI, owner: Actor) -> None:
    limit = app.state.hub.max_sockets_per_user
    async with serve(app) as base:
        opened = [feed(base, token_of(owner)) for _ in range(limit)]
        sockets = [await f.__aenter__() for f in opened]
        try:
            async with feed(base, token_of(owner), hello=False) as extra:
                assert await extra.closed_with() == 1008
        finally:
            for f in reversed(opened):
                await f.__aexit__(None, None, None)
        assert len(sockets) == limit
        async with feed(base, token_of(owner)) as mine:
            await mine.connection.send("x" * (app.state.settings.realtime_max_message_bytes + 1))
            assert await mine.closed_with() == 1009


async def test_shutdown_closes_sockets_with_1001(app: FastAPI, owner: Actor) -> None:
    async with serve(app) as base, feed(base, token_of(owner)) as mine:
        await app.state.hub.close()
        assert await mine.closed_with() == 1001


async def test_a_socket_that_does_not_read_gets_resync_and_the_others_go_on(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """A socket's queue is bounded: when it is full the queue is dropped, `resync` queued,
    and nothing more until the client resumes; another socket of the restaurant is served."""
    hub = app.state.hub
    scope = _make_scope(owner.restaurant_id, owner.user_id, owner.role)
    closed: list[Any] = []

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    stuck = Socket(scope, 1, 3, close)  # nobody reads its queue
    await hub.join(stuck)
    async with serve(app) as base, feed(base, token_of(owner)) as reader:
        guests = [await create_guest(client, owner, f"G{n}") for n in range(6)]
        for _ in guests:
            assert (await reader.next())["type"] == "changes"
    messages = []
    while not stuck.queue.empty():
        messages.append(stuck.queue.get_nowait())
    assert messages == ['{"type":"resync"}']
    assert stuck.revision is None and closed == []
    hub.leave(stuck)


async def test_a_write_commits_even_when_publishing_fails(
    app: FastAPI, client: AsyncClient, owner: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing never fails the request that committed; the change is in the change log,
    and a socket that resumes from before it gets it."""
    hub = app.state.hub

    def broken(*_args: Any) -> None:
        raise RuntimeError("redis is down")

    monkeypatch.setattr(hub, "wake", broken)
    before = (await snapshot(client, owner))["cursor"]
    guest = await create_guest(client, owner)
    monkeypatch.undo()
    async with serve(app) as base, feed(base, token_of(owner)) as mine:
        await mine.send({"type": "resume", "cursor": before})
        assert [g["id"] for g in (await mine.next())["guests"]] == [guest["id"]]


async def test_demoted_user_row_is_checked_at_the_next_revision(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    """A change of role made outside the API (no notice at all) is found by the poll."""
    host = await add_staff(client, owner, "host")
    async with serve(app) as base, feed(base, token_of(host)) as hosts:
        async with app.state.db.engine.begin() as conn:
            await conn.execute(update(User).where(User.id == host.user_id).values(role="server"))
        await create_guest(client, owner)  # the restaurant's next revision
        assert await hosts.close_code() == 4401


async def test_an_unreachable_redis_fails_no_write(database_url: str) -> None:
    """With QTABLE_REDIS_URL pointing at nothing, writes answer as before (the notice is
    queued for a publisher task, never awaited by the request) and the sockets of this process
    still get every change."""
    from httpx import ASGITransport

    from app.main import create_app
    from tests.conftest import make_settings
    from tests.fixtures.auth import register

    app = create_app(make_settings(database_url, redis_url="redis://127.0.0.1:1/0"))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            owner = await register(http)
            async with serve(app) as base, feed(base, token_of(owner)) as mine:
                for n in range(3):
                    guest = await create_guest(http, owner, f"G{n}")
                    assert (await mine.next())["guests"][0]["id"] == guest["id"]


async def test_a_client_sending_too_fast_is_closed_1008(app: FastAPI, owner: Actor) -> None:
    rate = app.state.settings.realtime_max_messages_per_second
    async with serve(app) as base, feed(base, token_of(owner)) as mine:
        for _ in range(int(4 * rate)):
            await mine.send({"type": "ping"})
        assert await mine.close_code() == 1008
