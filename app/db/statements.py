"""Reading a SQL statement for the tenancy guard (``app.db.tenancy``): which tenant tables
it reaches through their models (the criteria scope those), which it reaches any other way
(nothing can scope those), and which restaurant each row an INSERT writes belongs to.

It reads SQLAlchemy's statement internals (``_raw_columns``, ``_values``, ``_multi_values``,
``_traverse_internals``…): tests/core/test_tenancy_side_doors.py pins every form, and must be
run before any SQLAlchemy upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnClause,
    FromClause,
    Insert,
    Join,
    Select,
    TableClause,
    TextClause,
    UpdateBase,
)
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import HasHints, HasPrefixes, HasSuffixes, SelectBase
from sqlalchemy.sql.traversals import _get_children
from sqlalchemy.sql.visitors import InternalTraversal

from app.db.base import Base

RESTAURANT = "restaurant_id"
_NO_TABLES: frozenset[Any] = frozenset()
_NO_ANNOTATIONS: Mapping[str, Any] = {}


@cache
def tenant_tables() -> frozenset[str]:
    return frozenset(
        m.class_.__tablename__
        for m in Base.registry.mappers
        if getattr(m.class_, "__tenant__", False)
    )


@lru_cache(maxsize=1024)
def tenant_named_in(sql: str) -> str | None:
    """The first tenant table a piece of SQL names. Words are matched, not parsed: a false
    alarm (a comment, a string) is refused, and can be marked CROSS_TENANT."""
    found = re.search(rf"\b({'|'.join(sorted(tenant_tables()))})\b", sql, re.IGNORECASE)
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
    InternalTraversal.dp_dml_multi_values,  # read by _insert_refusal
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


def survey(*roots: Any) -> tuple[bool, str | None]:
    """Whether the roots reach a tenant model (the criteria scope it and all it stands for),
    and the first tenant table they reach any other way (nothing can scope that).

    It runs on every statement, so it walks each element once, and not into an ORM entity.
    """
    tenant = tenant_tables()
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
            if element.is_literal and (name := tenant_named_in(element.name)):
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
            if name := tenant_named_in(str(element)):
                return orm, f"DDL naming {name}"
            continue
        if kind == _TEXT:
            if name := tenant_named_in(element.text):
                return orm, f"text naming {name}"
        elif kind != _OTHER:
            for sql in _sql_texts(element):
                if name := tenant_named_in(sql):
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


# ----- writes the criteria cannot reach ------------------------------------------------------


def key_of(column: Any) -> Any:
    return column if isinstance(column, str) else getattr(column, "key", None)


def param_rows(params: Any) -> Sequence[Mapping[str, Any]]:
    if not params:
        return ({},)
    return (params,) if isinstance(params, Mapping) else params  # type: ignore[no-any-return]


def _inserted_restaurants(stmt: Insert, params: Any) -> Iterator[Any]:
    """The restaurant given for each row an INSERT writes: the values of ``values()`` and of
    the parameters (which override them), ``None`` where a row names none."""
    for batch in stmt._multi_values:
        for row in batch:
            found = row.items() if isinstance(row, Mapping) else ()  # positional rows: None
            yield next((v for k, v in found if key_of(k) == RESTAURANT), None)
    if stmt._multi_values:
        return
    given = [v for k, v in (stmt._values or {}).items() if key_of(k) == RESTAURANT]
    yield from given
    for params_row in param_rows(params):
        if RESTAURANT in params_row:
            yield params_row[RESTAURANT]
        elif not given:
            yield None


def _upsert_refusal(upsert: Any, table: Any) -> str | None:
    if not hasattr(upsert, "inferred_target_elements"):  # neither ON CONFLICT form
        return f"an INSERT with {type(upsert).__name__}"
    if not hasattr(upsert, "update_values_to_set"):  # DO NOTHING writes no existing row
        return None
    name = getattr(upsert, "constraint_target", None)
    if name is None:
        arbiter = {key_of(e) for e in upsert.inferred_target_elements or ()}
    else:
        arbiter = {
            c.key
            for constraint in (*table.constraints, *table.indexes)
            if constraint.name == name
            for c in constraint.columns
        }
    # Only a conflict on a key that includes the restaurant is surely with a row of ours.
    if RESTAURANT not in arbiter:
        return "an upsert whose conflict target does not include restaurant_id"
    if any(key_of(k) == RESTAURANT for k in upsert.update_values_to_set):
        return "an upsert that sets restaurant_id"
    expressions = (*upsert.update_values_to_set.values(), upsert.update_whereclause)
    if any(
        isinstance(e, SelectBase | TextClause) or (isinstance(e, ColumnClause) and e.is_literal)
        for expression in expressions
        if isinstance(expression, ClauseElement)
        for e in visitors.iterate(expression)
    ):
        return "an upsert whose update reads more than the conflicting row"
    return None


def insert_refusal(stmt: Insert, params: Any, restaurant_id: int | None) -> str | None:
    target = stmt.table
    # What the INSERT reads: its values, its SELECT, and subqueries in what it returns.
    reads = [*(stmt._values or {}).values(), stmt.select]
    for batch in stmt._multi_values:
        for row in batch:
            reads.extend(row.values() if isinstance(row, Mapping) else row)
    reads.extend(
        e for r in stmt._returning for e in visitors.iterate(r) if isinstance(e, SelectBase)
    )
    orm, raw = survey(*(r for r in reads if isinstance(r, ClauseElement)))
    if raw or orm:
        return f"an INSERT reading {raw or 'a tenant model'}, which the criteria do not reach"
    if target.name not in tenant_tables():
        return None
    if not target._annotations.get("parentmapper"):
        return f"table {target.name} cannot be scoped; insert through its model"
    if restaurant_id is None:
        return "a tenant INSERT without a restaurant scope"
    if getattr(stmt, "_prefixes", ()):
        return "an INSERT with a prefix (OR REPLACE deletes the row it collides with)"
    upsert = stmt._post_values_clause
    if upsert is not None and (refusal := _upsert_refusal(upsert, target)):
        return refusal
    for value in _inserted_restaurants(stmt, params):
        if isinstance(value, BindParameter):
            value = value.effective_value
        if value != restaurant_id:  # None: from a SELECT, an expression, or not given
            return f"a {target.name} row for restaurant {value!r} in scope {restaurant_id}"
    return None


def describe(statement: Any) -> str:
    try:
        return f"{statement!s:.200}"
    except Exception:  # an ORM bulk INSERT compiles only while it executes
        return type(statement).__name__
