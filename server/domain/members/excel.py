"""Excel batch import (校工会批量修改): the template, reading a filled-in file, applying it.

The columns are the field catalogue's Chinese labels (the field codes are accepted too), so
the template, the reader and the API all follow one list. A row matches an existing member
by 工号, else by 证件号码 (the X of an ID number in either case), anywhere in the registry; a
match outside the caller's scope is an error for that row, never an update.

Every row is validated first with the registry's own ``prepare_create`` / ``prepare_update``
(the same rules and messages as the API) and against uniqueness, in the file and in the
database; only then are rows applied, through ``registry.create`` / ``registry.update`` with
the action ``member.import``, inside the caller's one transaction. ``all_or_nothing`` writes
nothing when any row is wrong; ``valid_only`` writes the good rows and reports the others.

Memory stays flat in the file's size: openpyxl reads the sheet as a stream, rows are checked
in chunks (one query loads the chunk's matched members), and only the changes to apply are
kept. Cell contents are data, never formulas: a formula is a row error, not evaluated and
not stored.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain import audit
from server.domain import fields as cat
from server.domain.errors import DomainError, Invalid
from server.domain.members import registry
from server.domain.members.validation import clean
from server.domain.roles import Identity, Scope, require
from server.models import Member, SubUnion

MAX_ROWS = 20_000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024  # a 20,000-row sheet of every column is ~60 MB of XML
MAX_REPORTED_ERRORS = 1000
CHUNK = 500

SHEET, NOTES, OPTIONS = "会员信息", "说明", "选项"
ACTION, BATCH_ACTION = "member.import", "member.import_batch"
ALL_OR_NOTHING, VALID_ONLY = "all_or_nothing", "valid_only"
MODES = (ALL_OR_NOTHING, VALID_ONLY)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ALL_CODES = frozenset(f.code for f in cat.CATALOGUE)
# Stored defaults of fields a sub-union account may not set: the same value in a file is no change.
CREATE_DEFAULTS = {"id_type": "居民身份证", "membership_status": "正常", "employment_status": "在职"}
MULTI_SEPARATORS = re.compile(r"[、,，;；\n]")
CHILD_SEPARATORS = re.compile(r"[；;\n]+")
CHILD_PARTS = re.compile(r"[/／,，]")
NONE_WORDS = ("无", "没有", "-", "—", "/")  # an explicit "no children" (an empty cell changes nothing)


class BadFile(DomainError):
    status = 422
    code = "bad_file"

    def __init__(self, message: str = "文件不是有效的 xlsx", *, code: str | None = None):
        super().__init__(message, code=code, fields={"file": message})


class TooLarge(DomainError):
    status = 413
    code = "file_too_large"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message, code=code, fields={"file": message})


# ---- the template ----------------------------------------------------------------------

_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
_TITLE_FONT = Font(bold=True, size=14)
_BOLD = Font(bold=True)


def format_hint(f: cat.FieldDef) -> str:
    """How a cell of this column is written, in one line."""
    if f.code == "sub_union":
        return "分工会名称，从下拉列表中选择；分工会账号可留空（即本分工会）"
    if f.code == "id_number":
        return "请按文本填写；居民身份证须为 18 位、校验位正确，且与出生日期、性别一致"
    if f.code == "staff_no":
        return "用于匹配已有会员：工号相同即更新该会员；请按文本填写"
    if f.type == cat.DATE:
        return "日期，如 2015-03-02（也可写 2015/03/02 或 20150302）"
    if f.type == cat.CHOICE:
        return "从下拉列表中选择"
    if f.type == cat.MULTI:
        return "可多选，多个用「、」分隔，如 工会委员、会员代表"
    if f.type == cat.LIST:
        return ("每个子女写作 姓名/性别/出生日期，多个用「；」分隔，如 张三/男/2015-03-02；李四/女/2018-05-01；"
                "没有子女写「无」")
    if f.type == cat.LONGTEXT:
        return f"文本，不超过 {f.max_length} 字，可换行"
    return f"文本，不超过 {f.max_length} 字"


def _editors(f: cat.FieldDef) -> str:
    if f.editable_by == cat.SCHOOL_ONLY:
        return "仅校工会"
    return "校工会、分工会" + ("、本人" if cat.SELF in f.editable_by else "")


def _width(f: cat.FieldDef) -> float:
    if f.type == cat.DATE:
        width = 13
    elif f.type in (cat.LONGTEXT, cat.LIST):
        width = 36
    elif f.type == cat.MULTI:
        width = 24
    elif f.type == cat.REF:
        width = 22
    elif f.type == cat.CHOICE:
        width = min(24, max(len(c) for c in f.choices) * 2 + 4)
    elif f.code == "id_number":
        width = 22
    else:
        width = min(32, max(10, (f.max_length or 20) // 3))
    return max(width, len(f.label) * 2 + 3)


def _text_cell(cell, value: str) -> None:  # noqa: ANN001
    """A string that stays a string, even one starting with = + - @ (never a formula)."""
    cell.value = value
    if value[:1] in ("=", "+", "-", "@"):
        cell.data_type = "s"
        cell.quotePrefix = True


def template(sub_union_names: list[str]) -> bytes:
    """The import template: a header row of every catalogue field's Chinese label, drop-down
    lists for choice columns (their values on the hidden sheet 选项) and a 说明 sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    notes = wb.create_sheet(NOTES)
    options = wb.create_sheet(OPTIONS)
    options.sheet_state = "hidden"

    option_col = 0
    last_row = MAX_ROWS + 1
    for col, f in enumerate(cat.CATALOGUE, start=1):
        letter = get_column_letter(col)
        cell = ws.cell(row=1, column=col, value=f.label)
        cell.font = _BOLD
        cell.fill = _REQUIRED_FILL if f.required else _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        tip = f"{f.label}{'（必填）' if f.required else ''}\n{format_hint(f)}"
        if f.help:
            tip += f"\n{f.help}"
        if f.editable_by == cat.SCHOOL_ONLY:
            tip += "\n仅校工会账号可修改"
        cell.comment = Comment(tip, "工会智慧平台", width=260, height=110)
        dim = ws.column_dimensions[letter]
        dim.width = _width(f)
        if f.type == cat.DATE:
            dim.number_format = "yyyy-mm-dd"
        elif f.type in (cat.TEXT, cat.LONGTEXT):
            dim.number_format = "@"  # staff and ID numbers stay text, leading zeros and all

        values = list(f.choices) if f.type in (cat.CHOICE, cat.MULTI) else (
            list(sub_union_names) if f.type == cat.REF else [])
        if not values:
            continue
        option_col += 1
        opt_letter = get_column_letter(option_col)
        options.cell(row=1, column=option_col, value=f.label)
        for i, value in enumerate(values, start=2):
            _text_cell(options.cell(row=i, column=option_col), value)
        options.column_dimensions[opt_letter].width = _width(f)
        dv = DataValidation(
            type="list",
            formula1=f"'{OPTIONS}'!${opt_letter}$2:${opt_letter}${len(values) + 1}",
            allow_blank=True,
        )
        if f.type == cat.MULTI:
            # Several values joined by 、 are not one list item: offer the list, allow any text.
            dv.showErrorMessage = False
            dv.promptTitle, dv.prompt = f.label, "可多选，多个用「、」分隔"
            dv.showInputMessage = True
        else:
            dv.showErrorMessage = True
            dv.errorTitle, dv.error = f.label, "请从下拉列表中选择"
        dv.add(f"{letter}2:{letter}{last_row}")
        ws.add_data_validation(dv)

    ws.freeze_panes = "B2"
    ws.row_dimensions[1].height = 22
    _write_notes(notes)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write_notes(ws) -> None:  # noqa: ANN001
    rules = [
        "填写说明",
        "1. 在「会员信息」工作表中填写，一行一名会员；第一行是表头，请勿修改列名（不需要的列可以删除，「姓名」列必须保留）。",
        "2. 先按「工号」匹配已有会员，没有工号或未匹配时按「证件号码」匹配：匹配到即更新该会员，否则新增会员。",
        "3. 更新时留空的单元格保持原值不变；只有填写的内容会被修改。",
        "4. 必填列（表头为橙色）：姓名、性别、出生日期、所属分工会；分工会账号「所属分工会」可留空，即本分工会，"
        "且只能导入本分工会的会员。",
        "5. 日期写作 2015-03-02（也可 2015/03/02、20150302）；多选项用「、」分隔；"
        "子女信息写作 姓名/性别/出生日期，多个子女用「；」分隔。",
        "6. 工号、证件号码请按文本填写，以免 Excel 把长数字变成科学计数法或去掉开头的 0。",
        "7. 不接受公式：含公式的单元格会被判为错误，不会计算，也不会保存。",
        f"8. 每个文件不超过 {MAX_FILE_BYTES // (1024 * 1024)} MB、{MAX_ROWS} 行；建议先「试导入」查看结果，再正式导入。",
    ]
    for i, line in enumerate(rules, start=1):
        cell = ws.cell(row=i, column=1, value=line)
        if i == 1:
            cell.font = _TITLE_FONT
    start = len(rules) + 2
    header = ("列名", "字段编码", "类型", "必填", "填写格式", "可选值", "可修改者")
    types = {cat.TEXT: "文本", cat.LONGTEXT: "长文本", cat.DATE: "日期", cat.CHOICE: "单选",
             cat.MULTI: "多选", cat.LIST: "列表", cat.REF: "分工会"}
    for col, title in enumerate(header, start=1):
        cell = ws.cell(row=start, column=col, value=title)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
    for row, f in enumerate(cat.CATALOGUE, start=start + 1):
        choices = "、".join(f.choices) if f.choices else ""
        line = (f.label, f.code, types[f.type], "是" if f.required else "", format_hint(f) + (
            f"（{f.help}）" if f.help else ""), choices, _editors(f))
        for col, value in enumerate(line, start=1):
            cell = ws.cell(row=row, column=col, value=value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFG", (22, 24, 8, 6, 60, 60, 16), strict=True):
        ws.column_dimensions[letter].width = width


# ---- reading a file ----------------------------------------------------------------------


@dataclass
class Problem:
    row: int
    field: str | None
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "field": self.field, "message": self.message}


@dataclass
class Row:
    """One data row: its number in the sheet, the converted values, the cells that failed."""

    number: int
    values: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


def _header_key(value: Any) -> str:
    return str(value).strip().strip("*＊").strip()


def _open(stream: BinaryIO):  # noqa: ANN202
    try:
        stream.seek(0)
        if not zipfile.is_zipfile(stream):
            raise BadFile()
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise TooLarge("文件解压后内容过大，请分批导入", code="file_too_large")
        stream.seek(0)
        return load_workbook(stream, read_only=True, data_only=False)
    except DomainError:
        raise
    except Exception:  # noqa: BLE001 - whatever openpyxl or zipfile chokes on is a bad file
        raise BadFile() from None


def read_rows(stream: BinaryIO, *, sub_unions: Mapping[str, int] | None = None,
              max_rows: int = MAX_ROWS) -> Iterator[Row]:
    """Open the workbook and check its header now (errors are raised here); return an iterator
    of the non-empty data rows, converted to Python values per the catalogue.

    ``sub_unions`` maps a sub-union's name (or code) to its id; without it the 所属分工会
    cell stays text.
    """
    wb = _open(stream)
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else (wb.worksheets[0] if wb.worksheets else None)
        if ws is None:
            raise BadFile()
        ws.reset_dimensions()  # trust the cells, not the <dimension> tag some writers get wrong
        rows = ws.iter_rows()
        header = next(rows, None)
        columns = _columns(header)
    except DomainError:
        wb.close()
        raise
    except Exception:  # noqa: BLE001
        wb.close()
        raise BadFile() from None
    return _data_rows(wb, rows, columns, sub_unions, max_rows)


def _columns(header: Any) -> list[cat.FieldDef | None]:
    if not header or all(_blank(c.value) for c in header):
        raise Invalid({"file": "文件是空的"}, "文件是空的：第一行应为表头（会员信息的列名）", code="empty_file")
    columns: list[cat.FieldDef | None] = []
    unknown: list[str] = []
    duplicate: list[str] = []
    seen: set[str] = set()
    for cell in header:
        if _is_formula(cell) or _blank(cell.value):
            if _is_formula(cell):
                unknown.append(str(cell.value)[:30])
            columns.append(None)
            continue
        key = _header_key(cell.value)
        f = cat.BY_LABEL.get(key) or cat.BY_CODE.get(key)
        if f is None:
            unknown.append(key[:30])
        elif f.code in seen:
            duplicate.append(f.label)
        else:
            seen.add(f.code)
        columns.append(f)
    if unknown:
        message = f"表头中有无法识别的列：{'、'.join(unknown[:10])}{'……' if len(unknown) > 10 else ''}；请使用导入模板中的列名"
        raise Invalid({"file": message}, message, code="unknown_columns")
    if duplicate:
        message = f"表头中有重复的列：{'、'.join(dict.fromkeys(duplicate))}"
        raise Invalid({"file": message}, message, code="duplicate_columns")
    if "name" not in seen:
        message = "缺少「姓名」列（第一行应为表头，请使用导入模板）"
        raise Invalid({"file": message}, message, code="missing_columns")
    return columns


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_formula(cell: Any) -> bool:
    value = cell.value
    return (getattr(cell, "data_type", None) == "f" or isinstance(value, (ArrayFormula, DataTableFormula))
            or (isinstance(value, str) and value.strip().startswith("=")))


def _data_rows(wb, rows, columns, sub_unions, max_rows) -> Iterator[Row]:  # noqa: ANN001
    count = 0
    try:
        for number, cells in enumerate(rows, start=2):
            if all(_blank(c.value) for c in cells):
                continue
            count += 1
            if count > max_rows:
                raise TooLarge(f"数据行数超过上限 {max_rows} 行，请分批导入", code="too_many_rows")
            yield _convert_row(number, cells, columns, sub_unions)
    except DomainError:
        raise
    except Exception:  # noqa: BLE001 - a sheet that breaks the XML reader half-way
        raise BadFile("文件内容已损坏，无法读取") from None
    finally:
        wb.close()


def _convert_row(number: int, cells: tuple, columns: list[cat.FieldDef | None],
                 sub_unions: Mapping[str, int] | None) -> Row:
    row = Row(number, {})
    for i, cell in enumerate(cells):
        value = cell.value
        if _blank(value):
            continue
        f = columns[i] if i < len(columns) else None
        if f is None:
            row.problems.append(Problem(number, None, f"第 {get_column_letter(i + 1)} 列",
                                        "该列没有表头，内容无法导入"))
            continue
        if _is_formula(cell):
            row.problems.append(Problem(number, f.code, f.label, "不接受公式，请直接填写内容"))
            continue
        if getattr(cell, "data_type", None) == "e":
            row.problems.append(Problem(number, f.code, f.label, f"单元格是错误值 {value}"))
            continue
        try:
            converted = convert_cell(f, value, sub_unions)
        except ValueError as exc:
            row.problems.append(Problem(number, f.code, f.label, str(exc)))
            continue
        if converted is not None:
            row.values[f.code] = converted
    return row


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert_cell(f: cat.FieldDef, value: Any, sub_unions: Mapping[str, int] | None = None) -> Any:
    """A cell's value as the registry takes it (None for nothing), or raise ValueError."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    if f.type == cat.DATE:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, bool):
            raise ValueError("应为日期（YYYY-MM-DD）")
        if isinstance(value, (int, float)):
            if 19000101 <= value <= 99991231 and float(value).is_integer():
                return str(int(value))  # 20150302 typed as a number
            if 1 <= value < 2958466:  # an Excel serial day number without a date format
                return from_excel(value).date()
            raise ValueError("应为日期（YYYY-MM-DD）")
        if isinstance(value, str):
            return value
        raise ValueError("应为日期（YYYY-MM-DD）")
    if isinstance(value, bool):
        value = "是" if value else "否"
    if f.type == cat.REF:
        key = _number_text(value) if isinstance(value, (int, float)) else str(value)
        if sub_unions is None:
            return key
        if key not in sub_unions:
            raise ValueError(f"分工会「{key[:30]}」不存在")
        return sub_unions[key]
    if isinstance(value, (int, float)):
        if f.code == "id_number" and isinstance(value, float) and abs(value) >= 1e15:
            raise ValueError("请按文本填写证件号码（数字格式会被 Excel 改成科学计数法并丢失末几位）")
        value = _number_text(value)
    elif isinstance(value, datetime):
        value = value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    elif isinstance(value, (date, time)):
        value = value.isoformat()
    elif not isinstance(value, str):
        value = str(value)
    if f.type == cat.MULTI:
        return [v.strip() for v in MULTI_SEPARATORS.split(value) if v.strip()]
    if f.type == cat.LIST:
        return parse_children(value)
    return value


def parse_children(text: str) -> list[dict[str, str]]:
    """「张三/男/2015-03-02；李四/女/2018-05-01」 → [{name, gender, birth_date}, …]; 「无」 → []."""
    if text.strip() in NONE_WORDS:
        return []
    out = []
    for entry in (e.strip() for e in CHILD_SEPARATORS.split(text)):
        if not entry:
            continue
        parts = [p.strip() for p in CHILD_PARTS.split(entry, maxsplit=2)]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"第 {len(out) + 1} 项「{entry[:30]}」应写作 姓名/性别/出生日期")
        out.append({"name": parts[0], "gender": parts[1], "birth_date": parts[2]})
    return out


# ---- importing ---------------------------------------------------------------------------


def _key(value: Any) -> str | None:
    """How unique values are compared: trimmed and upper-cased (an ID number's x is X, and
    MySQL's case-insensitive collation would treat ab01 and AB01 as the same staff number)."""
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


@dataclass
class _Holder:
    id: int
    sub_union_id: int


@dataclass
class _Importer:
    session: Session
    identity: Identity
    scope: Scope
    level: str
    sub_union_ids: set[int]
    holders: dict[str, dict[str, _Holder]]  # unique field code → key → member holding it
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    error_count: int = 0
    error_rows: int = 0
    creates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[int, int, int, dict[str, Any]]] = field(default_factory=list)
    seen: dict[str, dict[str, int]] = field(default_factory=dict)  # file keys → first row
    seen_members: dict[int, int] = field(default_factory=dict)  # member id → row

    def fail(self, problems: list[Problem]) -> None:
        self.error_rows += 1
        self.error_count += len(problems)
        room = MAX_REPORTED_ERRORS - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    # -- checking --

    def check_chunk(self, chunk: list[Row]) -> None:
        targets: dict[int, _Holder | None] = {}
        matched_by: dict[int, str] = {}
        for row in chunk:
            holder = None
            for code in ("staff_no", "id_number"):
                key = _key(row.values.get(code))
                if key and (holder := self.holders[code].get(key)) is not None:
                    matched_by[row.number] = code
                    break
            targets[row.number] = holder
        ids = {h.id for h in targets.values() if h is not None and self.scope.covers(h.sub_union_id)}
        members = {m.id: m for m in self.session.scalars(select(Member).where(Member.id.in_(ids)))} if ids else {}
        for row in chunk:
            self.total += 1
            problems = list(row.problems)
            holder = targets[row.number]
            problems.extend(self._in_file_duplicates(row, holder, matched_by.get(row.number)))
            if holder is not None and not self.scope.covers(holder.sub_union_id):
                f = cat.BY_CODE[matched_by[row.number]]
                problems.append(Problem(row.number, f.code, f.label, "该会员不在您的管理范围内"))
                self.fail(problems)
                continue
            if holder is None:
                outcome, values = self._check_create(row, problems)
            else:
                outcome, values = self._check_update(row, members[holder.id], problems)
            if problems:
                self.fail(problems)
            elif outcome == "create":
                self.created += 1
                self.creates.append((row.number, values))
            elif outcome == "update":
                member = members[holder.id]
                self.updated += 1
                self.updates.append((row.number, member.id, member.version, values))
            else:
                self.unchanged += 1

    def _in_file_duplicates(self, row: Row, holder: _Holder | None, matched: str | None) -> list[Problem]:
        problems = []
        for f in cat.UNIQUE:
            key = _key(row.values.get(f.code))
            if not key:
                continue
            first = self.seen.setdefault(f.code, {}).setdefault(key, row.number)
            if first != row.number:
                problems.append(Problem(row.number, f.code, f.label, f"与第 {first} 行的{f.label}重复"))
        if holder is not None and not problems:
            first = self.seen_members.setdefault(holder.id, row.number)
            if first != row.number:
                f = cat.BY_CODE[matched or "staff_no"]
                problems.append(Problem(row.number, f.code, f.label, f"与第 {first} 行是同一名会员"))
        return problems

    def _errors(self, row: Row, errors: dict[str, str], problems: list[Problem]) -> None:
        reported = {p.field for p in problems}
        for code, message in errors.items():
            if code in reported:
                continue  # a cell that could not be read is not also "必填"
            f = cat.BY_CODE.get(code)
            problems.append(Problem(row.number, code, f.label if f else None, message))

    def _check_create(self, row: Row, problems: list[Problem]) -> tuple[str, dict[str, Any]]:
        raw = dict(row.values)
        if self.level == cat.SUB_UNION:
            sub = raw.get("sub_union")
            if sub is not None and not self.scope.covers(sub):
                problems.append(Problem(row.number, "sub_union", cat.BY_CODE["sub_union"].label,
                                        "分工会账号只能导入本分工会的会员"))
                raw.pop("sub_union")
            if raw.get("sub_union") is None and len(self.scope.sub_union_ids) == 1:
                raw["sub_union"] = next(iter(self.scope.sub_union_ids))
            allowed = cat.editable(cat.SUB_UNION)
            for code, default in CREATE_DEFAULTS.items():
                if code not in allowed and raw.get(code) == default:
                    del raw[code]
        cleaned, errors = registry.prepare_create(self.session, self.identity, raw, sub_union_ids=self.sub_union_ids)
        self._errors(row, errors, problems)
        if not problems:
            self._unique_in_db(row, cleaned, None, problems)
        return "create", raw

    def _check_update(self, row: Row, member: Member, problems: list[Problem]) -> tuple[str, dict[str, Any]]:
        raw = dict(row.values)
        if self.level == cat.SUB_UNION:
            self._drop_unchanged_locked(row, member, raw, problems)
        changed, errors = registry.prepare_update(self.identity, member, raw, level=self.level,
                                                  sub_union_ids=self.sub_union_ids)
        self._errors(row, errors, problems)
        if not problems:
            self._unique_in_db(row, changed, member.id, problems)
        return ("update" if changed else "unchanged"), changed

    def _drop_unchanged_locked(self, row: Row, member: Member, raw: dict[str, Any],
                               problems: list[Problem]) -> None:
        """A sub-union account may leave school-only columns in the file as long as they
        repeat what is stored; a different value is the registry's "cannot change" error."""
        allowed = cat.editable(cat.SUB_UNION)
        locked = {c: v for c, v in raw.items() if c not in allowed}
        if not locked:
            return
        current = registry.values_of(member)
        cleaned, _ = clean(locked, allowed=ALL_CODES, sub_union_ids=self.sub_union_ids)
        for code, value in cleaned.items():
            if current.get(code) == value:
                del raw[code]
        if "sub_union" in raw:
            raw.pop("sub_union")
            problems.append(Problem(row.number, "sub_union", cat.BY_CODE["sub_union"].label,
                                    "不能通过导入更改所属分工会，分工会之间的调动请走转会流程"))

    def _unique_in_db(self, row: Row, values: dict[str, Any], member_id: int | None,
                      problems: list[Problem]) -> None:
        for f in cat.UNIQUE:
            key = _key(values.get(f.code))
            holder = self.holders[f.code].get(key) if key else None
            if holder is not None and holder.id != member_id:
                shown = registry.mask_value(f.code, values[f.code]) if f.sensitive else values[f.code]
                problems.append(Problem(row.number, f.code, f.label, f"{f.label}「{shown}」已被其他会员使用"))

    # -- applying --

    def apply(self) -> None:
        for number, raw in self.creates:
            with _at_row(number):
                registry.create(self.session, self.identity, raw, action=ACTION, sub_union_ids=self.sub_union_ids,
                                unique_checked=True)
        self.creates.clear()
        for start in range(0, len(self.updates), CHUNK):
            chunk = self.updates[start:start + CHUNK]
            ids = [member_id for _, member_id, _, _ in chunk]
            members = {m.id: m for m in self.session.scalars(select(Member).where(Member.id.in_(ids)))}
            for number, member_id, version, changed in chunk:
                with _at_row(number):
                    registry.update(self.session, self.identity, members[member_id], changed,
                                    expected_version=version, level=self.level, action=ACTION,
                                    sub_union_ids=self.sub_union_ids, unique_checked=True)
        self.updates.clear()


@contextmanager
def _at_row(number: int) -> Iterator[None]:
    """A row that passed the checks but fails on writing (a concurrent change): name the row."""
    try:
        yield
    except DomainError as exc:
        exc.message = f"第 {number} 行：{exc.message}"
        exc.args = (exc.message,)
        raise


def _holders(session: Session) -> dict[str, dict[str, _Holder]]:
    """Every member's unique values → (id, sub-union), in one query."""
    codes = [f.code for f in cat.UNIQUE]
    columns = [getattr(Member, cat.BY_CODE[c].attr) for c in codes]
    out: dict[str, dict[str, _Holder]] = {c: {} for c in codes}
    for member_id, sub_union_id, *values in session.execute(select(Member.id, Member.sub_union_id, *columns)):
        holder = _Holder(member_id, sub_union_id)
        for code, value in zip(codes, values, strict=True):
            key = _key(value)
            if key:
                out[code].setdefault(key, holder)
    return out


def import_rows(session: Session, identity: Identity | None, rows: Iterable[Row], *, dry_run: bool = True,
                mode: str = ALL_OR_NOTHING, filename: str | None = None) -> dict[str, Any]:
    """Check every row, then (unless ``dry_run``, or ``all_or_nothing`` with an error) apply.

    Returns the report: counts of rows created, updated and unchanged (those that would be,
    when nothing was applied), the errors by row and column, and whether anything was written.
    """
    if mode not in MODES:
        raise Invalid({"mode": f"应为以下之一：{', '.join(MODES)}"}, code="bad_mode")
    scope = require(identity, "members.import")
    require(identity, "members.write")
    importer = _Importer(
        session=session, identity=identity, scope=scope, level=registry.edit_level(identity, None),
        sub_union_ids=set(session.scalars(select(SubUnion.id))), holders=_holders(session),
    )
    chunk: list[Row] = []
    try:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                importer.check_chunk(chunk)
                chunk = []
        if chunk:
            importer.check_chunk(chunk)
    finally:
        if hasattr(rows, "close"):
            rows.close()  # the workbook, even when a check raised half-way
    if importer.total == 0:
        raise Invalid({"file": "文件中没有数据行"}, "文件中没有数据行：表头之下至少要有一行会员信息", code="empty_file")

    apply = not dry_run and (mode == VALID_ONLY or importer.error_rows == 0)
    if apply:
        importer.apply()
        audit.record(
            session, identity, BATCH_ACTION, object_type="member_import",
            sub_union_id=next(iter(scope.sub_union_ids)) if len(scope.sub_union_ids) == 1 else None,
            new={"file": filename, "mode": mode, "total": importer.total, "created": importer.created,
                 "updated": importer.updated, "unchanged": importer.unchanged,
                 "error_rows": importer.error_rows},
        )
    return {
        "dry_run": dry_run,
        "mode": mode,
        "applied": apply,
        "total": importer.total,
        "created": importer.created,
        "updated": importer.updated,
        "unchanged": importer.unchanged,
        "error_rows": importer.error_rows,
        "error_count": importer.error_count,
        "errors": [p.as_dict() for p in importer.problems],
        "errors_truncated": importer.error_count > len(importer.problems),
    }


def summary(report: dict[str, Any]) -> str:
    """One Chinese sentence for the report."""
    counts = f"新增 {report['created']} 人，更新 {report['updated']} 人，无变化 {report['unchanged']} 人"
    if report["dry_run"]:
        tail = f"，{report['error_rows']} 行有错误" if report["error_rows"] else "，没有错误"
        return f"试导入 {report['total']} 行：将{counts}{tail}（未写入）"
    if not report["applied"]:
        return f"导入文件有 {report['error_rows']} 行错误，未写入任何数据；请修改后重新导入，或选择只导入正确的行"
    tail = f"；{report['error_rows']} 行有错误，未导入" if report["error_rows"] else ""
    return f"已导入 {report['total'] - report['error_rows']} 行：{counts}{tail}"
