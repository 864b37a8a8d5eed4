"""Reading sheets the way a Chinese union office builds them (issue 12, item 4): merged
cells found before the rows are read, whatever the chunks the XML arrives in."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from openpyxl import Workbook

from server.domain.members import xlsx
from tests.test_member_import import OWN_NAME, as_saved_by_excel


def workbook(rows: list[list[Any]], merges: tuple[str, ...] = (), title: str = "Sheet1") -> bytes:
    """A sheet exactly as given, row 1 first (no header added), with merged ranges."""
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def prefixed(data: bytes) -> bytes:
    """As Excel writes it: shared strings, a namespace prefix on the sheet's elements, merges included."""
    excel_like = zipfile.ZipFile(io.BytesIO(as_saved_by_excel(data)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in excel_like.namelist():
            content = excel_like.read(name)
            if name == "xl/worksheets/sheet1.xml":
                content = re.sub(rb"<(/?)(mergeCells|mergeCell)([ >/])", rb"<\1x:\2\3", content)
            dst.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("chunk", [7, 61, 300, 1 << 20])
def test_merged_ranges_are_found_before_the_rows_whatever_the_chunks(chunk, monkeypatch):
    rows = [["标题"], ["姓名", "所属分工会"], *[[f"会员{i}", OWN_NAME if i % 5 == 0 else None] for i in range(40)]]
    refs = ["A1:B1"] + [f"B{3 + i}:B{7 + i}" for i in range(0, 40, 5)]
    data = workbook(rows, merges=tuple(refs))
    monkeypatch.setattr(xlsx, "READ_CHUNK", chunk)
    for variant in (data, prefixed(data)):
        sheet = xlsx.open_sheet(io.BytesIO(variant), "Sheet1")
        try:
            found = xlsx.scan(sheet, count_rows=True)
        finally:
            sheet.close()
        assert sorted(m.ref for m in found.merges) == sorted(refs) and found.rows == 42
        assert xlsx.Merge("B3:B7", 2, 3, 2, 7) in found.merges
