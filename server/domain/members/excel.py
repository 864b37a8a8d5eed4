"""Excel batch import (校工会批量修改): reading a filled-in file.

The columns are the field catalogue's Chinese labels (the field codes and the usual other
names are accepted too, :mod:`.sheet_header`), so the template (:mod:`.import_template`), the
reader and the API all follow one list. Reading finds and checks the header at once (a wrong
file fails before anything else), then yields each non-empty data row converted to the values
the registry takes, with a problem per cell that cannot be read. What an office types is
normalised first (:mod:`.normalise`, :mod:`.sheet_dates`), cells merged down a column are read
from their first cell, and all of it is counted for the report: nothing changes silently.
Checking and applying the rows is :mod:`server.domain.members.importer`; running an import from
an upload, now or as a job, is :mod:`server.domain.members.imports`.

Memory stays flat in the file's size: the sheet is read as a stream (:mod:`.xlsx`, which also
made reading ~4× faster than openpyxl's read-only cells) and rows are handed on one by one.
Cell contents are data, never formulas: a formula is a row error, not evaluated and not stored.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from openpyxl.utils import get_column_letter

from server.core.errors import DomainError
from server.domain.members import catalogue as cat
from server.domain.members import normalise, sheet_header, xlsx
from server.domain.members.cell_values import convert_cell, number_text, parse_children  # noqa: F401 - also read here
from server.domain.members.registry import mask_value

MAX_ROWS = 20_000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024  # a 20,000-row sheet of every column is ~60 MB of XML
MAX_REPORTED_ERRORS = 1000

SHEET, NOTES, OPTIONS = "会员信息", "说明", "选项"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"



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

# A line under the data that is not a member: 填表人：张三, 合计 25 人.
FOOTER = re.compile(r"(?:(?:填表|制表|填报|审核|经办|负责|联系)人|(?:填表|制表|填报)日期|备注|说明|注)\s*[:：]|(?:合计|总计|共计)")


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


@dataclass
class _Opened:
    sheet: xlsx.Sheet
    source: Iterator[tuple[int, list[xlsx.Cell]]]  # the sheet's own row generator (to close)
    rows: Iterator[tuple[int, list[xlsx.Cell]]]  # the rows after the header
    header: sheet_header.Header
    scan: xlsx.Scan

    def close(self) -> None:
        self.source.close()
        self.sheet.close()


def _open_checked(stream: BinaryIO, *, count_rows: bool = False) -> _Opened:
    """The sheet, its header found and checked (so that a wrong file fails before anything
    else is done with it), and its rows past the header. The merged ranges are read first:
    a header two rows deep is known by its cells merged down."""
    sheet = _open(stream)
    source = None
    try:
        scan = xlsx.scan(sheet, count_rows=count_rows)
        source = sheet.rows()
        header, rows = sheet_header.find(source, scan.merges)
    except BaseException as exc:
        if source is not None:
            source.close()
        sheet.close()
        if isinstance(exc, DomainError) or not isinstance(exc, Exception):
            raise
        raise BadFile() from None
    return _Opened(sheet, source, rows, header, scan)


def inspect(stream: BinaryIO, *, exact_above: int | None = None) -> int:
    """Check the file (a readable xlsx with a known header) and estimate its data rows without
    reading them: the row elements below the header, blank ones included. The caller decides
    from this whether to import now or in a job. Above ``exact_above`` the non-empty rows are
    counted exactly (the sheet is parsed once more), so that a file over the row limit is
    refused at once rather than by a job that checked thousands of rows first."""
    opened = _open_checked(stream, count_rows=True)
    try:
        estimated = max(0, opened.scan.rows - opened.header.consumed)
        if exact_above is None or estimated <= exact_above:
            return estimated
        return sum(1 for _number, cells in opened.rows if not all(_blank(c.value) for c in cells))
    except Exception:  # noqa: BLE001
        raise BadFile("文件内容已损坏，无法读取") from None
    finally:
        opened.close()


def read_rows(stream: BinaryIO, *, sub_unions: Mapping[str, int] | None = None,
              max_rows: int = MAX_ROWS) -> Reading:
    """Open the workbook and check its header now (errors are raised here); return the
    non-empty data rows, converted to Python values per the catalogue, as a :class:`Reading`.

    ``sub_unions`` maps a sub-union's name (or code) to its id; without it the 所属分工会
    cell stays text.
    """
    return Reading(_open_checked(stream), sub_unions, max_rows)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_formula(cell: xlsx.Cell) -> bool:
    value = cell.value
    return cell.kind == xlsx.FORMULA or (isinstance(value, str) and value.strip().startswith("="))


class _Fill:
    """Cells merged down a column (所属分工会 merged over B3:B20): each row of the range reads
    the first cell's value, as Excel shows it. Ranges come from the scan, in row order; only
    the current row's open ranges are kept."""

    def __init__(self, merges: list[xlsx.Merge], below: int):
        self.pending = sorted((m for m in merges if m.min_row > below and m.max_row > m.min_row),
                              key=lambda m: (m.min_row, m.min_col))
        self.next = 0
        self.open: list[tuple[xlsx.Merge, xlsx.Cell]] = []

    def __bool__(self) -> bool:
        return bool(self.pending)

    def apply(self, number: int, cells: list[xlsx.Cell]) -> tuple[list[xlsx.Cell], dict[int, xlsx.Merge]]:
        pending = self.pending
        while self.next < len(pending) and pending[self.next].min_row <= number:
            m = pending[self.next]
            self.next += 1
            first = next((c for c in cells if c.column == m.min_col), None) if m.min_row == number else None
            if first is not None and not _blank(first.value):
                self.open.append((m, first))
        if not self.open:
            return cells, {}
        self.open = [(m, first) for m, first in self.open if m.max_row >= number]
        filled = {m.min_col: m for m, _first in self.open if m.min_row < number}
        if filled:
            cells = sorted([c for c in cells if c.column not in filled]
                           + [first for m, first in self.open if m.min_row < number], key=lambda c: c.column)
        return cells, filled


class Reading:
    """The data rows of an opened sheet, one :class:`Row` at a time, and what reading them did:
    where the header was and what was skipped above it, columns read under another name,
    merged cells filled, footer lines left out, values normalised (per kind). The importer
    puts it in its report (:meth:`report`), the dry run's as much as the real run's."""

    def __init__(self, opened: _Opened, sub_unions: Mapping[str, int] | None, max_rows: int):
        self.header = opened.header
        self.tally = normalise.Tally()
        self.filled: dict[xlsx.Merge, list[Any]] = {}  # merged range → [first cell's value, its field, cells filled]
        self.footers: list[tuple[int, str]] = []
        self._opened = opened
        self._sub_unions = sub_unions
        self._rows = self._read(max_rows)

    def __iter__(self) -> Reading:
        return self

    def __next__(self) -> Row:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()
        self._opened.close()

    def _read(self, max_rows: int) -> Iterator[Row]:
        header = self.header
        ignored = set(header.ignored)
        fill = _Fill(self._opened.scan.merges, header.last_row)
        count = 0
        try:
            for number, cells in self._opened.rows:
                if all(_blank(c.value) for c in cells):
                    continue
                if len(cells) <= 3 and (footer := self._footer(cells)):
                    self.footers.append((number, footer))
                    continue
                if ignored and all(_blank(c.value) or c.column in ignored for c in cells):
                    continue  # only a pre-filled 序号
                filled: dict[int, xlsx.Merge] = {}
                if fill:
                    cells, filled = fill.apply(number, cells)
                count += 1
                if count > max_rows:
                    raise TooLarge(f"数据行数超过上限 {max_rows} 行，请分批导入", code="too_many_rows")
                self.tally.row = number
                yield self._convert_row(number, cells, filled)
        except DomainError:
            raise
        except Exception:  # noqa: BLE001 - a sheet that breaks the XML reader half-way
            raise BadFile("文件内容已损坏，无法读取") from None
        finally:
            self._opened.close()

    @staticmethod
    def _footer(cells: list[xlsx.Cell]) -> str | None:
        first = next((c.value for c in cells if not _blank(c.value)), None)
        if isinstance(first, str) and FOOTER.match(first.strip()):
            return " ".join(first.split())[:30]
        return None

    def _convert_row(self, number: int, cells: list[xlsx.Cell], filled: dict[int, xlsx.Merge]) -> Row:
        """(The per-cell loop runs ~440,000 times for a 10k-row sheet: merged cells are
        counted outside it and looked up only when one fails.)"""
        row = Row(number, {})
        columns, header, sub_unions, tally = self.header.columns, self.header, self._sub_unions, self.tally
        for cell in cells:
            value = cell.value
            if _blank(value):
                continue
            i = cell.column - 1
            f = columns[i] if i < len(columns) else None
            if f is None:
                if cell.column in header.ignored:
                    continue
                span = header.spans.get(cell.column)
                why = f"（表头单元格 {span} 是合并的，列名只属于其首列）" if span else ""
                row.problems.append(Problem(number, None, f"第 {get_column_letter(cell.column)} 列",
                                            f"该列没有表头{why}，内容无法导入"))
                continue
            if _is_formula(cell):
                row.problems.append(Problem(number, f.code, f.label, "不接受公式，请直接填写内容"))
                continue
            if cell.kind == xlsx.ERROR:
                row.problems.append(Problem(number, f.code, f.label, f"单元格是错误值 {value}"))
                continue
            try:
                converted = convert_cell(f, value, sub_unions, tally)
            except ValueError as exc:
                merge = filled.get(cell.column)
                where = f"（合并单元格 {merge.ref} 的内容）" if merge is not None else ""
                row.problems.append(Problem(number, f.code, f.label, f"{exc}{where}"))
                continue
            if converted is not None:
                row.values[f.code] = converted
        for column, merge in filled.items():
            f = columns[column - 1] if column <= len(columns) else None
            if f is not None:
                self._count_fill(merge, f, next(c.value for c in cells if c.column == column))
        return row

    def _count_fill(self, merge: xlsx.Merge, f: cat.FieldDef, value: Any) -> None:
        entry = self.filled.get(merge)
        if entry is None:
            entry = self.filled[merge] = [value, f, 0]
        entry[2] += 1
        self.tally.add(normalise.MERGED, f, "", value)

    def notes(self) -> list[str]:
        """What reading did besides converting values, in Chinese sentences."""
        out = sheet_header.notes(self.header)
        for merge, (value, f, cells) in self.filled.items():
            shown = normalise.shown(number_text(value) if isinstance(value, (int, float)) else value)
            shown = mask_value(f.code, shown) if f.sensitive else shown
            only = f"，只填入 {get_column_letter(merge.min_col)} 列" if merge.max_col > merge.min_col else ""
            out.append(f"合并单元格 {merge.ref} 已按首格内容「{shown}」填充（{cells} 格{only}）")
        for number, text in self.footers:
            out.append(f"第 {number} 行（「{text}」）不是会员信息，未导入")
        return out

    def report(self) -> dict[str, Any]:
        return {"header_row": self.header.last_row, "notes": self.notes(),
                "normalisations": self.tally.report()}
