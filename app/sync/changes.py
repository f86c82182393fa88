"""A transaction's changes as the JSON the change log keeps and the clients are sent.

``{"guests": [MinimalGuest...], "tables": [...], "reservations": [...],
"deleted": {"guests": [ids], "tables": [...], "reservations": [...]}}``: each row as the
transaction left it, in its minimal form, and the ids it deleted. A row is in one place only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from app.core.wire import RowEncoder, row_encoder
from app.guests.schemas import MinimalGuest
from app.reservations.schemas import MinimalReservation
from app.tables.schemas import MinimalTable

if TYPE_CHECKING:
    from app.db.session import ChangeEvent

# The entities a client syncs, in the order of the dashboard's arrays.
ENTITIES = ("guests", "tables", "reservations")
MINIMAL_SCHEMAS: dict[str, type[BaseModel]] = {
    "guests": MinimalGuest,
    "tables": MinimalTable,
    "reservations": MinimalReservation,
}
# A ChangeEvent's row is a dict of these (the models' __minimal_fields__, the schemas' own).
_FIELDS = {entity: tuple(schema.model_fields) for entity, schema in MINIMAL_SCHEMAS.items()}
_ENCODERS: dict[str, RowEncoder] = {
    entity: row_encoder(schema, _FIELDS[entity]) for entity, schema in MINIMAL_SCHEMAS.items()
}
EMPTY_DELETED = '{"guests":[],"tables":[],"reservations":[]}'
NO_CHANGES = '{"guests":[],"tables":[],"reservations":[],"deleted":' + EMPTY_DELETED + "}"


def fold(entries: Iterable[str]) -> dict[str, dict[int, dict[str, Any] | None]]:
    """Change log entries (their JSON), oldest first, as one: each row's last state, None for
    a row whose last word was its deletion."""
    last: dict[str, dict[int, dict[str, Any] | None]] = {entity: {} for entity in ENTITIES}
    for changes in entries:
        entry = json.loads(changes)
        for entity in ENTITIES:
            rows = last[entity]
            for row in entry[entity]:
                rows[row["id"]] = row
            for row_id in entry["deleted"][entity]:
                rows[row_id] = None
    return last


def encode_changes(events: Iterable[ChangeEvent]) -> str:
    rows: dict[str, list[str]] = {entity: [] for entity in ENTITIES}
    deleted: dict[str, list[str]] = {entity: [] for entity in ENTITIES}
    for event in events:
        if event.entity not in rows:
            continue
        if event.deleted or event.row is None:
            deleted[event.entity].append(str(event.id))
        else:
            values = [event.row[f] for f in _FIELDS[event.entity]]
            rows[event.entity].append(_ENCODERS[event.entity](values))
    if not any(rows.values()) and not any(deleted.values()):
        return NO_CHANGES
    arrays = ",".join(f'"{entity}":[{",".join(rows[entity])}]' for entity in ENTITIES)
    gone = ",".join(f'"{entity}":[{",".join(deleted[entity])}]' for entity in ENTITIES)
    return "{" + arrays + ',"deleted":{' + gone + "}}"
