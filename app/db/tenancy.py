"""Restaurant scoping: a scope only authentication can create, and a guard on every ORM query.

The guard adds ``restaurant_id = :scope`` to every ORM statement that touches a tenant model
(SQLAlchemy's ``with_loader_criteria``), refuses any such statement on a session that has no
scope unless it is explicitly marked cross-tenant, and refuses to flush a tenant row that
belongs to another restaurant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors

from app.db.base import Base, TenantMixin

SCOPE_KEY = "restaurant_scope"
# Execution option for the few statements that must look across restaurants
# (login by email, refresh token lookup). Grep for it to audit them.
CROSS_TENANT = "qtable_cross_tenant"

_SCOPE_TOKEN = object()


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


def bind_scope(session: Session, scope: RestaurantScope) -> None:
    existing = session.info.get(SCOPE_KEY)
    if existing is not None and existing.restaurant_id != scope.restaurant_id:
        raise UnscopedQueryError("a session cannot serve two restaurants")
    session.info[SCOPE_KEY] = scope


def scope_of(session: Session) -> RestaurantScope | None:
    return session.info.get(SCOPE_KEY)


@cache
def _tenant_tables() -> frozenset[str]:
    return frozenset(
        m.class_.__tablename__
        for m in Base.registry.mappers
        if getattr(m.class_, "__tenant__", False)
    )


def _touches_tenant(state: ORMExecuteState) -> bool:
    if any(getattr(m.class_, "__tenant__", False) for m in state.all_mappers):
        return True
    # A tenant table may also hide outside the selected entities: in select_from() (counts),
    # a join, or a subquery. Look through the whole statement for one.
    tenant = _tenant_tables()
    return any(
        isinstance(element, Table) and element.name in tenant
        for element in visitors.iterate(cast(visitors.ExternallyTraversible, state.statement))
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(CROSS_TENANT) or not _touches_tenant(state):
        return
    scope = scope_of(state.session)
    if scope is None:
        raise UnscopedQueryError(
            f"tenant query without a restaurant scope: {state.statement!s:.200}"
        )
    rid = scope.restaurant_id
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin, lambda cls: cls.restaurant_id == rid, include_aliases=True
        )
    )


@event.listens_for(Session, "before_flush")
def _check_tenant_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    scope = scope_of(session)
    if scope is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, TenantMixin) and obj.restaurant_id != scope.restaurant_id:
            raise UnscopedQueryError(
                f"{type(obj).__name__} of restaurant {obj.restaurant_id} written in scope "
                f"{scope.restaurant_id}"
            )
