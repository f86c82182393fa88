"""The one lock order of every write, and the restaurant lock that makes it hold.

Every transaction that writes or locks a restaurant's rows takes its locks in this order:

1. the restaurant's own row (``restaurants``), ``FOR NO KEY UPDATE``: the *restaurant lock*;
2. ``users``; 3. ``refresh_tokens``; 4. ``dining_tables``; 5. ``guests``;
6. ``reservations``; 7. ``idempotency_keys`` (written last, with the answer);

and within one kind by ascending id (``repository.lock_all``). Step 1 is taken for the
service, not by it: the hooks below take it before the first statement of a write unit of
work that locks rows (``SELECT ... FOR UPDATE``), inserts, updates or deletes, and before its
first flush. So every writer of one restaurant queues on that single row before it holds any
other lock, and two writers of one restaurant can never wait on each other in a cycle,
whatever rows they go on to lock and in whatever order they discover them. Plain reads take
no lock and never wait. Writers of different restaurants share no rows. The lock is
``FOR NO KEY UPDATE`` so it does not block the ``FOR KEY SHARE`` that PostgreSQL takes on the
restaurant when a row referencing it is inserted.

Under the lock the acting user is read again: a request authenticated just before its user
was deleted or changed role answers 401 instead of acting with the old role.

On SQLite a write transaction begins with ``BEGIN IMMEDIATE``, which already serializes all
writers of the database; the same hook runs there (and re-reads the acting user) but the
``FOR NO KEY UPDATE`` clause is not rendered.

A version (If-Match, a batch item's ``version``) may only be compared on a row locked in
this transaction: ``repository.load(lock=True)`` records the rows it locked, and
``repository.check_version`` refuses any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import ORMExecuteState, Session

from app.core.errors import Unauthorized
from app.db import rows
from app.db.tenancy import scope_of
from app.models import Restaurant, User

# session.info keys: whether this unit of work writes, whether it holds the restaurant lock,
# which rows it has locked (model class, id), and the restaurant's setting the lock read.
WRITE_KEY = "qtable_write"
LOCKED_KEY = "qtable_restaurant_locked"
LOCKED_ROWS_KEY = "qtable_locked_rows"
READ_ROWS_KEY = "qtable_read_rows"
AFTER_LEAVE_KEY = "qtable_table_after_guest_leaves"


# The restaurant lock, which also reads the acting user's role (still the token's?) and the
# restaurant's table_after_guest_leaves (read by every write that frees a table).
_RESTAURANT_LOCK = rows.RowQuery(
    select(User.role, Restaurant.table_after_guest_leaves)
    .where(
        Restaurant.id == bindparam(rows.SCOPE_PARAM),
        User.restaurant_id == bindparam(rows.SCOPE_PARAM),
        User.id == bindparam("user_id"),
    )
    .with_for_update(key_share=True, of=Restaurant)
)
# PostgreSQL: a row lock is not granted in arrival order. When its holder commits, a writer
# that arrives just then can take the row ahead of those already waiting (16 writers of one
# restaurant: p50 21 ms, p99 662 ms). An advisory lock on the restaurant's id is a lock of the
# lock manager, which queues first come, first served: taken first, it lines the writers of a
# restaurant up in order, and each then finds the row free. It ends with the transaction.
# QTable takes no other advisory lock, so the restaurant's id alone is the key.
_QUEUE_IN_ORDER = select(func.pg_advisory_xact_lock(bindparam("restaurant_id")))


class LockOrderError(RuntimeError):
    """A write path broke the lock order (a bug, never a client error)."""


def take_restaurant_lock(session: Session) -> None:
    """Lock the scope's restaurant row (once per transaction) and re-check the acting user."""
    if session.info.get(LOCKED_KEY) or not session.info.get(WRITE_KEY):
        return
    scope = scope_of(session)
    if scope is None:  # registration: its restaurant is new, nobody else can lock it
        return
    session.info[LOCKED_KEY] = _innermost(session)
    if session.get_bind().dialect.name == "postgresql":
        # On the connection, not through the ORM: it reads no row, of any restaurant.
        session.connection().execute(_QUEUE_IN_ORDER, {"restaurant_id": scope.restaurant_id})
    found = rows.run(session, _RESTAURANT_LOCK, {"user_id": scope.user_id})
    if not found or found[0][0] != scope.role:
        raise Unauthorized("The access token is no longer valid")
    session.info[AFTER_LEAVE_KEY] = found[0][1]


# Stands for the outermost transaction when the lock is taken before the session has begun.
_OUTERMOST = "outermost"


def _innermost(session: Session) -> Any:
    return session.get_nested_transaction() or session.get_transaction() or _OUTERMOST


def _ended(transaction: Any) -> bool:
    return transaction is not _OUTERMOST and not transaction.is_active


def record_locked(session: Session, row: Any) -> None:
    session.info.setdefault(LOCKED_ROWS_KEY, {})[(type(row), row.id)] = _innermost(session)


def note_read(session: Session, found: Any) -> None:
    """These rows were read in the current transaction (``repository.load``)."""
    read = session.info.setdefault(READ_ROWS_KEY, set())
    read.update((type(row), row.id) for row in found)


def read_in_transaction(session: Session, model: type[Any], row_id: int) -> bool:
    return (model, row_id) in session.info.get(READ_ROWS_KEY, ())


def is_locked(session: Session | None, row: Any) -> bool:
    return session is not None and (type(row), row.id) in session.info.get(LOCKED_ROWS_KEY, {})


def writes(state: ORMExecuteState) -> bool:
    """An ORM statement that inserts, updates or deletes."""
    return state.is_insert or state.is_update or state.is_delete


def has_pending(session: Session) -> bool:
    """Whether the next flush will write anything."""
    return bool(session.new or session.dirty or session.deleted)


def _takes_locks(state: ORMExecuteState) -> bool:
    if writes(state):
        return True
    return state.is_select and getattr(state.statement, "_for_update_arg", None) is not None


@event.listens_for(Session, "do_orm_execute")
def _lock_before_locking_statements(state: ORMExecuteState) -> None:
    if _takes_locks(state):
        take_restaurant_lock(state.session)


@event.listens_for(Session, "before_flush")
def _lock_before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    if has_pending(session):
        take_restaurant_lock(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the transaction is over, and its locks with it
        session.info.pop(LOCKED_KEY, None)
        session.info.pop(LOCKED_ROWS_KEY, None)
        session.info.pop(READ_ROWS_KEY, None)
        session.info.pop(AFTER_LEAVE_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_savepoint_locks(session: Session, previous: Any) -> None:
    # PostgreSQL releases the locks taken after a savepoint when it is rolled back to.
    if not previous.nested:
        return
    holder = session.info.get(LOCKED_KEY)
    if holder is not None and _ended(holder):
        session.info.pop(LOCKED_KEY, None)
    rows = session.info.get(LOCKED_ROWS_KEY, {})
    for key in [k for k, txn in rows.items() if _ended(txn)]:
        del rows[key]
