"""The query language compiled to SQL: a parsed filter (:mod:)
becomes one WHERE clause over the members table, derived fields (age, 工龄, 青年教师 …) become
expressions of the day the query runs, so a count and a list always agree."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    extract,
    false,
    literal,
    not_,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import BindParameter

from server.core.access import Scope
from server.core.timeutil import local_today
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.members.registry import MemberQuery, conditions
from server.domain.statistics.query import (
    AGE_BANDS,
    EVERYTHING,
    FERTILITY,
    LIKE_ESCAPE,
    NO,
    YES,
    YOUNG_TEACHER_AGE,
    Cond,
    Group,
    Node,
    QueryField,
)


@dataclass(frozen=True)
class Context:
    """What derived fields are relative to: today in Asia/Shanghai."""

    today: date

    def years_before(self, years: int) -> date:
        """The latest birth date of someone aged at least ``years`` today (29 Feb → 28 Feb)."""
        year = self.today.year - years
        try:
            return self.today.replace(year=year)
        except ValueError:
            return date(year, 2, 28)

    def bound_date(self, years: int) -> BindParameter:
        return literal(self.years_before(years))


def context(today: date | None = None) -> Context:
    return Context(today or local_today())


def compile_filter(node: Node, ctx: Context) -> ColumnElement[bool]:
    if isinstance(node, Group):
        parts = [compile_filter(c, ctx) for c in node.children]
        if node.kind == "not":
            return not_(parts[0])
        if not parts:
            return true() if node.kind == "all" else false()
        if len(parts) == 1:
            return parts[0]
        return and_(*parts) if node.kind == "all" else or_(*parts)
    return _leaf(node, ctx)


def where(scope: Scope, node: Node, ctx: Context) -> list[ColumnElement[bool]]:
    """The WHERE clauses: the caller's scope (exactly as the member registry applies it) and the filter."""
    return [*conditions(scope, MemberQuery()), *filter_conditions(node, ctx)]


def filter_conditions(node: Node, ctx: Context) -> list[ColumnElement[bool]]:
    """The filter's WHERE clause alone (none for EVERYTHING): for a statement that adds the
    scope itself."""
    return [] if node == EVERYTHING else [compile_filter(node, ctx)]


def _col(f: QueryField):  # noqa: ANN202
    return getattr(Member, f.attr)


def _like_text(text: str) -> str:
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def _date_range(col, ctx: Context, lo: int | None, hi: int | None) -> ColumnElement[bool]:  # noqa: ANN001
    """Whole years since ``col`` between lo and hi inclusive, as a range on the date itself."""
    parts = [col.isnot(None)]
    if hi is not None:
        parts.append(col > ctx.bound_date(hi + 1))
    if lo is not None:
        parts.append(col <= ctx.bound_date(lo))
    return and_(*parts)


def _int_range(col, lo: int | None, hi: int | None) -> ColumnElement[bool]:  # noqa: ANN001
    parts = [col.isnot(None)]
    if lo is not None:
        parts.append(col >= lo)
    if hi is not None:
        parts.append(col <= hi)
    return and_(*parts)


def young_teacher_condition(ctx: Context) -> ColumnElement[bool]:
    return and_(Member.post_category.isnot(None), Member.post_category == "专任教师",
                Member.birth_date.isnot(None), Member.birth_date > ctx.bound_date(YOUNG_TEACHER_AGE))


def _range_for(f: QueryField, ctx: Context) -> Callable[[int | None, int | None], ColumnElement[bool]] | None:
    """Numeric fields whose conditions become ranges on a column."""
    if f.code == "age":
        return lambda lo, hi: _date_range(Member.birth_date, ctx, lo, hi)
    if f.code == "years_of_membership":
        return lambda lo, hi: _date_range(Member.union_join_date, ctx, lo, hi)
    if f.code == "children_count":
        return lambda lo, hi: _int_range(Member.children_count, lo, hi)
    if f.code == "birth_month":
        month = extract("month", Member.birth_date)
        return lambda lo, hi: and_(Member.birth_date.isnot(None), *([month >= lo] if lo is not None else []),
                                   *([month <= hi] if hi is not None else []))
    return None


def _choice_value(f: QueryField, ctx: Context) -> Callable[[str], ColumnElement[bool]] | None:
    """Derived choice fields: the condition for one of their values."""
    if f.code == "age_band":
        bands = {label: (lo, hi) for label, lo, hi in AGE_BANDS}
        return lambda v: _date_range(Member.birth_date, ctx, *bands[v])
    if f.code == "fertility":
        bands = {label: (lo, hi) for label, lo, hi in FERTILITY}
        return lambda v: _int_range(Member.children_count, *bands[v])
    if f.code == "young_teacher":
        return lambda v: young_teacher_condition(ctx) if v == YES else not_(young_teacher_condition(ctx))
    return None


def _present(f: QueryField) -> ColumnElement[bool]:
    """The field has a value (two-valued)."""
    if f.code in ("age", "age_band", "birth_month"):
        return Member.birth_date.isnot(None)
    if f.code == "years_of_membership":
        return Member.union_join_date.isnot(None)
    if f.code in ("children_count", "fertility", "young_teacher"):
        return true()
    if f.type == cat.LIST:
        return Member.children_count > 0
    col = _col(f)
    if f.type == cat.MULTI:
        # A non-empty JSON list of strings always contains a double quote.
        return and_(col.isnot(None), type_coerce(col, String).like('%"%'))
    if f.type in (cat.TEXT, cat.LONGTEXT):
        return and_(col.isnot(None), col != "")
    return col.isnot(None)


def _any(parts: Iterable[ColumnElement[bool]]) -> ColumnElement[bool]:
    parts = list(parts)
    return parts[0] if len(parts) == 1 else or_(*parts)


def _leaf(c: Cond, ctx: Context) -> ColumnElement[bool]:
    f, op, v = c.field, c.op, c.value
    if op == "is_empty":
        return not_(_present(f))
    if op == "not_empty":
        return _present(f)
    if op in ("ne", "not_in"):
        return not_(_leaf(Cond(f, "eq" if op == "ne" else "in", v, c.path), ctx))
    if op == "eq" and f.type != cat.MULTI:
        return _leaf(Cond(f, "in", (v,), c.path), ctx)

    rng = _range_for(f, ctx)
    if rng is not None:
        if op == "in":
            return _any(rng(x, x) for x in v)
        if op == "gte":
            return rng(v, None)
        if op == "lte":
            return rng(None, v)
        if op == "between":
            return rng(v[0], v[1])
    choice = _choice_value(f, ctx)
    if choice is not None and op == "in":
        return _any(choice(x) for x in v)

    col = _col(f)
    if f.type == cat.MULTI:
        values = (v,) if op == "contains" else v
        return and_(col.isnot(None), _any(_json_contains(col, x) for x in values))
    if op == "in":
        return and_(col.isnot(None), col == v[0] if len(v) == 1 else col.in_(v))
    if op == "contains":
        return and_(col.isnot(None), col.like(f"%{_like_text(v)}%", escape=LIKE_ESCAPE))
    if op == "gte":
        return and_(col.isnot(None), col >= v)
    if op == "lte":
        return and_(col.isnot(None), col <= v)
    if op == "between":
        return and_(col.isnot(None), col >= v[0], col <= v[1])
    raise AssertionError(f"unhandled {f.code} {op}")  # parse() admits nothing else


def _json_contains(col, value: str) -> ColumnElement[bool]:  # noqa: ANN001
    ascii_form = json.dumps(value)  # what SQLAlchemy's default JSON serializer stored: "\u5de5…"
    literal_form = json.dumps(value, ensure_ascii=False)  # how MySQL 8 prints a binary JSON value
    forms = dict.fromkeys((ascii_form, literal_form))
    text = type_coerce(col, String)  # LIKE on the JSON text itself, no CAST
    return _any(text.like(f"%{_like_text(form)}%", escape=LIKE_ESCAPE) for form in forms)


def _years_since(col, ctx: Context) -> ColumnElement[int]:  # noqa: ANN001
    t = ctx.today
    birthday_not_yet = case(
        (extract("month", col) * 100 + extract("day", col) > literal(t.month * 100 + t.day), 1), else_=0
    )
    return (literal(t.year, Integer) - extract("year", col) - birthday_not_yet).cast(Integer)


def value_expr(f: QueryField, ctx: Context) -> ColumnElement[Any]:
    """The field's value as a SQL expression (derived ones computed in SQL)."""
    if not f.derived:
        return _col(f)
    return _derived_expr(f.code, ctx)


@lru_cache(maxsize=64)
def _derived_expr(code: str, ctx: Context) -> ColumnElement[Any]:
    """Built once per field and day and shared by every statement: SQLAlchemy expressions are
    immutable, and rebuilding the age formula took a fifth of building a query's statements."""
    if code == "age":
        return _years_since(Member.birth_date, ctx)
    if code == "years_of_membership":
        return _years_since(Member.union_join_date, ctx)
    if code == "children_count":
        return Member.children_count
    if code == "birth_month":
        return extract("month", Member.birth_date).cast(Integer)
    if code == "age_band":
        whens = [(Member.birth_date > ctx.bound_date(hi + 1), label) for label, _lo, hi in AGE_BANDS if hi is not None]
        whens.append((Member.birth_date.isnot(None), AGE_BANDS[-1][0]))
        return case(*whens, else_=None)
    if code == "fertility":
        return case(*[(Member.children_count == lo, label) for label, lo, hi in FERTILITY if hi is not None],
                    else_=FERTILITY[-1][0])
    if code == "young_teacher":
        return case((young_teacher_condition(ctx), YES), else_=NO)
    raise AssertionError(code)
