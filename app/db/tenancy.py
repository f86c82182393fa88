"""Restaurant scoping: a scope only authentication can create, and a guard on every statement.

The guard adds ``restaurant_id = :scope`` to every ORM statement that touches a tenant model
(SQLAlchemy's ``with_loader_criteria``). It refuses, with :class:`UnscopedQueryError`, what
those criteria cannot scope, unless the statement carries the :data:`CROSS_TENANT` option:

- any statement on a tenant table from a session that has no scope;
- a tenant table reached around its model: ``Guest.__table__``, ``table("guests")``, or
  ``text()``, DDL, a literal column or a prefix naming it (the criteria follow mapped
  entities only);
- an INSERT of a tenant row that does not give the scope's restaurant as a value (a SELECT
  does not), that reads tenant tables, or that upserts over another restaurant's row; an
  UPDATE that sets ``restaurant_id``; a bulk UPDATE by primary key;
- SQL sent on a session's own connection (``session.connection()``, ``exec_driver_sql``),
  which no ORM event sees, when it names a tenant table.

A flush refuses a tenant row of another restaurant. Connections taken from the engine itself
(``Database.engine.connect()``, ``UnitOfWork.read_connection()``) belong to no session and are
not guarded: they are the audited door for the reads that precede authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, Update, UpdateBase, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
    with_loader_criteria,
)

from app.db.base import TenantMixin
from app.db.statements import (
    RESTAURANT,
    describe,
    insert_refusal,
    key_of,
    param_rows,
    survey,
    tenant_named_in,
)

SCOPE_KEY = "restaurant_scope"
# Execution option for the few statements that must look across restaurants
# (login by email, refresh token lookup). Grep for it to audit them.
CROSS_TENANT = "qtable_cross_tenant"

_SCOPE_TOKEN = object()

# Set on what the ORM hook has let through (scoped, or seen to need no scope), so the
# connection hook lets it pass. The value is a private object: passing True does not forge it.
_CHECKED = "qtable_tenancy_checked"
_CHECKED_TOKEN = object()
# The same mark, for SQL that app.db.rows has checked from its statement's shape.
VOUCHED: Mapping[str, Any] = {_CHECKED: _CHECKED_TOKEN}
# A session's info dict, carried by the connections the session begins, and where it keeps
# its latest flush (before_flush has checked the rows that flush writes).
_SESSION_INFO = "qtable_session_info"
_FLUSH = "qtable_flush"


class UnscopedQueryError(RuntimeError):
    """A tenant table was queried without a restaurant scope: a bug, never a client error."""


@dataclass(frozen=True, slots=True)
class RestaurantScope:
    """Which restaurant a request acts for, who acts, and with which role.

    Only :func:`app.auth.dependencies` creates it, from a verified token.
    """

    restaurant_id: int
    user_id: int
    role: str
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _SCOPE_TOKEN:
            raise TypeError("RestaurantScope is created by authentication only")


def _make_scope(restaurant_id: int, user_id: int, role: str) -> RestaurantScope:
    return RestaurantScope(restaurant_id, user_id, role, _SCOPE_TOKEN)


def check_rebind(existing: RestaurantScope | None, scope: RestaurantScope) -> None:
    """A session (or unit of work) scoped to one restaurant never serves another."""
    if existing is not None and existing.restaurant_id != scope.restaurant_id:
        raise UnscopedQueryError("a session cannot serve two restaurants")


def bind_scope(session: Session, scope: RestaurantScope) -> None:
    check_rebind(session.info.get(SCOPE_KEY), scope)
    session.info[SCOPE_KEY] = scope


def scope_of(session: Session) -> RestaurantScope | None:
    return session.info.get(SCOPE_KEY)


# ----- the policy -----------------------------------------------------------------------------


def _refusal(
    statement: Any, params: Any, bulk: bool, scope: RestaurantScope | None
) -> tuple[bool, str | None]:
    """Whether the statement needs the restaurant criteria, and why it must not run at all."""
    if isinstance(statement, Insert):
        return False, insert_refusal(statement, params, scope.restaurant_id if scope else None)
    orm, raw = survey(statement)
    if raw:
        return orm, f"{raw} cannot be scoped; use its model, or mark the statement {CROSS_TENANT}"
    if not orm:
        return False, None
    if scope is None:
        return orm, "a tenant query without a restaurant scope"
    if bulk and isinstance(statement, UpdateBase):
        # The ORM sends these row by row, by primary key, without the criteria.
        return orm, "a bulk UPDATE or DELETE by primary key, which the criteria do not reach"
    if isinstance(statement, Update) and (
        any(key_of(k) == RESTAURANT for k in statement._values or ())
        or any(RESTAURANT in row for row in param_rows(params))
    ):
        return orm, "an UPDATE that moves rows to another restaurant"
    return orm, None


# ----- the hooks -----------------------------------------------------------------------------


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    if state.execution_options.get(CROSS_TENANT):
        return
    scope = scope_of(state.session)
    params = state.parameters
    bulk = (bool(params) and not isinstance(params, Mapping)) or (
        state.execution_options.get("dml_strategy") == "bulk"
    )
    needs_criteria, refusal = _refusal(state.statement, params, bulk, scope)
    if refusal:
        raise UnscopedQueryError(f"{refusal}: {describe(state.statement)}")
    if needs_criteria and scope is not None:
        rid = scope.restaurant_id
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantMixin, lambda cls: cls.restaurant_id == rid, include_aliases=True
            )
        )
    state.update_execution_options(**{_CHECKED: _CHECKED_TOKEN})


@event.listens_for(Session, "after_begin")
def _mark_connection(session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
    # Connection.execution_options() changes the connection in place (SQLAlchemy 2), so all
    # that is sent on it, however it is sent, says which session it belongs to.
    conn.execution_options(**{_SESSION_INFO: session.info})


@event.listens_for(Engine, "before_cursor_execute")
def _guard_session_connection(
    _conn: Connection,
    _cursor: DBAPICursor,
    statement: str,
    _parameters: Any,
    context: ExecutionContext,
    _executemany: bool,
) -> None:
    """All SQL passes here, exec_driver_sql() and DDL included: on a session's connection, SQL
    that came neither through the ORM hook nor from a flush must not name a tenant table."""
    options = context.execution_options
    info = options.get(_SESSION_INFO)
    if info is None or options.get(_CHECKED) is _CHECKED_TOKEN or options.get(CROSS_TENANT):
        return
    # A flush runs in a transaction of its own, begun once every before_flush hook has passed.
    flush = getattr(info.get(_FLUSH), "transaction", None)
    if flush is not None and flush.is_active:
        return
    if name := tenant_named_in(statement):
        raise UnscopedQueryError(
            f"SQL on a session's connection names {name}, which nothing scopes there; "
            f"use session.execute(), or mark it {CROSS_TENANT}: {statement:.200}"
        )


@event.listens_for(Session, "before_flush")
def _check_tenant_rows(session: Session, flush: UOWTransaction, _instances: Any) -> None:
    scope = scope_of(session)
    if scope is not None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, TenantMixin):
                check_written_row(obj, scope)
    session.info[_FLUSH] = flush


def check_written_row(obj: TenantMixin, scope: RestaurantScope) -> None:
    """A tenant row written in ``scope`` must be its restaurant's (the ORM's flush and
    ``repository.flush`` both ask)."""
    if obj.restaurant_id != scope.restaurant_id:
        raise UnscopedQueryError(
            f"{type(obj).__name__} of restaurant {obj.restaurant_id} written in scope "
            f"{scope.restaurant_id}"
        )


@event.listens_for(Session, "after_flush_postexec")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    session.info.pop(_FLUSH, None)
