"""SQLite: ids are never used twice (AUTOINCREMENT).

Without AUTOINCREMENT, SQLite gives a new row the highest id in use plus one: delete the newest
guest and the next guest gets its id. A client that still holds the deleted guest (a stale
screen, a delta that said "deleted 7" then "7 is new", an access token naming a deleted user's
id) would then act on another row. PostgreSQL's identity columns never go back.

Each table with an id is rebuilt from its own stored definition with the id column declared
``INTEGER PRIMARY KEY AUTOINCREMENT``: a new table, every row copied with its id, the old table
dropped, the new one renamed, its indexes made again. alembic/env.py runs SQLite migrations with
foreign keys off and checks them all before the commit. The downgrade keeps AUTOINCREMENT:
it only stops reuse, and a rebuild back would buy nothing.

Revision ID: 0008
Revises: 0007
"""

import re
from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "restaurants",
    "users",
    "refresh_tokens",
    "dining_tables",
    "reservations",
    "guests",
    "idempotency_keys",
)


def _autoincrement(name: str, sql: str) -> str:
    """The table's CREATE statement, for a table named ``new_<name>``, with its id declared
    as SQLite's INTEGER PRIMARY KEY AUTOINCREMENT instead of a table PRIMARY KEY (id)."""
    created, count = re.subn(
        rf'^CREATE TABLE "?{name}"? \(', f"CREATE TABLE new_{name} (", sql.strip(), count=1
    )
    column = re.compile(r"(^|\n)(\s*)id INTEGER NOT NULL,")
    created, columns = column.subn(r"\1\2id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", created)
    created, keys = re.subn(
        rf",\s*CONSTRAINT pk_{name} PRIMARY KEY \(id\)", "", created, count=1
    )
    if (count, columns, keys) != (1, 1, 1):
        raise RuntimeError(f"{name}: unexpected table definition: {sql}")
    return created


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in TABLES:
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).scalar_one()
        if "AUTOINCREMENT" in sql:
            continue
        indexes = [
            row[0]
            for row in bind.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
                " AND sql IS NOT NULL",
                (name,),
            )
        ]
        op.execute(_autoincrement(name, sql))
        op.execute(f"INSERT INTO new_{name} SELECT * FROM {name}")
        op.execute(f"DROP TABLE {name}")
        op.execute(f"ALTER TABLE new_{name} RENAME TO {name}")
        for index in indexes:
            op.execute(index)


def downgrade() -> None:
    pass
