"""Finding the header of a member sheet as an office makes it, and naming its columns.

Offices put a title (计算机学院分工会会员信息表, often merged across the columns) and a date
line above the header, number the rows in a 序号 column, write the header two rows deep with
merged cells (姓名 merged down over a row holding 手机 and 邮箱 under 联系方式), mark required
columns with an asterisk or (必填), and call columns by the names their own forms use
(身份证号, 出生年月, 手机, 部门). The header is therefore the first row, among the first
:data:`SCAN_ROWS` non-blank ones, whose cells are mostly known column names (a template label,
a field code or a synonym); the rows above it are reported as skipped, every synonym used is
reported (列「身份证号」按「证件号码」导入), and a column nobody knows is refused with the
closest template names (无法识别的列「身分证」，是否为「证件号码」？). A sheet without any such
row says what its first rows hold instead.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from server.core.errors import Invalid
from server.domain.members import catalogue as cat
from server.domain.members import normalise, xlsx

SCAN_ROWS = 10

# Other names offices give the template's columns: field code → spellings (compared as
# header_key makes them: no spaces, half-width, lower case).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("名字", "职工姓名", "教职工姓名", "会员姓名", "员工姓名"),
    "ethnicity": ("族别", "民族成分"),
    "birth_date": ("出生年月", "出生年月日", "生日", "出生时间", "出生日"),
    "id_type": ("证件种类", "身份证件类型"),
    "id_number": ("身份证号", "身份证号码", "身份证", "公民身份号码", "公民身份证号码", "身份证件号码", "证件号",
                  "证件编号"),
    "household_registration": ("户籍", "户籍地", "户口所在地", "户籍地址"),
    "political_status": ("政治面目", "党派"),
    "mobile": ("手机", "手机号", "联系电话", "移动电话", "联系手机", "手机电话"),
    "office_phone": ("办公室电话", "工作电话", "座机", "固定电话"),
    "email": ("邮箱", "电子邮件", "e-mail", "邮件地址", "电子信箱"),
    "home_address": ("家庭地址", "住址", "现住址", "现居住地址", "通讯地址"),
    "education": ("最高学历", "文化程度"),
    "degree": ("最高学位",),
    "graduate_school": ("毕业学校",),
    "major": ("专业",),
    "staff_no": ("职工号", "教工号", "职工编号", "人员编号", "工作证号"),
    "department": ("部门", "单位", "所在单位", "所在部门", "工作单位", "单位部门", "所在院系"),
    "sub_union": ("分工会", "所属工会", "分工会名称", "所在分工会"),
    "position": ("行政职务", "职务名称"),
    "title": ("职称", "专业技术职称", "技术等级", "专业技术职务"),
    "title_level": ("职称级别", "职称等级"),
    "post_category": ("岗位类型",),
    "employment_type": ("用工形式", "用工类型"),
    "work_start_date": ("参加工作日期", "参加工作年月", "参工时间", "工作时间"),
    "school_join_date": ("来校日期", "入校时间", "到校时间", "来校工作时间", "进校时间"),
    "employment_status": ("在职状态",),
    "member_no": ("会员编号", "工会会员证号"),
    "union_join_date": ("入会日期", "入会年月", "加入工会时间"),
    "membership_status": ("会籍",),
    "is_congress_delegate": ("教代会代表",),
    "model_worker": ("劳模", "劳模先进"),
    "hardship_level": ("困难职工", "困难类别", "困难职工类型"),
    "honors": ("荣誉", "所获荣誉", "荣誉称号"),
    "marital_status": ("婚姻", "婚否"),
    "spouse_name": ("配偶",),
    "spouse_employer": ("配偶单位",),
    "children": ("子女", "子女情况"),
    "resume": ("简历", "工作简历", "学习工作经历"),
    "hobbies": ("兴趣爱好", "爱好", "特长"),
}
# Columns offices add that hold nothing to import: read past, said in the report.
IGNORED = ("序号", "行号", "no", "no.")

_MARKS = "*※★☆"
_REQUIRED_NOTE = re.compile(r"[(\[](?:必填|必填项|选填|可选|非必填)[)\]]$")
_PAREN_TAIL = re.compile(r"[(\[][^()\[\]]*[)\]]$")  # 出生日期(yyyy-mm-dd), 手机号码(11位)


def header_key(value: Any) -> str:
    """A header cell as compared: half-width, no whitespace (姓 名, 出生\\n日期), no required
    marks (*姓名, 姓名（必填）), lower case."""
    text = "".join(normalise.fold(str(value)).split()).strip(_MARKS + ":：")
    return _REQUIRED_NOTE.sub("", text).strip(_MARKS).casefold()


def _index() -> tuple[dict[str, cat.FieldDef], set[str]]:
    known: dict[str, cat.FieldDef] = {}
    for f in cat.CATALOGUE:
        known[header_key(f.label)] = f
        known[f.code] = f
    synonyms = set()
    for code, spellings in SYNONYMS.items():
        for spelling in spellings:
            key = header_key(spelling)
            assert key not in known, f"synonym {spelling} clashes"
            known[key] = cat.BY_CODE[code]
            synonyms.add(key)
    return known, synonyms


KNOWN, _SYNONYM_KEYS = _index()
_LABEL_KEYS = {key: f for key, f in KNOWN.items() if key != f.code}  # what suggestions are drawn from


def lookup(value: Any) -> tuple[cat.FieldDef | None, bool]:
    """The field a header cell names and whether it did so by a synonym."""
    key = header_key(value)
    f = KNOWN.get(key)
    if f is None and (bare := _PAREN_TAIL.sub("", key)) != key and (f := KNOWN.get(bare)) is not None:
        return f, True  # 出生日期(yyyy-mm-dd): said in the report like a synonym
    return f, key in _SYNONYM_KEYS


def suggestions(value: Any, limit: int = 2) -> list[str]:
    """The template labels closest to an unknown header (by spelling, or one containing the other)."""
    key = header_key(value)
    if len(key) < 2:  # 女 is a value, not a misspelt 子女
        return []
    close = difflib.get_close_matches(key, list(_LABEL_KEYS), n=8, cutoff=0.6)
    close += [k for k in _LABEL_KEYS if min(len(k), len(key)) >= 2 and (k in key or key in k) and k not in close]
    return list(dict.fromkeys(_LABEL_KEYS[k].label for k in close))[:limit]


def describe_unknown(text: str) -> str:
    shown = text[:30]
    near = suggestions(text)
    if not near:
        return f"「{shown}」"
    return f"「{shown}」（是否为{'或'.join(f'「{s}」' for s in near)}？）"


@dataclass
class Header:
    """What the header says: the field of each column, where the header is, and what was
    read past to find it."""

    rows: list[int]  # its sheet rows: one, or two with cells merged down
    columns: list[cat.FieldDef | None]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # non-blank rows above: (row, first text)
    synonyms: list[tuple[str, cat.FieldDef]] = field(default_factory=list)
    ignored: dict[int, str] = field(default_factory=dict)  # column → header text (序号)
    spans: dict[int, str] = field(default_factory=dict)  # column inside a merged header cell → its range
    consumed: int = 0  # row elements read up to the header's last row

    @property
    def last_row(self) -> int:
        return self.rows[-1]

    def codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self.columns if f is not None)


Rows = Iterator[tuple[int, list[xlsx.Cell]]]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_formula(cell: xlsx.Cell) -> bool:
    value = cell.value
    return cell.kind == xlsx.FORMULA or (isinstance(value, str) and value.strip().startswith("="))


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _score(cells: list[xlsx.Cell]) -> tuple[int, int]:
    """(cells naming a known column, non-blank cells)."""
    filled = [c for c in cells if not _blank(c.value)]
    known = sum(1 for c in filled if not _is_formula(c) and (lookup(c.value)[0] is not None
                                                               or header_key(c.value) in IGNORED))
    return known, len(filled)


def _merged_from_above(number: int, cells: list[xlsx.Cell], merges: list[xlsx.Merge],
                       above: dict[int, list[xlsx.Cell]]) -> tuple[list[xlsx.Cell], int]:
    """The row's cells with those merged down into it from a row above (姓名 over A2:A3 is in
    row 3 too), and the topmost row such a value came from."""
    have = {c.column for c in cells if not _blank(c.value)}
    added, top = [], number
    for m in merges:
        if m.min_row < number <= m.max_row and m.min_row in above and m.min_col not in have:
            first = next((c for c in above[m.min_row] if c.column == m.min_col and not _blank(c.value)), None)
            if first is not None:
                added.append(first)
                have.add(m.min_col)
                top = min(top, m.min_row)
    return (sorted(cells + added, key=lambda c: c.column), top) if added else (cells, number)


def find(rows: Rows, merges: list[xlsx.Merge]) -> tuple[Header, Rows]:
    """Read rows up to the header and check it. Returns it and the rows after it.

    A header two rows deep is found either way round: from its top row (mostly names, some
    merged down over the row below: that row is read too) or from its bottom row (mostly group
    labels on top, 姓名 merged down into the row of 手机 and 邮箱: the rows above it count)."""
    seen: list[tuple[int, list[xlsx.Cell], int]] = []  # non-blank rows before the header: (row, cells, known)
    above: dict[int, list[xlsx.Cell]] = {}
    consumed = 0
    found: tuple[int, int] | None = None  # (top row, the row that read as a header)
    for number, cells in rows:
        consumed += 1
        with_merged, top = _merged_from_above(number, cells, merges, above) if above else (cells, number)
        known, filled = _score(with_merged)
        if not filled:
            continue
        if known and known * 2 >= filled:
            above[number] = cells
            found = (top, number)
            break
        seen.append((number, cells, known))
        above[number] = cells
        if len(seen) >= SCAN_ROWS:
            break
    if found is None:
        _no_header(seen)
    top, number = found
    deep = [m for m in merges if m.min_row == number and m.max_row > number]
    header_rows = [(n, above[n]) for n in sorted(above) if top <= n <= number]
    last = max((m.max_row for m in deep), default=number)
    if last > number:
        for below, below_cells in rows:
            if below > last:
                rows = itertools.chain([(below, below_cells)], rows)
                break
            consumed += 1
            header_rows.append((below, below_cells))
            if below == last:
                break
    header = _read(header_rows, merges, last)
    header.rows = list(range(top, last + 1))
    header.skipped = [(n, _one_line(next(c.value for c in cs if not _blank(c.value)))[:30])
                      for n, cs, _k in seen if n < top]
    header.consumed = consumed
    return header, rows


def _no_header(seen: list[tuple[int, list[xlsx.Cell], int]]) -> None:
    if not seen:
        raise Invalid({"file": "文件是空的"}, "文件是空的：没有表头（会员信息的列名），也没有数据", code="empty_file")
    # A row naming some known columns, or several cells close to known names (not a one-cell
    # title that happens to contain 分工会), is a header gone wrong: its unknown columns are refused.
    candidates = [s for s in seen if s[2] or (len([c for c in s[1] if not _blank(c.value)]) >= 3 and any(
        suggestions(c.value) for c in s[1] if not _blank(c.value)))]
    if candidates:
        best = max(candidates, key=lambda s: s[2])
        _read([(best[0], best[1])], [], best[0])  # raises: unknown columns, with the closest names
    found = "；".join(
        f"第 {n} 行：" + "、".join(f"「{_one_line(c.value)[:15]}」" for c in cs if not _blank(c.value))[:80]
        for n, cs, _k in seen[:3])
    message = (f"没有找到表头：前 {seen[-1][0]} 行中没有一行是会员信息的列名（如 姓名、性别、出生日期、证件号码）。"
               f"文件中{found}。请在数据上方加一行列名，或使用导入模板")
    raise Invalid({"file": message}, message, code="no_header")


def _read(header_rows: list[tuple[int, list[xlsx.Cell]]], merges: list[xlsx.Merge], last: int) -> Header:
    """The header's columns. With two header rows a column is named by its lowest text (a
    cell merged down counts in every row it covers): 姓名 over A3:A4, 手机 under 联系方式."""
    first = header_rows[0][0]
    texts: dict[int, Any] = {}
    formulas: set[int] = set()
    for _number, cells in header_rows:
        for c in cells:
            if not _blank(c.value):
                texts[c.column] = c.value
                if _is_formula(c):
                    formulas.add(c.column)
    spans: dict[int, str] = {}
    for m in merges:
        if m.min_row > last or m.max_row < first or m.max_col == m.min_col:
            continue
        for col in range(m.min_col + 1, m.max_col + 1):  # a header merged across: the value is its first column's
            if col not in texts or len(header_rows) == 1:
                spans[col] = m.ref
                texts.pop(col, None)
    width = max(texts, default=0)
    header = Header(rows=[n for n, _c in header_rows], columns=[None] * width, spans=spans)
    unknown: list[str] = []
    duplicate: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for col, value in sorted(texts.items()):
        text = _one_line(value)
        if col in formulas:
            unknown.append(f"「{str(value)[:30]}」")
            continue
        f, by_synonym = lookup(value)
        if f is None:
            if header_key(value) in IGNORED:
                header.ignored[col] = text
            else:
                unknown.append(describe_unknown(text))
            continue
        if f.code in seen:
            duplicate.setdefault(f.label, [seen[f.code]]).append(text)
            continue
        seen[f.code] = text
        header.columns[col - 1] = f
        if by_synonym:
            header.synonyms.append((text, f))
    rows_said = _rows_text(header.rows)
    if unknown:
        shown = "、".join(unknown[:10]) + ("……" if len(unknown) > 10 else "")
        message = f"表头（{rows_said}）中有无法识别的列：{shown}；请使用导入模板中的列名（见模板的「说明」工作表）"
        raise Invalid({"file": message}, message, code="unknown_columns")
    if duplicate:
        parts = [f"{label}（{'、'.join(f'「{t}」' for t in texts_)}）" for label, texts_ in duplicate.items()]
        message = f"表头中有重复的列：{'；'.join(parts)}"
        raise Invalid({"file": message}, message, code="duplicate_columns")
    if "name" not in seen:
        message = f"缺少「姓名」列（表头在{rows_said}，请使用导入模板）"
        raise Invalid({"file": message}, message, code="missing_columns")
    return header


def _rows_text(numbers: list[int]) -> str:
    return f"第 {numbers[0]} 行" if len(numbers) == 1 else f"第 {numbers[0]}–{numbers[-1]} 行"


def notes(header: Header) -> list[str]:
    """What finding the header did, in Chinese sentences for the report."""
    out = []
    if header.skipped:
        numbers = [n for n, _t in header.skipped]
        titles = "、".join(f"「{t}」" for _n, t in header.skipped[:2]) + ("等" if len(header.skipped) > 2 else "")
        said = _rows_text(numbers) if numbers == list(range(numbers[0], numbers[-1] + 1)) else (
            "第 " + "、".join(str(n) for n in numbers) + " 行")
        out.append(f"{said}为标题（{titles}），已跳过；{_rows_text(header.rows)}为表头")
    elif header.rows[0] > 1:
        out.append(f"{_rows_text(header.rows)}为表头（其上为空行）")
    elif len(header.rows) > 1:
        out.append(f"{_rows_text(header.rows)}为表头（含合并单元格）")
    for text, f in header.synonyms:
        out.append(f"列「{text}」按「{f.label}」导入")
    for text in header.ignored.values():
        out.append(f"列「{text}」是行序号，不导入")
    return out
