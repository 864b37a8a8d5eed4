"""A cell of an imported sheet as the registry takes it: text from numbers typed as numbers,
dates read as an office writes them (:mod:`.sheet_dates`), values normalised per the field's
catalogue rule (:mod:`.normalise`, each change counted), 、-separated multiple choices, the
子女信息 list, and a 所属分工会 name turned into its id. A cell that cannot be read raises
ValueError saying why."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from server.domain.members import catalogue as cat
from server.domain.members import normalise, sheet_dates

MULTI_SEPARATORS = re.compile(r"[、,，;；\n]")
CHILD_SEPARATORS = re.compile(r"[；;\n]+")
CHILD_PARTS = re.compile(r"[/／,，]")
NONE_WORDS = ("无", "没有", "-", "—", "/")  # an explicit "no children" (an empty cell changes nothing)


def _nearest_sub_union(key: str, sub_unions: Mapping[str, int]) -> str:
    """「，是否为「计算机学院分工会」？」 for 计算机学院; compared without the 分工会 every name
    ends with (外星分工会 is not close to 空分工会)."""
    def bare(name: str) -> str:
        return name.removesuffix("分工会").removesuffix("工会") or name

    names = {bare(n): n for n in sub_unions if not n.isascii()}  # names, not codes
    near = difflib.get_close_matches(bare(key), list(names), n=1, cutoff=0.6)
    return f"，是否为「{names[near[0]]}」？" if near else ""


def number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert_cell(f: cat.FieldDef, value: Any, sub_unions: Mapping[str, int] | None = None,
                 tally: normalise.Tally | None = None) -> Any:
    """A cell's value as the registry takes it (None for nothing), or raise ValueError saying
    why it cannot be read. Normalisations applied are counted in ``tally``."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    if f.type == cat.DATE:
        return sheet_dates.read(f, value, tally)
    if isinstance(value, bool):
        value = "是" if value else "否"
    if f.type == cat.REF:
        key = number_text(value) if isinstance(value, (int, float)) else str(value)
        if sub_unions is None:
            return key
        if key not in sub_unions:
            raise ValueError(f"分工会「{key[:30]}」不存在{_nearest_sub_union(key, sub_unions)}")
        return sub_unions[key]
    if isinstance(value, (int, float)):
        if f.code == "id_number" and isinstance(value, float) and abs(value) >= 1e15:
            raise ValueError("请按文本填写证件号码（数字格式会被 Excel 改成科学计数法并丢失末几位）")
        value = number_text(value)
    elif isinstance(value, datetime):
        value = value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    elif isinstance(value, (date, time)):
        value = value.isoformat()
    elif not isinstance(value, str):
        value = str(value)
    if f.normalise:
        value = normalise.apply(f, value, tally)
    if f.type == cat.MULTI:
        return [v.strip() for v in MULTI_SEPARATORS.split(value) if v.strip()]
    if f.type == cat.LIST:
        return parse_children(value, tally)
    return value


_CHILD_NAME, _CHILD_BIRTH = (next(p for p in cat.BY_CODE["children"].items if p.code == code)
                             for code in ("name", "birth_date"))


def parse_children(text: str, tally: normalise.Tally | None = None) -> list[dict[str, str]]:
    """「张三/男/2015-03-02；李四/女/2018年5月1日」 → [{name, gender, birth_date}, …]; 「无」 → [].
    Names and dates are read as in their own columns."""
    if text.strip() in NONE_WORDS:
        return []
    out = []
    for entry in (e.strip() for e in CHILD_SEPARATORS.split(text)):
        if not entry:
            continue
        parts = [p.strip() for p in CHILD_PARTS.split(entry, maxsplit=2)]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"第 {len(out) + 1} 项「{entry[:30]}」应写作 姓名/性别/出生日期")
        try:
            born = sheet_dates.read(_CHILD_BIRTH, parts[2], tally)
        except ValueError as exc:
            raise ValueError(f"第 {len(out) + 1} 项出生日期{exc}") from None
        out.append({"name": normalise.apply(_CHILD_NAME, parts[0], tally), "gender": parts[1],
                    "birth_date": born.isoformat()})
    return out
