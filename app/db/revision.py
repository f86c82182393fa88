"""The restaurant's revision and its change log: one revision for each write transaction,
taken just before commit, with what that transaction changed.

Every transaction of a write unit of work that inserts, updates or deletes a restaurant's rows
(through the ORM's flush, an ORM statement or ``repository.flush``) sets
``restaurants.revision = revision + 1 ... RETURNING revision`` for its scope's restaurant just
before it commits, and writes in the same transaction the change log's row of that revision
(``app.models.change_log``): the minimal rows it left and the ids it deleted. It already holds
the restaurant lock then (app.db.locks takes it before the first write, and the UPDATE locks
the row again on PostgreSQL), so the revisions of one restaurant follow its commit order: a
reader that has seen revision N has seen every transaction up to N, and the log after N holds
everything since. A rolled-back transaction adds nothing.

The bookkeeping of requests (idempotency answers, refresh tokens) is not the restaurant's data:
writing it alone takes no revision. A reader that reads the same revision twice knows that no
write of the restaurant committed in between, in this process or any other: the list cache
(``app.db.repository.page_of``) and the dashboard's snapshot serve their answer only then.

``updated_at`` is set to itself: the restaurant's own row has not changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from app.db import rows
from app.db.base import utcnow
from app.db.locks import WRITE_KEY, writes
from app.db.tenancy import scope_of
from app.models import ChangeLog, Restaurant
from app.sync.changes import encode_changes

WROTE_KEY = "qtable_wrote"
# The change events of the transaction (app.db.session records them at each flush).
CHANGES_KEY = "qtable_changes"
# The revision the transaction took, once it has taken it; and, once it has committed, the
# revision of the restaurant it committed (for the real-time feed: app.realtime).
REVISION_KEY = "qtable_revision"
COMMITTED_KEY = "qtable_committed_revision"
# Tables whose rows are the bookkeeping of requests, not the restaurant's own data.
BOOKKEEPING = frozenset({"idempotency_keys", "refresh_tokens"})

# The revision a reader compares (app.db.rows: restaurants by the scope's id).
CURRENT = rows.RowQuery(
    select(Restaurant.revision).where(Restaurant.id == bindparam(rows.SCOPE_PARAM))
)
_NEXT = rows.RowQuery(
    update(Restaurant)
    .where(Restaurant.id == bindparam(rows.SCOPE_PARAM))
    .values(revision=Restaurant.revision + 1, updated_at=Restaurant.updated_at)
    .returning(Restaurant.revision)
)
_LOG = rows.RowQuery(
    insert(ChangeLog).values(
        restaurant_id=bindparam(rows.SCOPE_PARAM),
        revision=bindparam("revision"),
        created_at=bindparam("created_at"),
        changes=bindparam("changes"),
    )
)


def _counts(state: ORMExecuteState) -> bool:
    table = getattr(state.statement, "table", None)
    return getattr(table, "name", None) not in BOOKKEEPING


@event.listens_for(Session, "do_orm_execute")
def _note_write_statements(state: ORMExecuteState) -> None:
    if writes(state) and _counts(state):
        state.session.info[WROTE_KEY] = True


def _changes_data(session: Session) -> bool:
    """Whether the next flush writes a row of the restaurant's own data. A row merely set
    to the values it had (a PATCH that changes nothing) is in ``session.dirty`` but is not
    written: it takes no revision, so a client's cursor and ETag stay good."""
    if any(
        obj.__table__.name not in BOOKKEEPING
        for pending in (session.new, session.deleted)
        for obj in pending
    ):
        return True
    return any(
        obj.__table__.name not in BOOKKEEPING
        and session.is_modified(obj, include_collections=False)
        for obj in session.dirty
    )


@event.listens_for(Session, "before_flush")
def _note_flushes(session: Session, _ctx: Any, _instances: Any) -> None:
    if _changes_data(session):
        session.info[WROTE_KEY] = True


def take(session: Session) -> int | None:
    """Flush, then take the next revision and write its change log row, if this transaction
    has written the restaurant's data since it last took one; the revision it holds, if any.

    The commit does this itself; a unit of work calls it to know its revision before it
    answers (a batch answers with its cursor)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    if not (session.info.get(WRITE_KEY) and session.info.get(WROTE_KEY)):
        return session.info.get(REVISION_KEY)
    scope = scope_of(session)
    if scope is None:  # registration: a new restaurant, nothing of it was ever read
        return None
    revision = rows.run(session, _NEXT)[0][0]
    changes = session.info.get(CHANGES_KEY, {})
    rows.run(
        session,
        _LOG,
        {"revision": revision, "created_at": utcnow(), "changes": encode_changes(changes.values())},
    )
    session.info.pop(WROTE_KEY, None)
    session.info[REVISION_KEY] = revision
    return int(revision)


@event.listens_for(Session, "before_commit")
def _next_revision(session: Session) -> None:
    # Also called when a savepoint is released: the revision belongs to the whole transaction.
    if session.info.get(WRITE_KEY) and not session.in_nested_transaction():
        take(session)


@event.listens_for(Session, "after_commit")
def _note_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released, not the transaction
        return
    revision = session.info.get(REVISION_KEY)
    scope = scope_of(session)
    if revision is not None and scope is not None:
        session.info[COMMITTED_KEY] = (scope.restaurant_id, revision)


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(WROTE_KEY, None)
        session.info.pop(REVISION_KEY, None)
