"""The WebSocket's AsyncAPI 3.0 document, built from the app's wire schemas: GET /asyncapi.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIWebSocketRoute
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from app.core.config import Settings
from app.core.schemas import OutputModel
from app.dashboard.schemas import DeletedIds
from app.guests.schemas import MinimalGuest
from app.realtime.hub import MAX_CATCH_UP
from app.realtime.router import UNAUTHORIZED, feed
from app.realtime.router import router as feed_router
from app.reservations.schemas import MinimalReservation
from app.tables.schemas import MinimalTable

# FastAPI's template: a schema the messages share with the HTTP API has the OpenAPI
# document's name, so that a client generator can map both onto one type.
REF_TEMPLATE = "#/components/schemas/{model}"
CHANNEL = "feed"
ADDRESS = next(
    route.path
    for route in feed_router.routes
    if isinstance(route, APIWebSocketRoute) and route.endpoint is feed
)

_CURSOR = (
    "Opaque, and only good with the restaurant and database that issued it: the same kind of "
    "cursor the dashboard answers (its `since`, and `resume`'s `cursor`)."
)


# ----- server to client ----------------------------------------------------------------------


class HelloMessage(OutputModel):
    """Sent once, first, as soon as the socket is accepted."""

    type: Literal["hello"]
    cursor: str = Field(
        description="The restaurant's position now: the `previousCursor` of the first `changes` "
        f"message. {_CURSOR}"
    )


class ChangesMessage(OutputModel):
    """One committed transaction of the socket's restaurant (a batch is one), in commit
    order; or, answering `resume`, everything since the cursor sent, merged. Each row as the
    transaction left it, in its minimal form, and in one place only. A transaction that
    changed no floor row (a settings or staff change) is a message with empty arrays."""

    type: Literal["changes"]
    cursor: str = Field(
        description=f"The position after this message: the next one's `previousCursor`. {_CURSOR}"
    )
    previous_cursor: str = Field(
        description="The `cursor` of the message before this one on the socket (`hello`'s for "
        "the first), or the cursor sent in `resume` for the answer to it. One that is not the "
        "cursor the app holds means the app missed something: it sends `resume` with its own."
    )
    guests: list[MinimalGuest] = Field(description="The guests created or changed.")
    tables: list[MinimalTable] = Field(description="The tables created or changed.")
    reservations: list[MinimalReservation] = Field(
        description="The reservations created or changed."
    )
    deleted: DeletedIds


class ResyncMessage(OutputModel):
    """The feed cannot go on from where the socket stands: the app asks the dashboard (a full
    sync when the restaurant's day moved) and sends `resume` with the dashboard's cursor. No
    `changes` message comes before that."""

    type: Literal["resync"]


class PongMessage(OutputModel):
    """The answer to `ping`."""

    type: Literal["pong"]


# ----- client to server ----------------------------------------------------------------------


class ResumeMessage(BaseModel):
    """Asks for everything since `cursor`: answered by one `changes` message whose
    `previousCursor` is that cursor, or by `resync` when it cannot be served (another
    restaurant's or database's, of a day that has passed, older than the change log keeps,
    too far behind, or no cursor at all). Later `changes` messages follow on from the answer."""

    type: Literal["resume"]
    cursor: str = Field(description="The cursor the app holds (from the dashboard or the feed).")


class PingMessage(BaseModel):
    """Answered by `pong`, whatever else the socket is doing."""

    type: Literal["ping"]


@dataclass(frozen=True)
class Message:
    """A message type as the document lists it."""

    model: type[BaseModel]
    summary: str
    example: dict[str, Any]
    example_name: str = "example"


SERVER_MESSAGES = {
    "hello": Message(
        HelloMessage,
        "The restaurant's cursor, first on every socket.",
        {"type": "hello", "cursor": "opaque-cursor-41"},
    ),
    "changes": Message(
        ChangesMessage,
        "The rows one committed transaction created, changed or deleted.",
        {
            "type": "changes",
            "cursor": "opaque-cursor-42",
            "previousCursor": "opaque-cursor-41",
            "guests": [],
            "tables": [],
            "reservations": [],
            "deleted": {"guests": [], "tables": [], "reservations": []},
        },
        "a transaction that changed no floor row",
    ),
    "resync": Message(ResyncMessage, "Ask the dashboard, then send resume.", {"type": "resync"}),
    "pong": Message(PongMessage, "The answer to ping.", {"type": "pong"}),
}
CLIENT_MESSAGES = {
    "resume": Message(
        ResumeMessage,
        "Everything since a cursor, as one changes message.",
        {"type": "resume", "cursor": "opaque-cursor-41"},
    ),
    "ping": Message(PingMessage, "Answered by pong.", {"type": "ping"}),
}


def _default(setting: str) -> Any:
    return Settings.model_fields[setting].default


_ROWS = ", ".join(
    f"`{model.__name__}`" for model in (MinimalGuest, MinimalTable, MinimalReservation, DeletedIds)
)

DESCRIPTION = f"""\
The restaurant's committed changes, pushed to the staff app over one WebSocket. Its rows are \
the dashboard's minimal rows: the schemas of the same names in the HTTP API's `/openapi.json` \
({_ROWS}). The operations are the server's: what it sends (`sendFeed`) is what the app \
receives, and what it receives (`receiveRequests`) is what the app sends.

- A socket is sent `hello` first, then one `changes` message for each transaction of its \
restaurant that committed, in commit order: never one that rolled back, never another \
restaurant's. A transaction that changed no floor row (the restaurant's settings, its staff) \
is still a `changes` message, with empty arrays, so that every cursor is in the chain.
- Each `changes` message carries `previousCursor`, the `cursor` of the message before it on \
the socket (`hello`'s for the first): the app sees a missed message at once, and sends \
`resume` with the cursor it holds. A batch's answer (`POST /api/v1/batch/update`) carries the \
`cursor` and `previousCursor` of its own `changes` message.
- `resync` comes instead of changes when the feed cannot go on from where the socket stands: \
its client fell behind (it did not read and its queue filled, or it is more than \
{MAX_CATCH_UP} revisions behind), a `resume` cursor cannot be served, or the restaurant's day \
moved (its local midnight, or a time zone change that moves the day), which changes what a \
full sync holds even when no row changed. After `resync` no `changes` message comes until the \
app, having asked the dashboard, sends `resume` with the dashboard's cursor; so every cursor \
of a chain is of one day.
- `ping` is answered by `pong` at any time. A message of another type, or one that is not a \
JSON object, is ignored.
"""

CHANNEL_DESCRIPTION = f"""\
`GET {ADDRESS}`, upgraded to a WebSocket; every message is a JSON text frame. The HTTP API's \
access token comes in the `token` query parameter or as `Authorization: Bearer <token>` (the \
query parameter is used when both are sent).

Close codes:

| code | when |
| --- | --- |
| {UNAUTHORIZED} | the token is missing, malformed, expired or revoked: the upgrade is \
accepted and the socket closed at once, before anything is sent. Later too, when the token \
expires, or when its user is deleted or changes role or password (noticed with the \
restaurant's next committed change, which such a change through the API is): the app refreshes \
its token, reconnects and sends `resume`. |
| 1008 | more sockets for one user than the deployment allows \
(`QTABLE_REALTIME_MAX_SOCKETS_PER_USER`, default {_default("realtime_max_sockets_per_user")}), \
or more client messages a second than it allows \
(`QTABLE_REALTIME_MAX_MESSAGES_PER_SECOND`, default \
{_default("realtime_max_messages_per_second"):g}, in bursts of up to twice that). |
| 1009 | a client message larger than the deployment allows \
(`QTABLE_REALTIME_MAX_MESSAGE_BYTES`, default {_default("realtime_max_message_bytes")} bytes). |
| 1001 | the server is going away (shutting down): reconnect and send `resume`. |
| other | the connection dropped, or the server process stopped without closing it first: \
reconnect and send `resume`. |
"""


def _message(message_id: str, message: Message) -> dict[str, Any]:
    return {
        "name": message_id,
        "title": message_id.capitalize(),
        "summary": message.summary,
        "contentType": "application/json",
        "payload": {"$ref": REF_TEMPLATE.format(model=message.model.__name__)},
        "examples": [{"name": message.example_name, "payload": message.example}],
    }


def _references(message_ids: dict[str, Message]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{CHANNEL}/messages/{message_id}"} for message_id in message_ids]


def document(version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the WebSocket: each message's payload a schema of its
    model, the rows among them the same schemas as in the OpenAPI document."""
    messages = SERVER_MESSAGES | CLIENT_MESSAGES
    _, definitions = models_json_schema(
        [(message.model, "serialization") for message in messages.values()],
        ref_template=REF_TEMPLATE,
    )
    security = [
        {"$ref": "#/components/securitySchemes/tokenQuery"},
        {"$ref": "#/components/securitySchemes/bearerHeader"},
    ]
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "QTable real time", "version": version, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "deployment": {
                "host": "{host}",
                "protocol": "wss",
                "title": "A deployment",
                "description": "The host that serves the HTTP API, behind TLS. The host is "
                "the deployment's own: replace the `host` variable.",
                "variables": {
                    "host": {
                        "description": "The deployment's host name, and its port when not 443.",
                        "default": "qtable.example.com",
                    }
                },
                "security": security,
            },
            "local": {
                "host": "127.0.0.1:8000",
                "protocol": "ws",
                "title": "A local server",
                "description": "`uvicorn app.main:create_app --factory`, without TLS.",
                "security": security,
            },
        },
        "channels": {
            CHANNEL: {
                "address": ADDRESS,
                "title": "The restaurant's feed",
                "description": CHANNEL_DESCRIPTION,
                "messages": {
                    message_id: {"$ref": f"#/components/messages/{message_id}"}
                    for message_id in messages
                },
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "The access token, unless it is in the "
                                    "Authorization header.",
                                }
                            },
                        },
                        "headers": {
                            "type": "object",
                            "properties": {
                                "Authorization": {
                                    "type": "string",
                                    "pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr] .+$",
                                    "description": "`Bearer <access token>`, unless the "
                                    "token is in the `token` query parameter.",
                                }
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "sendFeed": {
                "action": "send",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "title": "The feed",
                "summary": "The server sends hello, then changes or resync, and pong.",
                "messages": _references(SERVER_MESSAGES),
            },
            "receiveRequests": {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "title": "The app's requests",
                "summary": "The server answers resume and ping.",
                "messages": _references(CLIENT_MESSAGES),
            },
        },
        "components": {
            "schemas": definitions.get("$defs", {}),
            "messages": {
                message_id: _message(message_id, message)
                for message_id, message in messages.items()
            },
            "securitySchemes": {
                "tokenQuery": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The HTTP API's access token in the `token` query parameter.",
                },
                "bearerHeader": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The HTTP API's access token, as "
                    "`Authorization: Bearer <token>`.",
                },
            },
        },
    }


@lru_cache(maxsize=4)
def _served(version: str) -> bytes:
    return json.dumps(document(version), ensure_ascii=False).encode()


router = APIRouter()


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi_json(request: Request) -> Response:
    return Response(_served(request.app.version), media_type="application/json")
