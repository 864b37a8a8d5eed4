"""The query language (统计 / 万能查询): one JSON filter shape for statistics, exports, dynamic
groups, activity and award eligibility.

A filter is ``{"all": [node, …]}``, ``{"any": [node, …]}``, ``{"not": node}`` (nested), or a
condition ``{"field": code, "op": op, "value": v}``. Fields come only from the catalogue plus
the derived fields below; every value is checked against its field's type; the filter compiles
to one SQLAlchemy condition whose values are all bound parameters, and :func:`where` always adds
the caller's scope. A bad filter raises ``Invalid`` naming the path inside it
(``filter.all[1].op``). No Flask here.

Semantics worth knowing:

- Every condition is two-valued: ``eq``/``in``/``gte``… are false for a member without a value,
  ``ne``/``not_in`` are true for them, so ``{"not": c}`` is exactly the complement of ``c``.
- Derived fields are computed in SQL relative to ``today`` (Asia/Shanghai, passed in as bound
  parameters, never the database's clock). Conditions on age, age band, years of membership and
  青年教师 are rewritten to date ranges on ``birth_date`` / ``union_join_date`` (index-friendly);
  grouping and row values use the equivalent year/month/day arithmetic (``EXTRACT``, which
  SQLAlchemy renders for SQLite as ``STRFTIME``).
- Multi-choice fields (a JSON list column) support ``contains`` (and ``in``/``not_in`` meaning
  contains any / none of) portably with ``LIKE`` on the JSON text and the quoted value, as a
  bound parameter: both the ``\\uXXXX`` form Python's json writes (SQLite, MariaDB) and the
  literal form MySQL 8 prints for its binary JSON are matched. Values must be one of the
  field's choices, which contain no quote, so ``"工会委员"`` cannot match inside another value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from server.core.errors import Invalid
from server.domain.members import catalogue as cat

OPS = ("eq", "ne", "in", "not_in", "contains", "gte", "lte", "between", "is_empty", "not_empty")
NUMBER = "number"
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    cat.TEXT: ("eq", "ne", "in", "not_in", "contains", "is_empty", "not_empty"),
    cat.LONGTEXT: ("contains", "is_empty", "not_empty"),
    cat.CHOICE: ("eq", "ne", "in", "not_in", "is_empty", "not_empty"),
    cat.MULTI: ("contains", "in", "not_in", "is_empty", "not_empty"),
    cat.LIST: ("is_empty", "not_empty"),
    cat.DATE: ("eq", "ne", "gte", "lte", "between", "is_empty", "not_empty"),
    NUMBER: ("eq", "ne", "in", "not_in", "gte", "lte", "between", "is_empty", "not_empty"),
    cat.REF: ("eq", "ne", "in", "not_in"),
}
OP_LABELS = {
    "eq": "等于", "ne": "不等于", "in": "属于", "not_in": "不属于", "contains": "包含", "gte": "大于等于",
    "lte": "小于等于", "between": "介于", "is_empty": "为空", "not_empty": "不为空",
}
MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_LIST = 500
MAX_TEXT = 200
LIKE_ESCAPE = "!"

AGE_BANDS: tuple[tuple[str, int | None, int | None], ...] = (
    ("30岁以下", None, 29),
    ("30-39岁", 30, 39),
    ("40-49岁", 40, 49),
    ("50-59岁", 50, 59),
    ("60岁及以上", 60, None),
)
FERTILITY: tuple[tuple[str, int, int | None], ...] = (("无", 0, 0), ("一孩", 1, 1), ("二孩", 2, 2), ("三孩及以上", 3, None))
YOUNG_TEACHER_AGE = 45  # 青年教师: 专任教师 under 45
YES, NO = "是", "否"


@dataclass(frozen=True)
class QueryField:
    """A field the language knows: a catalogue field or a derived one."""

    code: str
    label: str
    type: str
    choices: tuple[str, ...] = ()
    sensitive: bool = False
    derived: bool = False
    help: str = ""
    attr: str = ""  # the Member attribute of a stored field

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS_BY_TYPE[self.type]

    @property
    def groupable(self) -> bool:
        return self.type in (cat.CHOICE, cat.REF, NUMBER, cat.TEXT)

    @property
    def sortable(self) -> bool:
        return self.type in (cat.TEXT, cat.CHOICE, cat.DATE, NUMBER, cat.REF)

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "label": self.label, "type": self.type,
                               "ops": list(self.ops), "derived": self.derived, "sensitive": self.sensitive,
                               "groupable": self.groupable}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.help:
            out["help"] = self.help
        return out


DERIVED: tuple[QueryField, ...] = (
    QueryField("age", "年龄", NUMBER, derived=True, help="周岁，按北京时间的今天计算"),
    QueryField("age_band", "年龄段", cat.CHOICE, tuple(b[0] for b in AGE_BANDS), derived=True),
    QueryField("years_of_membership", "会龄", NUMBER, derived=True, help="自入会时间起的整年数"),
    QueryField("children_count", "子女数", NUMBER, derived=True),
    QueryField("fertility", "生育情况", cat.CHOICE, tuple(f[0] for f in FERTILITY), derived=True),
    QueryField("young_teacher", "青年教师", cat.CHOICE, (YES, NO), derived=True,
               help=f"岗位类别为专任教师且未满 {YOUNG_TEACHER_AGE} 周岁"),
    QueryField("birth_month", "出生月份", NUMBER, derived=True, help="1–12"),
)

FIELDS: dict[str, QueryField] = {
    **{f.code: QueryField(f.code, f.label, f.type, f.choices, f.sensitive, attr=f.attr) for f in cat.CATALOGUE},
    **{f.code: f for f in DERIVED},
}


# ---- the parsed form ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cond:
    field: QueryField
    op: str
    value: Any
    path: str


@dataclass(frozen=True)
class Group:
    kind: str  # all | any | not
    children: tuple[Node, ...]


Node = Cond | Group
EVERYTHING = Group("all", ())


def field(code: str) -> QueryField:
    return FIELDS[code]


def parse(raw: Any, *, allow_sensitive: bool = True, path: str = "filter") -> Node:
    """Validate a filter; raise ``Invalid`` naming every bad place (``filter.all[1].value``)."""
    errors: dict[str, str] = {}
    counter = [0]
    node = _parse(raw, path, 0, errors, counter, allow_sensitive)
    if errors:
        raise Invalid(errors, "查询条件有误：" + "；".join(f"{k} {v}" for k, v in list(errors.items())[:5]))
    return node


def _parse(raw: Any, path: str, depth: int, errors: dict[str, str], counter: list[int],
           allow_sensitive: bool) -> Node:
    if raw is None or raw == {}:
        return EVERYTHING
    if not isinstance(raw, dict):
        errors[path] = "应为对象：{\"all\": […]}、{\"any\": […]}、{\"not\": …} 或 {\"field\", \"op\", \"value\"}"
        return EVERYTHING
    if depth >= MAX_DEPTH:
        errors[path] = f"嵌套不能超过 {MAX_DEPTH} 层"
        return EVERYTHING
    groups = [k for k in ("all", "any", "not") if k in raw]
    if groups:
        if len(raw) != 1:
            errors[path] = "all、any、not 只能单独出现在一个对象中"
            return EVERYTHING
        kind = groups[0]
        value = raw[kind]
        if kind == "not":
            if not isinstance(value, dict):
                errors[f"{path}.not"] = "应为一个条件对象"
                return EVERYTHING
            return Group("not", (_parse(value, f"{path}.not", depth + 1, errors, counter, allow_sensitive),))
        if not isinstance(value, list):
            errors[f"{path}.{kind}"] = "应为条件列表"
            return EVERYTHING
        return Group(kind, tuple(_parse(item, f"{path}.{kind}[{i}]", depth + 1, errors, counter, allow_sensitive)
                                 for i, item in enumerate(value)))
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        errors.setdefault("filter", f"条件不能超过 {MAX_CONDITIONS} 个")
        return EVERYTHING
    unknown = set(raw) - {"field", "op", "value"}
    if unknown:
        errors[f"{path}.{_safe(sorted(map(str, unknown))[0])}"] = "未知的键（条件只有 field、op、value）"
        return EVERYTHING
    code, op = raw.get("field"), raw.get("op")
    if not isinstance(code, str) or code not in FIELDS:
        errors[f"{path}.field"] = ("缺少字段" if code is None else f"未知字段「{_safe(code)}」")
        return EVERYTHING
    f = FIELDS[code]
    if f.sensitive and not allow_sensitive:
        errors[f"{path}.field"] = f"当前账号无权按敏感字段「{f.label}」查询"
        return EVERYTHING
    if not isinstance(op, str) or op not in OPS:
        errors[f"{path}.op"] = "缺少运算符" if op is None else f"未知运算符「{_safe(op)}」，可用：{'、'.join(OPS)}"
        return EVERYTHING
    if op not in f.ops:
        errors[f"{path}.op"] = f"「{f.label}」不支持运算符 {op}，可用：{'、'.join(f.ops)}"
        return EVERYTHING
    try:
        value = _value(f, op, raw.get("value"), "value" in raw)
    except ValueError as exc:
        errors[f"{path}.value"] = str(exc)
        return EVERYTHING
    return Cond(f, op, value, path)


def _safe(text: Any) -> str:
    """A user-supplied name, shortened, for an error message."""
    return str(text)[:40]


def _value(f: QueryField, op: str, raw: Any, given: bool) -> Any:
    if op in ("is_empty", "not_empty"):
        if raw is not None:
            raise ValueError(f"运算符 {op} 不需要值")
        return None
    if not given or raw is None:
        raise ValueError("缺少值")
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw:
            raise ValueError("应为非空列表")
        if len(raw) > MAX_LIST:
            raise ValueError(f"列表不能超过 {MAX_LIST} 项")
        return tuple(dict.fromkeys(_scalar(f, v, f"第 {i + 1} 项") for i, v in enumerate(raw)))
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise ValueError("应为 [下限, 上限] 两项")
        lo, hi = _scalar(f, raw[0], "下限"), _scalar(f, raw[1], "上限")
        if lo > hi:
            raise ValueError("下限不能大于上限")
        return (lo, hi)
    return _scalar(f, raw, "")


def _scalar(f: QueryField, v: Any, where: str) -> Any:
    if f.type in (cat.CHOICE, cat.MULTI):
        if not isinstance(v, str) or v not in f.choices:
            shown = "、".join(f.choices[:12]) + ("……" if len(f.choices) > 12 else "")
            raise ValueError(f"{where}应为「{f.label}」的可选值之一：{shown}")
        return v
    if f.type in (cat.TEXT, cat.LONGTEXT):
        if not isinstance(v, str):
            raise ValueError(f"{where}应为文本")
        if not v or len(v) > MAX_TEXT:
            raise ValueError(f"{where}应为 1–{MAX_TEXT} 个字符")
        return v
    if f.type == cat.DATE:
        if isinstance(v, str) and len(v) == 10:
            try:
                return date.fromisoformat(v)
            except ValueError:
                pass
        raise ValueError(f"{where}应为日期（YYYY-MM-DD）")
    if f.type in (NUMBER, cat.REF):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{where}应为整数")
        low, high = (1, 2**63 - 1) if f.type == cat.REF else (-100_000, 100_000)
        if f.code == "birth_month":
            low, high = 1, 12
        if not low <= v <= high:
            raise ValueError(f"{where}应在 {low} 到 {high} 之间")
        return v
    raise ValueError("该字段不能按值查询")


# ---- compiling --------------------------------------------------------------------------------


# ---- values in SQL (row values, grouping, sorting) ----------------------------------------------


# ---- field lists, grouping and sorting (validated like filters) ----------------------------------


def check_fields(codes: Any, *, path: str = "fields", allow_empty: bool = False) -> list[str]:
    if codes is None:
        codes = []
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise Invalid({path: "应为字段编码列表"})
    if not codes and not allow_empty:
        raise Invalid({path: "至少选择一个字段"})
    bad = {f"{path}[{i}]": f"未知字段「{_safe(c)}」" for i, c in enumerate(codes) if c not in FIELDS}
    if bad:
        raise Invalid(bad)
    return list(dict.fromkeys(codes))


def check_group_by(codes: Any, *, allow_sensitive: bool, path: str = "group_by") -> list[str]:
    if not isinstance(codes, list) or not 1 <= len(codes) <= 2 or not all(isinstance(c, str) for c in codes):
        raise Invalid({path: "应为一到两个字段编码的列表"})
    errors = {}
    for i, code in enumerate(codes):
        f = FIELDS.get(code)
        if f is None:
            errors[f"{path}[{i}]"] = f"未知字段「{_safe(code)}」"
        elif not f.groupable:
            errors[f"{path}[{i}]"] = f"「{f.label}」不能用于分组"
        elif f.sensitive and not allow_sensitive:
            errors[f"{path}[{i}]"] = f"当前账号无权按敏感字段「{f.label}」分组"
    if len(codes) == 2 and codes[0] == codes[1]:
        errors[f"{path}[1]"] = "两个分组字段不能相同"
    if errors:
        raise Invalid(errors)
    return codes


def check_sort(keys: Any, *, allow_sensitive: bool, path: str = "sort") -> list[tuple[QueryField, bool]]:
    """``["-age", "name"]`` → [(field, descending)]."""
    if keys is None:
        return []
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or len(keys) > 3 or not all(isinstance(k, str) for k in keys):
        raise Invalid({path: "应为最多三个字段编码的列表，前加 - 为倒序"})
    out = []
    for i, key in enumerate(keys):
        code = key[1:] if key.startswith("-") else key
        f = FIELDS.get(code)
        if f is None or not f.sortable or (f.sensitive and not allow_sensitive):
            raise Invalid({f"{path}[{i}]": f"不能按「{_safe(code)}」排序"})
        out.append((f, key.startswith("-")))
    return out
