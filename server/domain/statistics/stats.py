"""Statistics: the universal query, summaries ready for a chart, and presets (built-in and saved).

Everything here reads members through :func:`server.domain.statistics.query.where`, i.e. through the
caller's scope, so a sub-union account's figures are exactly the school's figures for that
sub-union. Sensitive fields come back masked unless the reader may see them (the scope of
``members.read_sensitive``), and only such readers may filter, group or sort by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from server.core import audit
from server.core.access import Identity, Scope, require
from server.core.db import plain_rows
from server.core.errors import Forbidden, Invalid, NotFound
from server.domain.members import catalogue as cat
from server.domain.members import registry
from server.domain.members.models import Member
from server.domain.members.registry import MemberQuery, mask_value
from server.domain.org.models import SubUnion
from server.domain.statistics import compiler, policy
from server.domain.statistics import query as ql
from server.domain.statistics.models import StatsPreset

EMPTY_LABEL = "未填写"
DEFAULT_FIELDS = ["name", "gender", "age", "sub_union", "department", "post_category", "title_level", "mobile"]
MAX_GROUPS = 1000
ACTIVE = {"field": "membership_status", "op": "in", "value": ["正常", "保留会籍"]}
SERVING = {"field": "employment_status", "op": "eq", "value": "在职"}


# ---- who reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    identity: Identity
    scope: Scope  # whose members
    sensitive: Scope  # whose sensitive values appear in clear

    @property
    def allow_sensitive(self) -> bool:
        """May filter, group and sort by sensitive fields: only if every member in reach is one
        whose sensitive values the reader may see anyway."""
        if self.sensitive.everything:
            return True
        return not self.scope.everything and self.scope.sub_union_ids <= self.sensitive.sub_union_ids

    def sees(self, sub_union_id: int | None, member_id: int | None = None) -> bool:
        if member_id is not None and member_id == self.identity.member_id:
            return True
        return self.sensitive.covers(sub_union_id)


def reader(identity: Identity | None, permission: str = "stats.read") -> Reader:
    scope = require(identity, permission)
    return Reader(identity, scope, identity.scope("members.read_sensitive"))


def sub_union_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(SubUnion.id, SubUnion.name)).all())


# ---- the universal query ---------------------------------------------------------------------


def query_statements(scope: Scope, node: ql.Node, codes: list[str], order: list[tuple[ql.QueryField, bool]],
                     page: int, page_size: int, ctx: compiler.Context) -> tuple[Select, Select, dict[str, Any]]:
    """(count, page, parameters) — the two statements of a query; the page carries the
    sub-union's name.

    The statements are built once per question — filter, fields, order, day, and whether a
    scope applies — and then run with the asker's scope ids and page as parameters, like
    prepared statements: a preset asked by every sub-union, page after page, is built once.
    Building them (and SQLAlchemy's cache key for a new statement) was the largest part of
    a query's own time. Every parameter is required, so a statement cannot run without the
    asker's scope.
    """
    names, params = registry.filter_values(scope, MemberQuery())
    count_stmt, page_stmt = _query_template(names, node, tuple(codes), tuple(order), ctx)
    return count_stmt, page_stmt, params | registry.page_params(page, page_size)


@lru_cache(maxsize=256)
def _query_template(scope: tuple[str, ...], node: ql.Node, codes: tuple[str, ...],
                    order: tuple[tuple[ql.QueryField, bool], ...], ctx: compiler.Context) -> tuple[Select, Select]:
    conds = [*registry.template_conditions(scope), *compiler.filter_conditions(node, ctx)]
    count_stmt = select(func.count(Member.id)).where(*conds)
    cols = [Member.id, Member.sub_union_id, SubUnion.name.label("sub_union_name")]
    cols += [compiler.value_expr(ql.FIELDS[c], ctx).label(f"f_{c}") for c in codes]
    order_by = [(compiler.value_expr(f, ctx).desc() if desc else compiler.value_expr(f, ctx).asc()) for f, desc in order]
    page_stmt = (select(*cols).outerjoin(SubUnion, SubUnion.id == Member.sub_union_id).where(*conds)
                 .order_by(*order_by, Member.id.asc()))
    return count_stmt, registry.paged(page_stmt)


def run_query(session: Session, identity: Identity | None, raw_filter: Any, fields: Any = None, sort: Any = None,
              page: int = 1, page_size: int = 20, *, today: date | None = None) -> dict[str, Any]:
    """``{total, rows}``: one page of the chosen fields of the members matching the filter."""
    rd = reader(identity)
    node = ql.parse(raw_filter, allow_sensitive=rd.allow_sensitive)
    codes = ql.check_fields(DEFAULT_FIELDS if fields is None else fields)
    order = ql.check_sort(sort, allow_sensitive=rd.allow_sensitive)
    count_stmt, page_stmt, params = query_statements(rd.scope, node, codes, order, page, page_size,
                                                     compiler.context(today))
    total = plain_rows(session, count_stmt, params).scalar() or 0
    rows = []
    for r in plain_rows(session, page_stmt, params).all() if total else ():
        clear = rd.sees(r[1], r[0])
        row: dict[str, Any] = {"id": r[0]}
        masked = []
        for code, value in zip(codes, r[3:], strict=True):
            if not clear and ql.FIELDS[code].sensitive and value not in (None, ""):
                value = mask_value(code, value)
                masked.append(code)
            row[code] = value
        if "sub_union" in codes:
            row["sub_union_name"] = r[2]
        if masked:
            row["masked_fields"] = masked
        rows.append(row)
    return {"total": total, "page": page, "page_size": page_size, "fields": codes,
            "labels": [ql.FIELDS[c].label for c in codes], "rows": rows}


# ---- summaries -------------------------------------------------------------------------------


def _ordered_keys(f: ql.QueryField, keys: set[Any],
                  sub_unions: dict[Any, tuple[int, str]]) -> list[tuple[Any, str]]:
    """(key, label) in the order a person expects: catalogue order, sub-union order, numbers up.
    ``sub_unions`` maps a sub-union key to its (sort_order, name)."""
    present = [k for k in keys if k is not None]
    if f.type == cat.REF:
        known = sorted((k for k in present if k in sub_unions), key=lambda k: (sub_unions[k][0], k))
        out = [(k, sub_unions[k][1]) for k in known] + [(k, str(k)) for k in present if k not in sub_unions]
    elif f.type == cat.CHOICE:
        rank = {c: i for i, c in enumerate(f.choices)}
        out = [(k, str(k)) for k in sorted(present, key=lambda k: (rank.get(k, len(rank)), str(k)))]
    elif f.type == ql.NUMBER:
        out = [(k, f"{k}") for k in sorted(present)]
    else:
        out = [(k, str(k)) for k in sorted(present, key=str)]
    if None in keys:
        out.append((None, EMPTY_LABEL))
    return out


def summarize(session: Session, identity: Identity | None, raw_filter: Any, group_by: Any, *,
              today: date | None = None, rd: Reader | None = None) -> dict[str, Any]:
    """Counts per group (one or two dimensions) with totals, and chart-ready labels and series."""
    rd = rd or reader(identity)
    node = ql.parse(raw_filter, allow_sensitive=rd.allow_sensitive)
    codes = ql.check_group_by(group_by, allow_sensitive=rd.allow_sensitive)
    return _summary(session, rd, node, codes, compiler.context(today))


def summary_statement(scope: Scope, node: ql.Node, codes: list[str],
                      ctx: compiler.Context) -> tuple[Select, int | None, dict[str, Any]]:
    """The one statement of a summary — a row per group: its keys, then, when one dimension is
    the sub-union, that sub-union's sort order and name, and last the count — the index of
    the sub-union dimension (None without one), and the statement's parameters. Built once
    per question, like :func:`query_statements`."""
    names, params = registry.filter_values(scope, MemberQuery())
    stmt, ref = _summary_template(names, node, tuple(codes), ctx)
    return stmt, ref, params


@lru_cache(maxsize=256)
def _summary_template(scope: tuple[str, ...], node: ql.Node, codes: tuple[str, ...],
                      ctx: compiler.Context) -> tuple[Select, int | None]:
    dims = [ql.FIELDS[c] for c in codes]
    inner = select(*[compiler.value_expr(f, ctx).label(f"d{i}") for i, f in enumerate(dims)]).where(
        *registry.template_conditions(scope), *compiler.filter_conditions(node, ctx)).subquery()
    keys = [inner.c[f"d{i}"] for i in range(len(dims))]
    # The sub-union dimension (the one REF field) brings each group's sub-union name and place
    # along, joined to the grouped rows rather than looked up by a second query: a sub-union
    # account's summary is cheap enough that the extra round trip was a visible part of it.
    ref = next((i for i, f in enumerate(dims) if f.type == cat.REF), None)
    stmt = select(*keys, func.count().label("n")).group_by(*keys)
    if ref is not None:
        grouped = stmt.subquery()
        gkeys = [grouped.c[f"d{i}"] for i in range(len(dims))]
        stmt = select(*gkeys, SubUnion.sort_order, SubUnion.name, grouped.c.n).outerjoin(
            SubUnion, SubUnion.id == gkeys[ref])
    return stmt, ref


def _summary(session: Session, rd: Reader, node: ql.Node, codes: list[str], ctx: compiler.Context) -> dict[str, Any]:
    dims = [ql.FIELDS[c] for c in codes]
    stmt, ref, params = summary_statement(rd.scope, node, codes, ctx)
    counts: dict[tuple[Any, ...], int] = {}
    sub_unions: dict[Any, tuple[int, str]] = {}
    for r in plain_rows(session, stmt, params):
        counts[tuple(r[:len(dims)])] = r[-1]
        if ref is not None and r[-2] is not None:
            sub_unions[r[ref]] = (r[-3], r[-2])
    if len(counts) > MAX_GROUPS:
        raise Invalid({"group_by": f"分组过多（{len(counts)} 组），请换用取值较少的字段或加筛选条件"})
    total = sum(counts.values())
    axes = [_ordered_keys(f, {k[i] for k in counts}, sub_unions) for i, f in enumerate(dims)]
    out: dict[str, Any] = {
        "total": total,
        "dimensions": [{"field": f.code, "label": f.label} for f in dims],
        "groups": [],
    }
    if len(dims) == 1:
        for key, label in axes[0]:
            out["groups"].append({"keys": [key], "labels": [label], "count": counts[(key,)]})
        out["chart"] = {"type": "bar", "labels": [lbl for _, lbl in axes[0]],
                        "series": [{"name": "人数", "data": [counts[(k,)] for k, _ in axes[0]]}]}
        return out
    for k0, l0 in axes[0]:
        for k1, l1 in axes[1]:
            if (k0, k1) in counts:
                out["groups"].append({"keys": [k0, k1], "labels": [l0, l1], "count": counts[(k0, k1)]})
    out["totals"] = {
        "rows": [{"key": k0, "label": l0, "count": sum(v for (a, _), v in counts.items() if a == k0)}
                 for k0, l0 in axes[0]],
        "columns": [{"key": k1, "label": l1, "count": sum(v for (_, b), v in counts.items() if b == k1)}
                    for k1, l1 in axes[1]],
    }
    out["chart"] = {"type": "bar", "stacked": True, "labels": [l0 for _, l0 in axes[0]],
                    "series": [{"name": l1, "data": [counts.get((k0, k1), 0) for k0, _ in axes[0]]}
                               for k1, l1 in axes[1]]}
    return out


# ---- presets ---------------------------------------------------------------------------------


def builtin_presets(today: date | None = None) -> list[dict[str, Any]]:
    """The common questions, ready out of the box (filters relative to today where needed)."""
    today = today or compiler.context().today
    rows_fields = ["name", "gender", "age", "sub_union", "department", "post_category", "title_level"]
    return [
        {"id": "members_by_sub_union", "name": "各分工会会员人数", "description": "会籍正常或保留会籍的会员，按分工会统计",
         "filter": {"all": [ACTIVE]}, "group_by": ["sub_union"]},
        {"id": "young_teachers", "name": "45岁以下青年教师", "description": "在职专任教师中未满 45 周岁者",
         "filter": {"all": [ACTIVE, SERVING, {"field": "young_teacher", "op": "eq", "value": "是"}]},
         "fields": rows_fields},
        {"id": "senior_titles", "name": "高级职称（正高+副高）", "description": "按分工会与级别统计",
         "filter": {"all": [ACTIVE, {"field": "title_level", "op": "in", "value": ["正高", "副高"]}]},
         "group_by": ["sub_union", "title_level"]},
        {"id": "unmarried", "name": "未婚职工", "description": "在职会员中婚姻状况为未婚者",
         "filter": {"all": [ACTIVE, SERVING, {"field": "marital_status", "op": "eq", "value": "未婚"}]},
         "fields": rows_fields + ["marital_status"]},
        {"id": "one_child", "name": "一孩职工", "description": "在职会员中有一个子女者",
         "filter": {"all": [ACTIVE, SERVING, {"field": "fertility", "op": "eq", "value": "一孩"}]},
         "fields": rows_fields + ["children_count"]},
        {"id": "birthdays_this_month", "name": "本月过生日", "description": f"{today.month} 月出生的会员（生日慰问）",
         "filter": {"all": [ACTIVE, {"field": "birth_month", "op": "eq", "value": today.month}]},
         "fields": ["name", "gender", "birth_date", "age", "sub_union", "department", "mobile"],
         "sort": ["birth_date"]},
        {"id": "retiring_soon", "name": "即将退休（一年内）",
         "description": "在职会员中一年内到达法定退休年龄者（男 60 周岁、女 55 周岁，按当前已满 59 / 54 周岁计）",
         "filter": {"all": [ACTIVE, SERVING, {"any": [
             {"all": [{"field": "gender", "op": "eq", "value": "男"}, {"field": "age", "op": "gte", "value": 59}]},
             {"all": [{"field": "gender", "op": "eq", "value": "女"}, {"field": "age", "op": "gte", "value": 54}]},
         ]}]},
         "fields": ["name", "gender", "birth_date", "age", "sub_union", "department", "post_category"],
         "sort": ["birth_date"]},
        {"id": "by_gender", "name": "按性别统计", "filter": {"all": [ACTIVE]}, "group_by": ["gender"]},
        {"id": "by_education", "name": "按学历统计", "filter": {"all": [ACTIVE]}, "group_by": ["education"]},
        {"id": "by_age_band", "name": "按年龄段统计", "filter": {"all": [ACTIVE, SERVING]}, "group_by": ["age_band"]},
    ]


def _preset_out(p: StatsPreset, identity: Identity) -> dict[str, Any]:
    return {"id": str(p.id), "name": p.name, "description": p.description, "filter": p.filter,
            "fields": p.fields, "group_by": p.group_by, "builtin": False, "shared": p.shared,
            "mine": p.owner_user_id == identity.user_id, "created_at": p.created_at}


def list_presets(session: Session, identity: Identity | None) -> list[dict[str, Any]]:
    """Built-in presets, then the caller's own and every shared one."""
    reader(identity)
    out = [{**p, "builtin": True, "shared": True, "mine": False} for p in builtin_presets()]
    saved = session.scalars(
        select(StatsPreset).where(or_(StatsPreset.owner_user_id == identity.user_id, StatsPreset.shared.is_(True)))
        .order_by(StatsPreset.id)
    )
    return out + [_preset_out(p, identity) for p in saved]


def create_preset(session: Session, identity: Identity | None, data: dict[str, Any]) -> dict[str, Any]:
    rd = reader(identity)
    name = (data.get("name") or "").strip() if isinstance(data.get("name"), str) else ""
    if not 1 <= len(name) <= 100:
        raise Invalid({"name": "名称应为 1–100 个字符"})
    ql.parse(data.get("filter"), allow_sensitive=rd.allow_sensitive)
    fields = ql.check_fields(data["fields"]) if data.get("fields") else None
    group_by = ql.check_group_by(data["group_by"], allow_sensitive=rd.allow_sensitive) if data.get("group_by") else None
    preset = StatsPreset(name=name, description=(data.get("description") or None), filter=data.get("filter") or {},
                         fields=fields, group_by=group_by, owner_user_id=identity.user_id,
                         shared=bool(data.get("shared")))
    session.add(preset)
    session.flush()
    audit.record(session, identity, "stats.preset.create", object_type="stats_preset", object_id=preset.id,
                 new={"name": name, "shared": preset.shared, "filter": preset.filter})
    return _preset_out(preset, identity)


NOT_MINE = "查询方案不存在"


def _visible(session: Session, identity: Identity, preset_id: str) -> dict[str, Any] | StatsPreset:
    for p in builtin_presets():
        if p["id"] == preset_id:
            return p
    if not preset_id.isdigit() or len(preset_id) > 18:
        raise NotFound(NOT_MINE)
    preset = session.get(StatsPreset, int(preset_id))
    if preset is None or not policy.preset_visible(identity, preset):
        raise NotFound(NOT_MINE)
    return preset


def delete_preset(session: Session, identity: Identity | None, preset_id: str) -> None:
    """Only its owner deletes a saved preset. Anyone else — a shared preset's other users
    included — is answered as for an id that exists nowhere, with words true of both."""
    reader(identity)
    preset = _visible(session, identity, preset_id)
    if isinstance(preset, dict):
        raise Forbidden("内置查询方案不能删除")
    if not policy.may_delete_preset(identity, preset):
        raise NotFound(NOT_MINE)
    audit.record(session, identity, "stats.preset.delete", object_type="stats_preset", object_id=preset.id,
                 old={"name": preset.name, "filter": preset.filter})
    session.delete(preset)
    session.flush()


def run_preset(session: Session, identity: Identity | None, preset_id: str, page: int = 1, page_size: int = 20,
               *, today: date | None = None) -> dict[str, Any]:
    """Run a preset in the runner's scope: a summary when it groups, else a page of rows."""
    reader(identity)
    preset = _visible(session, identity, preset_id)
    meta = preset if isinstance(preset, dict) else _preset_out(preset, identity)
    shown = {k: meta.get(k) for k in ("id", "name", "description", "builtin", "filter", "group_by")}
    if meta.get("group_by"):
        return {"preset": shown, "kind": "summary",
                "summary": summarize(session, identity, meta["filter"], meta["group_by"], today=today)}
    return {"preset": shown, "kind": "rows",
            "result": run_query(session, identity, meta["filter"], meta.get("fields"), meta.get("sort"),
                                page, page_size, today=today)}
