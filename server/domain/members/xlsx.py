"""A lean streaming reader for one worksheet of an .xlsx: rows of (column, value, kind).

Why not openpyxl's read-only worksheet: for a 10,000-row × 44-column import it spent ~6.5 s
of a ~9 s dry run turning every cell into a ``ReadOnlyCell`` (and, for sheets without a
``<dimension>`` tag, such as openpyxl's own, parsed the whole sheet once more just to size it).
The import needs only each cell's value, whether it holds a formula and whether it is an error
value (python-calamine, the fast reader on PyPI, was tried and rejected: it answers a formula
cell with its cached result, usually empty, so ``=HYPERLINK(…)`` typed into a sheet would slip
through as a blank instead of being refused), so this reader walks the sheet XML once, keeps nothing but the current row, and converts
values the way openpyxl does: shared and inline strings, numbers, booleans, ISO dates, and
serial numbers in a date format as ``datetime``. openpyxl still reads the small parts (content
types, workbook, relationships, shared strings, styles), so the two never disagree about which
sheet is which. :func:`scan` lists the sheet's merged ranges (and counts its rows) before the
rows are read, without parsing the XML.

The sheet is parsed with the standard library's C ``iterparse`` when the linked expat is 2.4.1
or later: that expat refuses entity-expansion bombs itself and ElementTree never fetches
external entities (the Python documentation's "XML vulnerabilities" table), and it is about
twice as fast as defusedxml's pure-Python parser, which openpyxl uses and which remains the
fallback on an older expat. The decompressed size is bounded by the caller before reading.
"""

from __future__ import annotations

import pyexpat
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse as _defused_iterparse

iterparse = ET.iterparse if pyexpat.version_info >= (2, 4, 1) else _defused_iterparse

ROW_TAG = f"{{{SHEET_MAIN_NS}}}row"
CELL_TAG = f"{{{SHEET_MAIN_NS}}}c"
VALUE_TAG = f"{{{SHEET_MAIN_NS}}}v"
FORMULA_TAG = f"{{{SHEET_MAIN_NS}}}f"
INLINE_TAG = f"{{{SHEET_MAIN_NS}}}is"
TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"
RUN_TAG = f"{{{SHEET_MAIN_NS}}}r"
# A row start tag, with or without a namespace prefix (<row …> or <x:row …>), for counting.
_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")

FORMULA, ERROR = "f", "e"
READ_CHUNK = 1 << 20  # bytes of decompressed XML per read when scanning


class Cell(NamedTuple):
    """One non-empty cell: 1-based column, its value (a formula as ``"=…"``), and ``kind``:
    ``"f"`` for a formula, ``"e"`` for an error value such as ``#N/A``, else ``None``."""

    column: int
    value: Any
    kind: str | None


@dataclass
class Sheet:
    """An opened workbook, positioned on one worksheet. Close it (or exhaust ``rows``)."""

    archive: zipfile.ZipFile
    name: str
    path: str
    shared_strings: list[str]
    date_formats: frozenset[int]
    timedelta_formats: frozenset[int]
    epoch: Any

    def close(self) -> None:
        self.archive.close()

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(row number, its cells) for every row element, in sheet order; cells without a
        value are left out. The XML is parsed as a stream and each row is dropped once read.
        (The per-cell work is inlined: it runs ~440,000 times for a 10k-row sheet.)"""
        shared, dates, durations, epoch = self.shared_strings, self.date_formats, self.timedelta_formats, self.epoch
        columns: dict[str, int] = {}
        number = 0
        with self.archive.open(self.path) as source:
            for _event, element in iterparse(source):
                if element.tag != ROW_TAG:
                    continue
                r = element.get("r")
                number = _row_number(r) if r else number + 1
                cells: list[Cell] = []
                append = cells.append
                column = 0
                for c in element:
                    if c.tag != CELL_TAG:
                        continue
                    ref = c.get("r")
                    if ref:
                        key = ref.rstrip("0123456789")
                        index = columns.get(key)
                        if index is None:
                            index = columns[key] = _column_index(key, column)
                        column = index
                    else:
                        column += 1
                    value = formula = inline = None
                    for child in c:
                        tag = child.tag
                        if tag == VALUE_TAG:
                            value = child.text
                        elif tag == INLINE_TAG:
                            inline = child
                        elif tag == FORMULA_TAG:
                            formula = child
                    kind = c.get("t")
                    if formula is not None:
                        append(Cell(column, "=" + (formula.text or ""), FORMULA))
                    elif kind == "inlineStr":
                        if inline is not None:
                            if len(inline) == 1 and inline[0].tag == TEXT_TAG:
                                append(Cell(column, inline[0].text or "", None))
                            else:
                                append(Cell(column, _text(inline), None))
                    elif not value:
                        continue
                    elif kind == "s":
                        append(Cell(column, shared[int(value)], None))
                    elif kind is None or kind == "n":
                        append(_number_cell(column, value, c.get("s"), dates, durations, epoch))
                    else:
                        append(_typed_cell(column, value, kind))
                element.clear()
                yield number, cells


def _column_index(letters: str, previous: int) -> int:
    try:
        return column_index_from_string(letters.upper())
    except ValueError:
        return previous + 1  # a malformed reference: take the next column, as openpyxl does without one


def _row_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise ValueError(f"{text} is not a row number") from None
        return int(value)


def _text(node: Any) -> str:
    """The text of an inline or shared string: plain ``<t>`` and rich-text runs, without the
    phonetic hints (``<rPh>``) East Asian editors add."""
    parts = []
    for child in node:
        if child.tag == TEXT_TAG:
            parts.append(child.text or "")
        elif child.tag == RUN_TAG:
            t = child.find(TEXT_TAG)
            if t is not None:
                parts.append(t.text or "")
    return "".join(parts)


def _number_cell(column: int, value: str, style: str | None, dates: frozenset[int], durations: frozenset[int],
                 epoch: Any) -> Cell:
    number: int | float = float(value) if ("." in value or "E" in value or "e" in value) else int(value)
    if style and int(style) in dates:
        try:
            return Cell(column, from_excel(number, epoch, timedelta=int(style) in durations), None)
        except (OverflowError, ValueError):
            return Cell(column, "#VALUE!", ERROR)
    return Cell(column, number, None)


def _typed_cell(column: int, value: str, kind: str) -> Cell:
    if kind == "str":
        return Cell(column, value, None)
    if kind == "b":
        return Cell(column, value.strip() not in ("0", "false", ""), None)
    if kind == "e":
        return Cell(column, value, ERROR)
    if kind == "d":
        return Cell(column, from_ISO8601(value), None)
    return Cell(column, value, None)


def open_sheet(stream: IO[bytes], preferred: str) -> Sheet:
    """Open the workbook in ``stream`` on the sheet named ``preferred``, else its first
    worksheet. Raises ``ValueError`` (or zipfile's and the XML parser's errors) on a file
    that is not a readable workbook; the caller turns them into its own message."""
    reader = ExcelReader(stream, read_only=True, data_only=False)
    try:
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        sheets = [(sheet.name, rel.target) for sheet, rel in reader.parser.find_sheets()
                  if rel.target in reader.valid_files and "chartsheet" not in (rel.Type or "")]
        if not sheets:
            raise ValueError("no worksheet")
        name, path = next((s for s in sheets if s[0] == preferred), sheets[0])
        wb = reader.wb
        return Sheet(reader.archive, name, path, list(reader.shared_strings),
                     frozenset(getattr(wb, "_date_formats", ()) or ()),
                     frozenset(getattr(wb, "_timedelta_formats", ()) or ()), wb.epoch)
    except BaseException:
        reader.archive.close()
        raise


class Merge(NamedTuple):
    """A merged range: its reference (B3:B20) and bounds, 1-based and inclusive."""

    ref: str
    min_col: int
    min_row: int
    max_col: int
    max_row: int


@dataclass
class Scan:
    rows: int  # row elements (blank rows included); 0 unless asked for
    merges: list[Merge]


def scan(sheet: Sheet, *, count_rows: bool = False) -> Scan:
    """The sheet's merged ranges and, when asked, how many row elements it has: one pass over
    the decompressed XML, without parsing it.

    The merged ranges are listed in ``<mergeCells>``, which the schema puts after
    ``<sheetData>``: a streaming reader meets them only once every row has gone by. A reader
    that fills merged cells must know them before the first row, so this pass finds the end
    of ``<sheetData>`` (plain ``bytes.find``; "</" cannot occur inside text, where "<" is
    always escaped) and reads the ranges from what follows it. Decompressing costs ~50 ms for
    a 40 MB sheet; memory stays one chunk.

    The row count (a regular-expression scan of every chunk) is a cheap upper bound on the
    data rows, for deciding before reading it whether a file is large."""
    overlap = 256  # longer than any row start, sheetData end or mergeCell tag: a cut one is seen whole next time
    count = 0
    data = b""
    in_rows = True
    merges: list[Merge] = []
    with sheet.archive.open(sheet.path) as source:
        while True:
            chunk = source.read(READ_CHUNK)
            last = not chunk
            data += chunk
            done = len(data) if last else max(len(data) - overlap, 0)  # what no later chunk can change
            if in_rows:
                end = _sheet_data_end(data)
                if count_rows:
                    stop = done if end < 0 else end
                    count += sum(1 for m in _ROW_START.finditer(data, 0, stop + 64) if m.start() < stop)
                if end < 0:
                    data = data[done:]
                else:
                    in_rows = False
                    data = data[end:]
                    done = len(data) if last else max(len(data) - overlap, 0)
            if not in_rows:
                # A cut tag cannot match (its closing quote is missing): every match is whole.
                for m in _MERGE_CELL.finditer(data):
                    merges.append(_merge(m.group(2).decode("ascii")))
                    done = max(done, m.end())
                data = data[done:]
            if last:
                return Scan(count, merges)


_SHEET_DATA = b"sheetData>"
_MERGE_CELL = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=(["'])([A-Za-z]{1,3}[0-9]+(?::[A-Za-z]{1,3}[0-9]+)?)\1""")


def _sheet_data_end(data: bytes) -> int:
    """Where ``</sheetData>`` (or ``</x:sheetData>``) ends in ``data``, or -1."""
    pos = data.find(_SHEET_DATA)
    while pos >= 0:
        lt = data.rfind(b"<", max(0, pos - 48), pos)
        if lt >= 0 and data[lt + 1:lt + 2] == b"/" and b">" not in data[lt:pos]:
            return pos + len(_SHEET_DATA)
        pos = data.find(_SHEET_DATA, pos + 1)
    return -1


def _merge(ref: str) -> Merge:
    min_col, min_row, max_col, max_row = range_boundaries(ref if ":" in ref else f"{ref}:{ref}")
    return Merge(ref, min_col, min_row, max_col, max_row)
