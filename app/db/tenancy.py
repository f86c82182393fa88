"""Restaurant scoping: a scope only authentication can create, and a guard on every statement.

The guard adds ``restaurant_id = :scope`` to every ORM statement that touches a tenant model
(SQLAlchemy's ``with_loader_criteria``). It refuses, with :class:`UnscopedQueryError`, what
those criteria cannot scope, unless the statement carries the :data:`CROSS_TENANT` option:

- any statement on a tenant table from a session that has no scope;
- a tenant table reached around its model: ``Guest.__table__``, ``table("guests")``, or
  ``text()``, DDL, a literal column or a prefix naming it (the criteria follow mapped
  entities only).

A flush refuses a tenant row of another restaurant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnClause,
    FromClause,
    Join,
    Select,
    TableClause,
    TextClause,
    UpdateBase,
    event,
)
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import HasHints, HasPrefixes, HasSuffixes
from sqlalchemy.sql.traversals import _get_children
from sqlalchemy.sql.visitors import InternalTraversal

from app.db.base import Base, TenantMixin

SCOPE_KEY = "restaurant_scope"
# Execution option for the few statements that must look across restaurants
# (login by email, refresh token lookup). Grep for it to audit them.
CROSS_TENANT = "qtable_cross_tenant"

_SCOPE_TOKEN = object()

_NO_TABLES: frozenset[Any] = frozenset()
_NO_ANNOTATIONS: Mapping[str, Any] = {}


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


# ----- what a statement reaches --------------------------------------------------------------


@cache
def _tenant_tables() -> frozenset[str]:
    return frozenset(
        m.class_.__tablename__
        for m in Base.registry.mappers
        if getattr(m.class_, "__tenant__", False)
    )


@lru_cache(maxsize=1024)
def _tenant_named_in(sql: str) -> str | None:
    """The first tenant table a piece of SQL names. Words are matched, not parsed: a false
    alarm (a comment, a string) is refused, and can be marked CROSS_TENANT."""
    found = re.search(rf"\b({'|'.join(sorted(_tenant_tables()))})\b", sql, re.IGNORECASE)
    return found.group(1) if found else None


def _sql_texts(statement: Any) -> list[str]:
    """SQL a statement carries as text besides its children: prefixes, suffixes, hints."""
    prefixes = (*getattr(statement, "_prefixes", ()), *getattr(statement, "_suffixes", ()))
    hints = getattr(statement, "_statement_hints", ())
    table_hints = getattr(statement, "_hints", None) or {}
    if not (prefixes or hints or table_hints):
        return []
    return [*(str(p) for p, _ in prefixes), *(h for _, h in hints), *table_hints.values()]


_tenant_mappers: dict[Any, bool] = {}


def _is_tenant(mapper: Any) -> bool:
    tenant = _tenant_mappers.get(mapper)
    if tenant is None:
        tenant = _tenant_mappers[mapper] = bool(getattr(mapper.class_, "__tenant__", False))
    return tenant


def _own_tables(statement: Any) -> frozenset[Any]:
    """The tables a SELECT, UPDATE or DELETE reads through a (non-aliased) tenant model.

    The criteria filter that very FROM, so the statement's bare columns of such a table are
    scoped too: ``session.get()`` itself compares the bare primary key column.
    """
    clauses: tuple[Any, ...]
    if isinstance(statement, Select):
        clauses = (
            *statement._raw_columns,
            *statement._from_obj,
            *(target for target, *_ in statement._setup_joins),
        )
    else:
        clauses = (statement.table,)
    own = [
        entity.local_table
        for clause in clauses
        if isinstance(entity := clause._annotations.get("parententity"), Mapper)
        and _is_tenant(entity)
    ]
    return frozenset(own) if own else _NO_TABLES


# How the survey treats each class of element, decided once per class.
_LEAF, _TABLE, _COLUMN, _TEXT, _DDL, _OWNER, _STATEMENT, _FROM, _OTHER = range(9)
_KIND_BY_BASE: tuple[tuple[int, Any], ...] = (
    (_DDL, ExecutableDDLElement),
    (_TABLE, TableClause),
    (_COLUMN, ColumnClause),
    (_LEAF, BindParameter),
    (_TEXT, TextClause),
    (_OWNER, Select | UpdateBase),
    (_STATEMENT, HasPrefixes | HasSuffixes | HasHints),
    (_OTHER, Join | FunctionElement),  # part of the enclosing statement's FROM or columns
    (_FROM, FromClause),
)
_kinds: dict[type, int] = {}

# SQLAlchemy's own list of a class's children (get_children) is generated anew on every
# call, and a SELECT's also repeats the FROMs its columns imply: read where the children are
# once per class instead. Select._correlate names outer FROMs, not FROMs of its own.
_ONE = InternalTraversal.dp_clauseelement
_MANY = {
    InternalTraversal.dp_clauseelement_list,
    InternalTraversal.dp_clauseelement_tuple,
    InternalTraversal.dp_fromclause_ordered_set,
    InternalTraversal.dp_memoized_select_entities,
}
_NONE = {
    InternalTraversal.dp_has_cache_key,
    InternalTraversal.dp_fromclause_canonical_column_collection,
    InternalTraversal.dp_dml_multi_values,
    InternalTraversal.dp_propagate_attrs,
}


@cache
def _children_of(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]:
    one, many, other = [], [], []
    for attr, symbol in getattr(cls, "_traverse_internals", ()):
        visit = _get_children.dispatch(symbol)
        if visit is None or symbol in _NONE or attr in ("_correlate", "_correlate_except"):
            continue
        if symbol == _ONE:
            one.append(attr)
        elif symbol in _MANY:
            many.append(attr)
        else:
            other.append((attr, visit))
    return tuple(one), tuple(many), tuple(other)


class _Own:
    """Put on the walk's stack below a statement's children: the enclosing statement's own
    tables, taken back once those children are done (the walk is depth first)."""

    __slots__ = ("tables",)

    def __init__(self, tables: frozenset[Any]) -> None:
        self.tables = tables


def _survey(*roots: Any) -> tuple[bool, str | None]:
    """Whether the roots reach a tenant model (the criteria scope it and all it stands for),
    and the first tenant table they reach any other way (nothing can scope that).

    It runs on every statement, so it walks each element once, and not into an ORM entity.
    """
    tenant = _tenant_tables()
    orm = False
    own = _NO_TABLES
    stack: list[Any] = [root for root in roots if root is not None]
    seen: set[int] = set()
    while stack:
        element = stack.pop()
        cls = element.__class__
        if cls is _Own:
            own = element.tables
            continue
        mapper = getattr(element, "_annotations", _NO_ANNOTATIONS).get("parentmapper")
        if mapper is not None and _is_tenant(mapper):
            orm = True
            continue
        kind = _kinds.get(cls)
        if kind is None:
            kind = _kinds[cls] = next(
                (k for k, base in _KIND_BY_BASE if issubclass(cls, base)), _OTHER
            )
        if kind == _LEAF:
            continue
        if kind == _TABLE:
            if element.name in tenant and element not in own:
                return orm, f"table {element.name}"
            continue
        if kind == _COLUMN:
            if element.is_literal and (name := _tenant_named_in(element.name)):
                return orm, f"a literal column naming {name}"
            table = element.table
            if isinstance(table, TableClause):
                if table.name in tenant and table not in own:
                    return orm, f"table {table.name}"
            elif table is not None and id(table) not in seen:  # a subquery, CTE or alias
                seen.add(id(table))
                stack.append(table)
            continue
        if kind == _DDL:  # DDL("..."), CREATE / DROP: no children, but SQL of their own
            if name := _tenant_named_in(str(element)):
                return orm, f"DDL naming {name}"
            continue
        if kind == _TEXT:
            if name := _tenant_named_in(element.text):
                return orm, f"text naming {name}"
        elif kind != _OTHER:
            for sql in _sql_texts(element):
                if name := _tenant_named_in(sql):
                    return orm, f"a prefix, suffix or hint naming {name}"
            # A subquery or alias is a FROM of its own, which no model of ours filters.
            inner = _own_tables(element) if kind == _OWNER else _NO_TABLES
            if inner != own:
                stack.append(_Own(own))
                own = inner
        one, many, other = _children_of(cls)
        for attr in one:
            if (child := getattr(element, attr)) is not None:
                stack.append(child)
        for attr in many:
            stack.extend(getattr(element, attr) or ())
        for attr, visit in other:
            if value := getattr(element, attr):
                stack.extend(visit(value))
    return orm, None


def _refusal(statement: Any, scope: RestaurantScope | None) -> tuple[bool, str | None]:
    """Whether the statement needs the restaurant criteria, and why it must not run at all."""
    orm, raw = _survey(statement)
    if raw:
        return orm, f"{raw} cannot be scoped; use its model, or mark the statement {CROSS_TENANT}"
    if not orm:
        return False, None
    if scope is None:
        return orm, "a tenant query without a restaurant scope"
    return orm, None


# ----- the hooks -----------------------------------------------------------------------------


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statements(state: ORMExecuteState) -> None:
    # INSERT writes the rows it is given: before_flush checks those of the unit of work.
    if state.is_insert or state.execution_options.get(CROSS_TENANT):
        return
    scope = scope_of(state.session)
    needs_criteria, refusal = _refusal(state.statement, scope)
    if refusal:
        raise UnscopedQueryError(f"{refusal}: {state.statement!s:.200}")
    if needs_criteria and scope is not None:
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
