"""Excel batch import (校工会批量修改): reading a filled-in file.

The columns are the field catalogue's Chinese labels (the field codes are accepted too), so
the template (:mod:`.import_template`), the reader and the API all follow one list. Reading checks the header at once
(a wrong file fails before anything else), then yields each non-empty data row converted to
the values the registry takes, with a problem per cell that cannot be read. Checking and
applying the rows is :mod:`server.domain.members.importer`; running an import from an upload,
now or as a job, is :mod:`server.domain.members.imports`.

Memory stays flat in the file's size: the sheet is read as a stream (:mod:`.xlsx`, which also
made reading ~4× faster than openpyxl's read-only cells) and rows are handed on one by one.
Cell contents are data, never formulas: a formula is a row error, not evaluated and not stored.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, BinaryIO

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel

from server.domain import fields as cat
from server.domain.errors import DomainError, Invalid
from server.domain.members import xlsx

MAX_ROWS = 20_000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024  # a 20,000-row sheet of every column is ~60 MB of XML
MAX_REPORTED_ERRORS = 1000

SHEET, NOTES, OPTIONS = "会员信息", "说明", "选项"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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


def _open(stream: BinaryIO) -> xlsx.Sheet:
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
        return xlsx.open_sheet(stream, SHEET)
    except DomainError:
        raise
    except Exception:  # noqa: BLE001 - whatever openpyxl or zipfile chokes on is a bad file
        raise BadFile() from None


def _open_checked(stream: BinaryIO) -> tuple[xlsx.Sheet, Iterator[tuple[int, list[xlsx.Cell]]],
                                             list[cat.FieldDef | None]]:
    """The sheet, its row iterator past the header, and the header's fields; the header is
    checked here so that a wrong file fails before anything else is done with it."""
    sheet = _open(stream)
    try:
        rows = sheet.rows()
        header = next(rows, None)
        # The header is the sheet's first row: rows above it left empty mean no header at all.
        columns = _columns(header[1] if header and header[0] == 1 else [])
    except DomainError:
        sheet.close()
        raise
    except Exception:  # noqa: BLE001
        sheet.close()
        raise BadFile() from None
    return sheet, rows, columns


def inspect(stream: BinaryIO, *, exact_above: int | None = None) -> int:
    """Check the file (a readable xlsx with a known header) and estimate its data rows without
    reading them: the row elements below the header, blank ones included. The caller decides
    from this whether to import now or in a job. Above ``exact_above`` the non-empty rows are
    counted exactly (the sheet is parsed once more), so that a file over the row limit is
    refused at once rather than by a job that checked thousands of rows first."""
    sheet, rows, _columns = _open_checked(stream)
    try:
        estimated = max(0, xlsx.count_rows(sheet) - 1)
        if exact_above is None or estimated <= exact_above:
            return estimated
        return sum(1 for _number, cells in rows if not all(_blank(c.value) for c in cells))
    except Exception:  # noqa: BLE001
        raise BadFile("文件内容已损坏，无法读取") from None
    finally:
        rows.close()
        sheet.close()


def read_rows(stream: BinaryIO, *, sub_unions: Mapping[str, int] | None = None,
              max_rows: int = MAX_ROWS) -> Iterator[Row]:
    """Open the workbook and check its header now (errors are raised here); return an iterator
    of the non-empty data rows, converted to Python values per the catalogue.

    ``sub_unions`` maps a sub-union's name (or code) to its id; without it the 所属分工会
    cell stays text.
    """
    sheet, rows, columns = _open_checked(stream)
    return _data_rows(sheet, rows, columns, sub_unions, max_rows)


def _columns(header: list[xlsx.Cell]) -> list[cat.FieldDef | None]:
    if not header or all(_blank(c.value) for c in header):
        raise Invalid({"file": "文件是空的"}, "文件是空的：第一行应为表头（会员信息的列名）", code="empty_file")
    columns: list[cat.FieldDef | None] = [None] * max(c.column for c in header)
    unknown: list[str] = []
    duplicate: list[str] = []
    seen: set[str] = set()
    for cell in header:
        if _is_formula(cell):
            unknown.append(str(cell.value)[:30])
            continue
        if _blank(cell.value):
            continue
        key = _header_key(cell.value)
        f = cat.BY_LABEL.get(key) or cat.BY_CODE.get(key)
        if f is None:
            unknown.append(key[:30])
        elif f.code in seen:
            duplicate.append(f.label)
        else:
            seen.add(f.code)
        columns[cell.column - 1] = f
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


def _is_formula(cell: xlsx.Cell) -> bool:
    value = cell.value
    return cell.kind == xlsx.FORMULA or (isinstance(value, str) and value.strip().startswith("="))


def _data_rows(sheet: xlsx.Sheet, rows: Iterator[tuple[int, list[xlsx.Cell]]],
               columns: list[cat.FieldDef | None], sub_unions: Mapping[str, int] | None,
               max_rows: int) -> Iterator[Row]:
    count = 0
    try:
        for number, cells in rows:
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
        rows.close()
        sheet.close()


def _convert_row(number: int, cells: list[xlsx.Cell], columns: list[cat.FieldDef | None],
                 sub_unions: Mapping[str, int] | None) -> Row:
    row = Row(number, {})
    for cell in cells:
        value = cell.value
        if _blank(value):
            continue
        i = cell.column - 1
        f = columns[i] if i < len(columns) else None
        if f is None:
            row.problems.append(Problem(number, None, f"第 {get_column_letter(cell.column)} 列",
                                        "该列没有表头，内容无法导入"))
            continue
        if _is_formula(cell):
            row.problems.append(Problem(number, f.code, f.label, "不接受公式，请直接填写内容"))
            continue
        if cell.kind == xlsx.ERROR:
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
