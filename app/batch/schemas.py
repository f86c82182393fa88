"""A batch on the wire: per entity, items that create, update or delete, as the single
endpoints' bodies plus ``op``, ``id``, ``version`` and ``clientId``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    Tag,
    create_model,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from app.core.schemas import InputModel, Named, OutputModel, PatchModel
from app.core.text import is_clean
from app.core.vocabulary import BatchOp
from app.dashboard.schemas import DeletedIds
from app.guests.schemas import GuestCreate, GuestUpdate, MinimalGuest
from app.reservations.schemas import MinimalReservation, ReservationCreate, ReservationUpdate
from app.tables.schemas import MinimalTable, TableCreate, TableUpdate

MAX_ITEMS = 500
# The largest body a full batch can need: 500 items, each of the longest text every field
# takes, written as JSON escapes (12 bytes for a character outside the BMP), is ~6.7 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024
TOO_LARGE = "batch_too_large"
# The fields an item adds to the single endpoint's body.
ITEM_FIELDS = frozenset({"op", "id", "version", "client_id"})

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
# Within what a JSON number holds exactly (a client may parse it as a double); a row's version
# grows by one per change and never comes near it.
Version = Annotated[int, Field(ge=1, le=2**53 - 1)]
ENTITY_NAMES = frozenset({"tables", "guests", "reservations"})


def _op_of(item: Any) -> str | None:
    op = item.get("op", "update") if isinstance(item, dict) else getattr(item, "op", None)
    if not isinstance(op, str):
        return None
    # An item's own text rule refuses such an `op`, at `op`, as bad text anywhere else is; as
    # a tag the union does not know, it would be echoed in the error message.
    return op if is_clean(op) else "update"


def _op_required(model: type[BaseModel]) -> None:
    """List `op` among the required properties of ``model``'s JSON schema.

    An item without `op` is read as an update, and the server still does; a generated
    client always sends it, and a discriminator (below) is a required property."""
    inherited = model.model_config.get("json_schema_extra")

    def extra(schema: dict[str, Any], cls: type[BaseModel]) -> None:
        if callable(inherited):
            inherited(schema, cls)  # type: ignore[call-arg]
        schema["properties"]["op"]["description"] = "An item without `op` is an update too."
        schema["required"] = ["op", *(n for n in schema.get("required", ()) if n != "op")]

    model.model_config["json_schema_extra"] = extra


@dataclass(frozen=True)
class _OpMapping:
    """The JSON schema of an item union: its `oneOf` with a discriminator that maps each `op`
    to its item schema, which generators need to decode the right type (the union itself is
    told apart by ``_op_of``, which pydantic cannot describe)."""

    ops: tuple[str, ...]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        union = handler.resolve_ref_schema(json_schema)
        refs = [member["$ref"] for member in union["oneOf"]]
        union["discriminator"] = {
            "propertyName": "op",
            "mapping": dict(zip(self.ops, refs, strict=True)),
        }
        return json_schema


def _items(name: str, create: type[InputModel], update: type[PatchModel]) -> Any:
    """The item type of one entity: its create, update or delete, told apart by ``op``."""
    created = create_model(
        f"{name}CreateItem",
        __base__=create,
        op=(Literal["create"], ...),  # type: ignore[arg-type, maybe-unrecognized-str-typeform]
        client_id=(
            ClientId | None,
            Field(default=None, description="Any client string, echoed in `results`."),
        ),
    )
    updated = create_model(
        f"{name}UpdateItem",
        __base__=update,
        op=(Literal["update"], "update"),  # type: ignore[arg-type, maybe-unrecognized-str-typeform]
        id=(int, ...),
        version=(
            Version | None,
            Field(default=None, description="409 `version_conflict` unless the row has it."),
        ),
    )
    _op_required(updated)
    deleted = create_model(
        f"{name}DeleteItem",
        __base__=InputModel,
        op=(Literal["delete"], ...),  # type: ignore[arg-type, maybe-unrecognized-str-typeform]
        id=(int, ...),
        version=(Version | None, None),
    )
    return Annotated[
        Annotated[created, Tag("create")]
        | Annotated[updated, Tag("update")]
        | Annotated[deleted, Tag("delete")],
        Discriminator(_op_of),
        _OpMapping(("create", "update", "delete")),
        Named(f"{name}Item", "One item of a batch: what `op` names is done to its row."),
    ]


# Made at run time (create_model): the type checker sees them as Any.
TableItem: Any = _items("Table", TableCreate, TableUpdate)
GuestItem: Any = _items("Guest", GuestCreate, GuestUpdate)
ReservationItem: Any = _items("Reservation", ReservationCreate, ReservationUpdate)


class BatchRequest(InputModel):
    """Applied in this order: `tables`, `guests`, `reservations`, each in list order. At most
    500 items in all (413 above)."""

    tables: list[TableItem] = Field(default_factory=list)  # type: ignore[valid-type]
    guests: list[GuestItem] = Field(default_factory=list)  # type: ignore[valid-type]
    reservations: list[ReservationItem] = Field(  # type: ignore[valid-type]
        default_factory=list
    )

    @model_validator(mode="before")
    @classmethod
    def _at_most_500_items(cls, data: Any) -> Any:
        if isinstance(data, dict):
            count = sum(len(v) for v in data.values() if isinstance(v, list))
            if count > MAX_ITEMS:
                raise PydanticCustomError(
                    TOO_LARGE,
                    "A batch holds at most {limit} items, not {count}",
                    {"limit": MAX_ITEMS, "count": count},
                )
        return data


class ItemResult(OutputModel):
    index: int
    id: int
    client_id: str | None
    op: BatchOp


class BatchResults(OutputModel):
    tables: list[ItemResult]
    guests: list[ItemResult]
    reservations: list[ItemResult]


class BatchResponse(OutputModel):
    cursor: str = Field(description="The restaurant's cursor after this batch.")
    previous_cursor: str = Field(
        description="The cursor just before it: a client whose own cursor equals it may adopt "
        "`cursor`; any other asks the dashboard."
    )
    results: BatchResults
    guests: list[MinimalGuest] = Field(description="Every guest the batch changed, as it left it.")
    tables: list[MinimalTable]
    reservations: list[MinimalReservation]
    deleted: DeletedIds


def single_body(model: type[BaseModel], item: BaseModel) -> Any:
    """The single endpoint's body inside an item, as if it had been sent alone (already
    validated, with the fields the client set)."""
    names = [n for n in model.model_fields if n in item.model_fields_set]
    values = {n: getattr(item, n) for n in model.model_fields if n not in ITEM_FIELDS}
    return model.model_construct(_fields_set=set(names) - ITEM_FIELDS, **values)
