"""A batch's 422 names its item (docs/contract.md, Batch), whichever rule refuses it: text, types,
limits, unknown or missing fields, `op`, an item that is not an object. Nothing is stored."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from app.batch.schemas import BatchRequest
from app.core.schemas import InputModel
from app.core.text import TEXT_ERROR_TYPE, holds_unclean_text
from app.models import DiningTable, Guest, Reservation
from tests.fixtures.auth import Actor
from tests.fixtures.floor import create_guest, create_table
from tests.reservations.factories import at, create_reservation, iso
from tests.sync.helpers import ENTITIES
from tests.sync.helpers import snapshot as dashboard_snapshot

BATCH = "/api/v1/batch/update"
TEXT_FIELD = {"tables": "tableNumber", "guests": "name", "reservations": "guestName"}
TEXT_MAX = {"tables": 20, "guests": 100, "reservations": 100}
# Each between 1 and 50.
INT_FIELD = {"tables": "capacity", "guests": "partySize", "reservations": "partySize"}
# Text the API refuses: U+0000, and surrogates that JSON escapes carry but UTF-8 cannot (high
# or low alone, or a pair out of order).
_BAD = st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00\ud800"])
_TEXT = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=12)


async def post_raw(client: AsyncClient, actor: Actor, body: Any) -> Any:
    """The body as JSON text with ASCII escapes: a lone surrogate travels as ``\\ud800``,
    which httpx's ``json=`` cannot encode."""
    return await client.post(
        BATCH,
        content=json.dumps(body).encode(),
        headers={**actor.headers, "Content-Type": "application/json"},
    )


async def stored(app: FastAPI, client: AsyncClient, actor: Actor) -> tuple[Any, ...]:
    """The restaurant's floor as the dashboard shows it, and its number of rows."""
    floor = await dashboard_snapshot(client, actor)
    del floor["serverTime"]
    counts = []
    async with app.state.db.engine.connect() as conn:
        for model in (DiningTable, Guest, Reservation):
            counts.append(
                await conn.scalar(
                    select(func.count())
                    .select_from(model)
                    .where(model.restaurant_id == actor.restaurant_id)
                )
            )
    return floor, tuple(counts)


def assert_names(response: Any, entity: str, index: int) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    # Messages never echo the bad text: the answer is UTF-8 and clean.
    answer = json.loads(response.content.decode("utf-8"))
    assert not holds_unclean_text(answer), answer
    error = answer["error"]
    assert error["code"] == "validation_error", error
    assert error["details"]["entity"] == entity, error
    assert error["details"]["index"] == index, error
    errors: list[dict[str, Any]] = error["details"]["errors"]
    assert errors and all(e["loc"][:3] == ["body", entity, index] for e in errors), errors
    return errors


async def test_u0000_in_a_guest_items_name_is_a_422_naming_the_item(
    app: FastAPI, client: AsyncClient, owner: Actor
) -> None:
    guest = await create_guest(client, owner)
    before = await stored(app, client, owner)
    response = await client.post(
        BATCH,
        json={
            "guests": [
                {"id": guest["id"], "status": "notified"},
                {"op": "create", "name": "A\x00na", "partySize": 2},
            ]
        },
        headers=owner.headers,
    )
    [error] = assert_names(response, "guests", 1)
    assert error["loc"] == ["body", "guests", 1, "name"]
    assert error["type"] == TEXT_ERROR_TYPE
    assert await stored(app, client, owner) == before


@pytest.mark.parametrize("op", ["delete\x00", "\ud800", "cre\udfffate"])
async def test_bad_text_in_op_is_refused_at_op(client: AsyncClient, owner: Actor, op: str) -> None:
    response = await post_raw(
        client,
        owner,
        {"tables": [{"op": "create", "tableNumber": "1", "capacity": 2}, {"op": op, "id": 1}]},
    )
    errors = assert_names(response, "tables", 1)
    assert {"loc": ["body", "tables", 1, "op"], "type": TEXT_ERROR_TYPE} in [
        {"loc": e["loc"], "type": e["type"]} for e in errors
    ]


OPS = ("create", "update", "delete")
# Each way to break an item, and the ops of the items it can break.
FAULTS = {
    "bad_text": OPS,
    "bad_key": OPS,
    "string_for_int": OPS,
    "bool_for_int": OPS,
    "float_for_int": OPS,
    "out_of_range": OPS,
    "too_long": ("create", "update"),
    "unknown_field": OPS,
    "null": OPS,
    "missing_id": ("update", "delete"),
    "unknown_op": OPS,
    "not_an_object": OPS,
}


def _items(entity: str, ids: list[int], ops: tuple[str, ...] = OPS) -> st.SearchStrategy[Any]:
    """Valid items for rows that exist."""
    text, number = TEXT_FIELD[entity], INT_FIELD[entity]
    created = st.fixed_dictionaries(
        {"op": st.just("create"), text: _TEXT, number: st.integers(1, 50)},
        optional={"clientId": _TEXT},
    )
    if entity == "reservations":
        created = created.map(lambda item: {**item, "startsAt": iso(at())})
    updated = st.fixed_dictionaries(
        {"id": st.sampled_from(ids)},
        optional={
            "op": st.just("update"),
            text: _TEXT,
            number: st.integers(1, 50),
            "version": st.just(1),
        },
    )
    deleted = st.fixed_dictionaries({"op": st.just("delete"), "id": st.sampled_from(ids)})
    by_op = {"create": created, "update": updated, "delete": deleted}
    return st.one_of([by_op[op] for op in ops])


@st.composite
def faulty_batches(draw: st.DrawFn, ids: dict[str, list[int]], kind: str) -> tuple[Any, ...]:
    """A valid batch with items in every list, and the same batch with one item broken."""
    valid = {e: draw(st.lists(_items(e, ids[e]), min_size=1, max_size=3)) for e in ENTITIES}
    entity = draw(st.sampled_from(ENTITIES))
    index = draw(st.integers(0, len(valid[entity]) - 1))
    valid[entity][index] = draw(_items(entity, ids[entity], FAULTS[kind]))
    item = copy.deepcopy(valid[entity][index])
    op = item.get("op", "update")
    event(f"{entity} {op}")
    text, number = TEXT_FIELD[entity], INT_FIELD[entity]
    # A delete has no text or number fields of its own: its `op`, `id` and `version` take it.
    text_field = "op" if op == "delete" else text
    int_field = "id" if op == "delete" else number
    bad = draw(_BAD)
    broken: Any = item
    if kind == "bad_text":
        item[text_field] = draw(st.sampled_from([bad, f"{item.get(text_field, 'x')}{bad}"]))
    elif kind == "bad_key":
        item[draw(st.sampled_from([bad, f"{text}{bad}", f"{bad}op"]))] = "x"
    elif kind == "string_for_int":
        item[int_field] = str(item.get(int_field, 4))
    elif kind == "bool_for_int":
        item[int_field] = draw(st.booleans())
    elif kind == "float_for_int":
        item[int_field] = float(item.get(int_field, 4))
    elif kind == "out_of_range" and op == "delete":
        item["version"] = draw(st.sampled_from([0, -1, 2**63]))
    elif kind == "out_of_range":
        item[number] = draw(st.sampled_from([0, -1, 51, 2**63]))
    elif kind == "too_long":
        item[text] = "x" * (TEXT_MAX[entity] + 1)
    elif kind == "unknown_field":
        item[draw(st.sampled_from(["bogus", "restaurantId", "createdAt"]))] = 1
    elif kind == "null":
        item[draw(st.sampled_from(["op", int_field, text_field]))] = None
    elif kind == "missing_id":
        del item["id"]
    elif kind == "unknown_op":
        item["op"] = draw(st.sampled_from(["upsert", "", "CREATE", "delete "]))
    elif kind == "not_an_object":
        broken = draw(st.sampled_from(["item", bad, 5, True, None, [], [item]]))
    faulty = copy.deepcopy(valid)
    faulty[entity][index] = broken
    return valid, faulty, entity, index


@dataclass
class Floor:
    ids: dict[str, list[int]]
    before: tuple[Any, ...]


@pytest.fixture
async def floor(app: FastAPI, client: AsyncClient, owner: Actor) -> Floor:
    """Two rows of each kind for items to update and delete, and what is stored."""
    ids = {
        "tables": [(await create_table(client, owner, str(n)))["id"] for n in (1, 2)],
        "guests": [(await create_guest(client, owner, f"G{n}"))["id"] for n in (1, 2)],
        "reservations": [
            (await create_reservation(client, owner, startsAt=iso(at(hour=h))))["id"]
            for h in (12, 20)
        ],
    }
    return Floor(ids, await stored(app, client, owner))


# The fixtures are made once for all examples of a kind: no example may store anything anyway.
@pytest.mark.parametrize("kind", list(FAULTS))
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_invalid_item_is_a_422_naming_it_and_nothing_is_stored(
    app: FastAPI, client: AsyncClient, owner: Actor, floor: Floor, kind: str, data: st.DataObject
) -> None:
    valid, faulty, entity, index = data.draw(faulty_batches(floor.ids, kind))
    BatchRequest.model_validate(valid)
    assert_names(await post_raw(client, owner, faulty), entity, index)
    assert await stored(app, client, owner) == floor.before


class _Part(InputModel):
    name: str


class _Nesting(InputModel):
    """Every way a field can hold input models, beside fields that hold none."""

    count: int = 0
    words: list[str] = []
    parts: Annotated[list[_Part], "a wrapper"] = []
    by_name: dict[str, _Part] = {}
    maybe: _Part | None = None
    either: str | _Part = ""


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        # A nested model finds its own bad text, where it is.
        ({"parts": [{"name": "a"}, {"name": "b\x00"}]}, ("parts", 1, "name")),
        ({"parts": [{"name": "a"}, {"n\ud800": "b"}]}, ("parts", 1)),
        ({"byName": {"k": {"name": "\udfff"}}}, ("byName", "k", "name")),
        ({"maybe": {"name": "\x00"}}, ("maybe", "name")),
        # Bad text outside the nested models, where a member that is not a model might take
        # it, and in fields that nest none, is refused before anything else, at the field.
        ({"either": {"name": "\x00"}}, ("either",)),
        ({"byName": {"k\x00": {"name": "a"}}}, ("byName",)),
        ({"either": "\x00"}, ("either",)),
        ({"parts": "\x00"}, ("parts",)),
        ({"count": "\x00"}, ("count",)),
        ({"words": ["a", 1, "\x00"]}, ("words",)),
    ],
)
def test_bad_text_is_refused_by_the_model_it_is_in(body: dict[str, Any], loc: tuple[Any]) -> None:
    with pytest.raises(ValidationError) as raised:
        _Nesting.model_validate(body)
    [error] = raised.value.errors()
    assert (error["loc"], error["type"]) == (loc, TEXT_ERROR_TYPE)
