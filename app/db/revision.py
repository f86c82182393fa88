"""The restaurant's revision: one more for each write transaction, taken just before commit.

Every transaction of a write unit of work that inserts, updates or deletes (through the ORM's
flush, an ORM statement or ``repository.flush``) sets ``restaurants.revision = revision + 1``
for its scope's restaurant just before it commits. It already holds the restaurant lock then
(app.db.locks takes it before the first write), so the revisions of one restaurant follow its
commit order. A rolled-back transaction adds nothing. A reader that reads the same revision
twice knows that no write of the restaurant committed in between, in this process or any
other: the list cache (``app.db.repository.page_of``) serves its answer only then.

``updated_at`` is set to itself: the restaurant's own row has not changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from app.db import rows
from app.db.locks import WRITE_KEY, has_pending, writes
from app.db.tenancy import scope_of
from app.models import Restaurant

WROTE_KEY = "qtable_wrote"

# The revision a reader compares (app.db.rows: restaurants by the scope's id).
CURRENT = rows.RowQuery(
    select(Restaurant.revision).where(Restaurant.id == bindparam(rows.SCOPE_PARAM))
)
_NEXT = rows.RowQuery(
    update(Restaurant)
    .where(Restaurant.id == bindparam(rows.SCOPE_PARAM))
    .values(revision=Restaurant.revision + 1, updated_at=Restaurant.updated_at)
)


@event.listens_for(Session, "do_orm_execute")
def _note_write_statements(state: ORMExecuteState) -> None:
    if writes(state):
        state.session.info[WROTE_KEY] = True


@event.listens_for(Session, "before_flush")
def _note_flushes(session: Session, _ctx: Any, _instances: Any) -> None:
    if has_pending(session):
        session.info[WROTE_KEY] = True


@event.listens_for(Session, "before_commit")
def _next_revision(session: Session) -> None:
    if not session.info.get(WRITE_KEY):
        return
    # What the flush at commit will write counts too.
    if not (session.info.get(WROTE_KEY) or has_pending(session)):
        return
    scope = scope_of(session)
    if scope is None:  # registration: a new restaurant, nothing of it was ever read
        return
    rows.run(session, scope, _NEXT)
    session.info.pop(WROTE_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(WROTE_KEY, None)
