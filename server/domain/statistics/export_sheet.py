"""Writing an export's workbook: one streamed sheet of the chosen columns (openpyxl write-only
mode, so 100,000 rows stay in bounded memory), a summary sheet, and every text cell made safe
from formula injection."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.members.registry import mask_value
from server.domain.statistics import compiler, stats
from server.domain.statistics import query as ql

FORMULA_START = frozenset("=+-@")


PROGRESS_EVERY = 5000

# The provincial worker-service platform's registration layout (河北省职工服务平台, and the
# 秦工之家 online joining form): header → source field. 工作单位 is the member's department,
# or their sub-union when no department is recorded.
TEMPLATES: dict[str, dict[str, Any]] = {
    "provincial": {
        "name": "河北省职工服务平台 / 秦工之家 会员登记",
        "file": "职工服务平台会员登记",
        "columns": [("姓名", "name"), ("性别", "gender"), ("民族", "ethnicity"), ("身份证号", "id_number"),
                    ("手机号码", "mobile"), ("学历", "education"), ("政治面貌", "political_status"),
                    ("工作单位", "work_unit"), ("入会时间", "union_join_date")],
    },
}

@dataclass
class ExportRequest:
    filter: Any
    node: ql.Node
    fields: list[str]
    group_by: list[str] | None
    template: str | None


ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")  # what openpyxl refuses in a cell


@dataclass
class Column:
    header: str
    source: str  # a query field code, or "work_unit"
    width: float
    fix: Callable[[Any, tuple], Any] | None  # (value, row) → cell value, for non-None values
    text: bool = False  # free text: checked for formula-like starts and control characters


def _width(f: ql.QueryField, header: str) -> float:
    by_code = {"name": 10, "id_number": 22, "mobile": 14, "email": 26, "home_address": 36, "staff_no": 12,
               "member_no": 14, "department": 24, "sub_union": 24, "work_unit": 24}
    if f.code in by_code:
        return by_code[f.code]
    if f.type == cat.DATE:
        return 12
    if f.type == cat.LONGTEXT:
        return 40
    if f.type == cat.LIST:
        return 36
    if f.type == cat.MULTI:
        return 24
    return min(max(len(header) * 2 + 2, 10), 30)


def _columns(ws, rd: stats.Reader, req: ExportRequest, names: dict[int, str]) -> tuple[list[str], list[Column]]:  # noqa: ANN001
    """The SQL value codes to select, and the sheet's columns reading them."""
    headers = dict(TEMPLATES[req.template]["columns"]) if req.template else {}
    headers = {code: h for h, code in headers.items()} if headers else {}

    def text(v: str, _r: tuple) -> Any:
        return _safe_text(ws, v)

    select_codes: list[str] = []
    cols: list[Column] = []
    for code in req.fields:
        if code == "work_unit":
            for needed in ("department", "sub_union"):
                if needed not in select_codes:
                    select_codes.append(needed)
            i_dep, i_sub = select_codes.index("department"), select_codes.index("sub_union")
            def work_unit(_v: Any, r: tuple, a: int = i_dep, b: int = i_sub) -> Any:
                unit = r[2 + a] or names.get(r[2 + b])
                return _safe_text(ws, unit) if unit else unit

            cols.append(Column(headers.get(code, "工作单位"), code, 24, work_unit))
            continue
        f = ql.FIELDS[code]
        if code not in select_codes:
            select_codes.append(code)
        header = headers.get(code) or f.label
        fix: Callable[[Any, tuple], Any] | None = None
        if f.sensitive and not rd.sensitive.everything:
            def fix(v: Any, r: tuple, c: str = code) -> Any:
                v = v if rd.sees(r[1], r[0]) else mask_value(c, v)
                return text(v, r) if isinstance(v, str) and v else v
        elif f.type == cat.REF:
            def fix(v: Any, _r: tuple) -> Any:
                return names.get(v, v)
        elif f.type == cat.MULTI:
            def fix(v: Any, _r: tuple) -> Any:
                return "、".join(v) if v else None
        elif f.type == cat.LIST:
            def fix(v: Any, _r: tuple) -> Any:
                return "；".join(
                    f"{c.get('name', '')}（{c.get('gender', '')}，{c.get('birth_date', '')}）" for c in v) or None
        elif f.type in (cat.TEXT, cat.LONGTEXT):
            fix = text
        cols.append(Column(header, code, _width(f, header), fix, text=fix is text))
    return select_codes, cols


def _safe_text(ws, v: str) -> Any:  # noqa: ANN001
    """Free text as Excel must show it: formula-like text as a quoted text cell, no control characters."""
    if v[:1] in FORMULA_START or (v[:1] == "#" and v in ERROR_CODES):
        return formula_safe_cell(ws, v)
    if ILLEGAL.search(v):
        return ILLEGAL.sub("", v)
    return v


def formula_safe_cell(ws, value: str) -> WriteOnlyCell:  # noqa: ANN001
    """A text cell that Excel shows as typed, even '=1+1' or '@SUM(A1)'."""
    cell = WriteOnlyCell(ws, value=ILLEGAL.sub("", value))
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def write(session: Session, rd: stats.Reader, req: ExportRequest, target: Any, *, today: date | None = None,
          progress: Callable[[int], None] | None = None) -> int:
    """Stream the matching members into an .xlsx at ``target`` (a path or a binary stream).
    Returns the number of rows written."""
    ctx = compiler.context(today)
    names = stats.sub_union_names(session)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员明细")
    select_codes, cols = _columns(ws, rd, req, names)
    ws.freeze_panes = "A2"
    for i, col in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    header = []
    for col in cols:
        cell = WriteOnlyCell(ws, value=col.header)
        cell.font, cell.fill = bold, fill
        header.append(cell)
    ws.append(header)

    exprs = [compiler.value_expr(ql.FIELDS[c], ctx).label(f"f_{c}") for c in select_codes]
    stmt = (select(Member.id, Member.sub_union_id, *exprs).where(*compiler.where(rd.scope, req.node, ctx))
            .order_by(Member.sub_union_id, Member.id))
    position = {code: 2 + i for i, code in enumerate(select_codes)}
    aligned = [c.source for c in cols] == select_codes  # the row's values are the columns, in order
    readers = [(position.get(c.source), c.fix) for c in cols]
    texts = tuple(j for j, c in enumerate(cols) if c.text)
    others = [(j, c.fix) for j, c in enumerate(cols) if c.fix is not None and not c.text]
    written = 0
    append = ws.append
    for r in session.execute(stmt.execution_options(yield_per=2000)):
        if aligned:
            # The common case, kept lean: copy the row, fix only what needs it.
            row = list(r[2:])
            for j, fix in others:
                if row[j] is not None:
                    row[j] = fix(row[j], r)
            risky = False
            for j in texts:
                v = row[j]
                if v and (v[0] in FORMULA_START or v[0] == "#"):
                    risky = True
            if risky or ILLEGAL.search("\n".join([row[j] for j in texts if row[j]])):
                for j in texts:
                    if row[j]:
                        row[j] = _safe_text(ws, row[j])
        else:
            row = []
            for pos, fix in readers:
                v = r[pos] if pos is not None else None
                if fix is not None and (v is not None or pos is None):
                    v = fix(v, r)
                row.append(v)
        append(row)
        written += 1
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written)
    if req.group_by:
        _summary_sheet(wb, stats._summary(session, rd, req.node, req.group_by, ctx))
    wb.save(target)
    return written


def _summary_sheet(wb: Workbook, summary: dict[str, Any]) -> None:
    ws = wb.create_sheet("汇总")
    dims = summary["dimensions"]
    bold = Font(bold=True)
    ws.column_dimensions["A"].width = 24

    def head(values: list[Any]) -> list[WriteOnlyCell]:
        out = []
        for v in values:
            cell = WriteOnlyCell(ws, value=v)
            cell.font = bold
            cell.alignment = Alignment(horizontal="center")
            out.append(cell)
        return out

    labels = summary["chart"]["labels"]
    series = summary["chart"]["series"]
    if len(dims) == 1:
        ws.append(head([dims[0]["label"], "人数"]))
        for label, n in zip(labels, series[0]["data"], strict=True):
            ws.append([label, n])
        ws.append(head(["合计", summary["total"]]))
    else:
        ws.append(head([f"{dims[0]['label']} × {dims[1]['label']}", *[s["name"] for s in series], "合计"]))
        for i, label in enumerate(labels):
            row = [s["data"][i] for s in series]
            ws.append([label, *row, sum(row)])
        ws.append(head(["合计", *[sum(s["data"]) for s in series], summary["total"]]))
    if not labels:
        return
    chart = BarChart()
    chart.type = "col"
    chart.title = "、".join(d["label"] for d in dims) + " 人数统计"
    chart.y_axis.title = "人数"
    chart.x_axis.title = dims[0]["label"]
    chart.height, chart.width = 9, max(16, min(40, len(labels) * 1.6))
    if len(dims) == 2:
        chart.grouping, chart.overlap = "stacked", 100
    data = Reference(ws, min_col=2, max_col=1 + len(series), min_row=1, max_row=1 + len(labels))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + len(labels)))
    ws.add_chart(chart, f"{get_column_letter(len(series) + 4)}2")
