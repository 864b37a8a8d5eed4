"""The printed 《工会会员登记表》: one A4 page per member, laid out from the field catalogue.

No Flask here. The caller passes, per member, the values as the reader may see them (catalogue
code → value, sensitive ones already masked), the sub-union's name and the print date, and gets
PDF bytes back. Nothing below lists member fields: rows come from ``cat.CATALOGUE`` grouped by
``cat.GROUPS``; the layout only decides by type and length how wide a value is (a long text, a
list or a multiple choice takes a whole row, two short ones share a row), that the photo has its
box beside the first group, that 会员证号 heads the page, and that 个人简历 takes the height left.
A LIST field with items (子女信息) is a small table with one column per item.

One member is exactly one page. Every value has a height budget: a value over it is set in a
smaller size and then cut with "…". 个人简历 fills what is left; when generous budgets leave it
too little room, the page is laid out again with tighter ones (and, as a last resort that the
catalogue's limits never reach, the table is drawn scaled down).

The page is drawn straight on a reportlab canvas (ruled cells, text wrapped here, CJK breaking
anywhere, Latin words kept whole, closing punctuation hanging): a page costs a few milliseconds,
so a batch of hundreds stays fast, and ``entries`` may be a generator, one member held at a time.
Chinese uses reportlab's built-in CID font STSong-Light: no font file, and the text stays
extractable and searchable in the PDF.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from server.domain.members import catalogue as cat

FONT = "STSong-Light"
TITLE = "工会会员登记表"
PHOTO_CODE = "photo"  # drawn as the photo box, not as a row
HEADER_CODE = "member_no"  # printed in the line under the title
FILL_CODE = "resume"  # the block that takes the height left on the page

PAGE_W, PAGE_H = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 40.0, 34.0, 30.0
WIDTH = PAGE_W - 2 * MARGIN_X
GROUP_W, LABEL_W, PHOTO_W = 24.0, 72.0, 84.0
PHOTO_MIN_H = 104.0  # a 一寸 photo is 25 × 35 mm (71 × 99 pt)
PAD_X, PAD_Y = 3.0, 2.0
SIGN_H = 62.0
BASE_SIZE, LEADING = 9.0, 11.5
RATIO = LEADING / BASE_SIZE
INK = colors.HexColor("#222222")
LINE = colors.HexColor("#333333")
LABEL_BG = colors.HexColor("#F3F3F3")
GROUP_BG = colors.HexColor("#E4E4E4")
HINT = colors.HexColor("#8A8A8A")
SUBGRID = colors.HexColor("#9A9A9A")

LEFT, CENTER = "left", "center"
NO_LINE_START = set("，。、；：！？）》」』】〕”’,.;:!?)]}%…")
_TOKENS = re.compile(r"[A-Za-z0-9@._%+\-]+|.", re.S)
# Characters the font's Unicode map (UniGB-UCS2-H) lacks, as the GB 2312 character every viewer
# shows: the middle dot of names such as 阿卜杜热合曼·买买提 would otherwise print as a blank box.
PRINTABLE = str.maketrans({"\u00b7": "\u30fb", "\u2022": "\u30fb", "\u2027": "\u30fb", "\u22c5": "\u30fb",
                           "\u2219": "\u30fb"})


@dataclass(frozen=True)
class FormEntry:
    """One member's page: values by catalogue code (masked as the reader may see them)."""

    values: Mapping[str, Any]
    sub_union_name: str | None = None
    print_date: date | None = None


@dataclass(frozen=True)
class _Tier:
    """Height budgets, in lines of the base size; each tier is tighter than the one before."""

    min_row: float
    half_lines: int
    full_lines: int
    long_lines: int
    list_rows: int
    min_size: float
    min_fill: float


TIERS = (
    _Tier(min_row=18, half_lines=2, full_lines=2, long_lines=4, list_rows=10, min_size=7.0, min_fill=96),
    _Tier(min_row=16, half_lines=2, full_lines=2, long_lines=2, list_rows=4, min_size=6.5, min_fill=60),
    _Tier(min_row=15, half_lines=1, full_lines=1, long_lines=1, list_rows=2, min_size=6.0, min_fill=24),
)


def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


_register_font()
_FACE = pdfmetrics.getFont(FONT).face
ASCENT, DESCENT = _FACE.ascent / 1000, -_FACE.descent / 1000


# ---- text: measuring, wrapping, fitting ------------------------------------------------------


@lru_cache(maxsize=8192)
def _em(token: str) -> float:
    """Width of ``token`` at size 1."""
    return pdfmetrics.stringWidth(token, FONT, 1000) / 1000


def _wrap(text: str, size: float, width: float, max_lines: int | None = None) -> list[str]:
    """Lines of ``text`` no wider than ``width``; stops once past ``max_lines``."""
    lines: list[str] = []
    for para in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line, used = "", 0.0
        for tok in _TOKENS.findall(para):
            w = _em(tok) * size
            if used + w <= width + 0.01:
                if line or not tok.isspace():
                    line, used = line + tok, used + w
                continue
            if tok.isspace():  # a space where the line breaks disappears
                lines.append(line.rstrip())
                line, used = "", 0.0
            elif tok in NO_LINE_START and line:  # closing punctuation hangs past the edge
                line, used = line + tok, used + w
            elif w <= width:
                lines.append(line.rstrip())
                line, used = tok, w
            else:  # a word wider than the line: broken by characters
                for ch in tok:
                    cw = _em(ch) * size
                    if used + cw > width + 0.01 and line:
                        lines.append(line)
                        line, used = "", 0.0
                    line, used = line + ch, used + cw
            if max_lines is not None and len(lines) > max_lines:
                return lines
        lines.append(line.rstrip())
        if max_lines is not None and len(lines) > max_lines:
            return lines
    return lines


@dataclass
class _Text:
    """Wrapped lines at one size; drawn centred vertically in its cell unless ``top``."""

    lines: list[str]
    size: float = BASE_SIZE
    align: str = LEFT
    color: Any = INK

    @property
    def leading(self) -> float:
        return self.size * RATIO

    @property
    def height(self) -> float:
        return len(self.lines) * self.leading

    def draw(self, c: Canvas, x: float, top: float, width: float) -> None:
        c.setFillColor(self.color)
        c.setFont(FONT, self.size)
        lead = self.leading
        for i, line in enumerate(self.lines):
            if not line:
                continue
            base = top - i * lead - (lead - (ASCENT + DESCENT) * self.size) / 2 - ASCENT * self.size
            if self.align == CENTER:
                c.drawCentredString(x + width / 2, base, line)
            else:
                c.drawString(x, base, line)


def _fit(text: str, width: float, lines: float, *, min_size: float, align: str = LEFT,
         size: float = BASE_SIZE, color: Any = INK) -> _Text:
    """``text`` in at most ``lines`` base lines of height: smaller type first, then cut with "…"."""
    if not text:
        return _Text([], size, align, color)
    text = text.translate(PRINTABLE)
    max_h = lines * LEADING + 0.5
    while True:
        fit_lines = max(1, int(max_h / (size * RATIO) + 1e-6))
        wrapped = _wrap(text, size, width, fit_lines)
        if len(wrapped) <= fit_lines:
            return _Text(wrapped, size, align, color)
        if size - 0.5 < min_size - 1e-9:
            break
        size -= 0.5
    kept = wrapped[:fit_lines]
    last = kept[-1].rstrip()
    while last and (_em(last) + _em("…")) * size > width:
        last = last[:-1].rstrip()
    kept[-1] = last + "…"
    return _Text(kept, size, align, color)


# ---- values as printed ---------------------------------------------------------------------


def _text(f: cat.FieldDef, value: Any, sub_union_name: str | None) -> str:
    if f.type == cat.REF:
        return sub_union_name or ("" if value is None else str(value))
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        if f.items:
            return "；".join(" ".join(_text(i, v.get(i.code), None) for i in f.items)
                            for v in value if isinstance(v, Mapping))
        return "、".join(str(v) for v in value)
    return str(value)


def _long_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else "　　年　　月　　日"


# ---- the page as ruled cells ----------------------------------------------------------------


def _is_full(f: cat.FieldDef) -> bool:
    return f.type in (cat.LONGTEXT, cat.LIST, cat.MULTI) or (f.max_length or 0) > 100


def _row_fields(fields: list[cat.FieldDef]) -> list[list[cat.FieldDef]]:
    """Catalogue order; two short fields share a row, a long one takes a row of its own."""
    rows: list[list[cat.FieldDef]] = []
    pending: cat.FieldDef | None = None
    for f in fields:
        if _is_full(f):
            if pending:
                rows.append([pending])
                pending = None
            rows.append([f])
        elif pending:
            rows.append([pending, f])
            pending = None
        else:
            pending = f
    if pending:
        rows.append([pending])
    return rows


def _groups() -> list[tuple[str, list[cat.FieldDef]]]:
    out = []
    for code, label in cat.GROUPS.items():
        fields = [f for f in cat.CATALOGUE if f.group == code and f.code not in (PHOTO_CODE, HEADER_CODE)]
        if fields:
            out.append((label, fields))
    return out


@dataclass
class _SubTable:
    """A LIST field's entries: a header of item labels, one line per entry, maybe a note."""

    widths: list[float]
    rows: list[list[_Text]]
    note: _Text | None

    def row_height(self, row: list[_Text]) -> float:
        return max(t.height for t in row) + 2

    @property
    def height(self) -> float:
        return sum(self.row_height(r) for r in self.rows) + (self.note.height + 2 if self.note else 0)

    def draw(self, c: Canvas, x: float, top: float, width: float) -> None:
        c.setStrokeColor(SUBGRID)
        c.setLineWidth(0.3)
        y = top
        for n, row in enumerate(self.rows):
            h = self.row_height(row)
            cx = x
            for w, t in zip(self.widths, row, strict=True):
                if n == 0:
                    c.setFillColor(LABEL_BG)
                    c.rect(cx, y - h, w, h, stroke=1, fill=1)
                else:
                    c.rect(cx, y - h, w, h, stroke=1, fill=0)
                t.draw(c, cx + 2, y - (h - t.height) / 2, w - 4)
                cx += w
            y -= h
        if self.note:
            h = self.note.height + 2
            c.rect(x, y - h, sum(self.widths), h, stroke=1, fill=0)
            self.note.draw(c, x + 2, y - 1, sum(self.widths) - 4)


def _sub_table(f: cat.FieldDef, value: Any, width: float, tier: _Tier) -> _SubTable:
    entries = [v for v in (value or []) if isinstance(v, Mapping)]
    weights = [2 if i.type in (cat.TEXT, cat.DATE) else 1 for i in f.items]
    widths = [width * w / sum(weights) for w in weights]
    small = BASE_SIZE - 0.5
    rows = [[_fit(i.label, w - 4, 1, min_size=6, size=small, align=CENTER) for i, w in zip(f.items, widths, strict=True)]]
    shown = entries if len(entries) <= tier.list_rows else entries[: max(tier.list_rows - 1, 1)]
    for e in shown:
        rows.append([_fit(_text(i, e.get(i.code), None), w - 4, 1, min_size=tier.min_size, size=small, align=CENTER)
                     for i, w in zip(f.items, widths, strict=True)])
    rest = len(entries) - len(shown)
    note = f"……另有 {rest} 项，共 {len(entries)} 项" if rest else ("无" if not entries else None)
    return _SubTable(widths, rows, _Text([note], small, CENTER, HINT) if note else None)


@dataclass
class _Cell:
    col: int
    span: int
    content: _Text | _SubTable | None = None
    shade: Any = None
    fill: cat.FieldDef | None = None  # the value that takes the height left, built last


@dataclass
class _Row:
    cells: list[_Cell]
    height: float

    @property
    def fill(self) -> _Cell | None:
        return next((c for c in self.cells if c.fill is not None), None)


@dataclass
class _Group:
    label: str
    widths: list[float]
    rows: list[_Row] = field(default_factory=list)
    photo: bool = False

    @property
    def height(self) -> float:
        return sum(r.height for r in self.rows)

    def cell_width(self, cell: _Cell) -> float:
        return sum(self.widths[cell.col:cell.col + cell.span])

    def label_text(self, height: float) -> _Text:
        """The group's name down its first column: a character a line, or two when short of room."""
        size = BASE_SIZE + 0.5
        chars = list(self.label)
        if len(chars) * size * RATIO + 2 * PAD_Y > height:
            chars = [self.label[i:i + 2] for i in range(0, len(self.label), 2)]
        return _Text(chars, size, CENTER)


def _value(f: cat.FieldDef, entry: FormEntry, width: float, tier: _Tier) -> _Text | _SubTable:
    value = entry.values.get(f.code)
    if f.type == cat.LIST and f.items:
        return _sub_table(f, value, width, tier)
    lines = tier.long_lines if f.type == cat.LONGTEXT else (tier.full_lines if _is_full(f) else tier.half_lines)
    return _fit(_text(f, value, entry.sub_union_name), width, lines, min_size=tier.min_size)


@lru_cache(maxsize=256)
def _label(label: str) -> _Text:
    width = LABEL_W - 2 * PAD_X
    if "/" in label and _em(label) * BASE_SIZE > width:  # 专业技术职称/ 技术等级: break where the label does
        label = label.replace("/", "/\n", 1)
    return _fit(label, width, 2, min_size=6.0, align=CENTER)


def _build_group(label: str, fields: list[cat.FieldDef], entry: FormEntry, tier: _Tier, photo: bool) -> _Group:
    if photo:
        v = (WIDTH - GROUP_W - 2 * LABEL_W - PHOTO_W) / 2
        widths = [GROUP_W, LABEL_W, v, LABEL_W, v, PHOTO_W]
    else:
        v = (WIDTH - GROUP_W - 2 * LABEL_W) / 2
        widths = [GROUP_W, LABEL_W, v, LABEL_W, v]
    group = _Group(label, widths, photo=photo)
    for pair in _row_fields(fields):
        cells: list[_Cell] = []
        tallest = 0.0
        for i, f in enumerate(pair):
            lab = _label(f.label)
            cells.append(_Cell(1 + 2 * i, 1, lab, LABEL_BG))
            tallest = max(tallest, lab.height)
            cell = _Cell(2 + 2 * i, 1 if len(pair) == 2 else 3)
            cells.append(cell)
            if f.code == FILL_CODE and len(pair) == 1:
                cell.fill = f
                continue
            cell.content = _value(f, entry, group.cell_width(cell) - 2 * PAD_X, tier)
            tallest = max(tallest, cell.content.height)
        group.rows.append(_Row(cells, max(tier.min_row, tallest + 2 * PAD_Y + 0.5)))
    need = group.label_text(group.height).height + 2 * PAD_Y
    if photo:
        need = max(need, PHOTO_MIN_H)
    if group.height < need and not any(r.fill for r in group.rows):
        extra = (need - group.height) / len(group.rows)
        for r in group.rows:
            r.height += extra
    return group


def _layout(entry: FormEntry, available: float) -> list[_Group]:
    """The page's groups, laid out with the most generous budgets that leave 个人简历 its room."""
    for tier in TIERS:
        groups = [_build_group(label, fields, entry, tier, photo=(i == 0 and PHOTO_CODE in cat.BY_CODE))
                  for i, (label, fields) in enumerate(_groups())]
        fills = [(g, r) for g in groups for r in g.rows if r.fill]
        left = available - sum(r.height for g in groups for r in g.rows if not r.fill)
        enough = left / len(fills) >= tier.min_fill if fills else left >= 0
        if enough or tier is TIERS[-1]:
            break
    for g, r in fills:
        r.height = max(left / len(fills), tier.min_row)
        cell = r.fill
        text = _text(cell.fill, entry.values.get(cell.fill.code), entry.sub_union_name)
        cell.content = _fit(text, g.cell_width(cell) - 2 * PAD_X, (r.height - 2 * PAD_Y - 1) / LEADING,
                            min_size=tier.min_size)
    return groups


# ---- drawing ------------------------------------------------------------------------------


def _draw_group(c: Canvas, g: _Group, top: float) -> None:
    xs = [0.0]
    for w in g.widths:
        xs.append(xs[-1] + w)
    height = g.height
    c.setLineWidth(0.5)
    c.setStrokeColor(LINE)
    c.setFillColor(GROUP_BG)
    c.rect(0, top - height, g.widths[0], height, stroke=1, fill=1)
    label = g.label_text(height)
    label.draw(c, 0, top - (height - label.height) / 2, g.widths[0])
    y = top
    for row in g.rows:
        for cell in row.cells:
            x, w = xs[cell.col], g.cell_width(cell)
            c.setStrokeColor(LINE)
            c.setLineWidth(0.5)
            if cell.shade is not None:
                c.setFillColor(cell.shade)
            c.rect(x, y - row.height, w, row.height, stroke=1, fill=cell.shade is not None)
            content = cell.content
            if content is None:
                continue
            inner = w - 2 * PAD_X
            ctop = y - PAD_Y - 0.5 if cell.fill else y - (row.height - content.height) / 2
            content.draw(c, x + PAD_X, ctop, inner)
        y -= row.height
    if g.photo:
        x, w = xs[-2], g.widths[-1]
        c.setStrokeColor(LINE)
        c.rect(x, top - height, w, height, stroke=1, fill=0)
        hint = _Text(["一寸照片"], BASE_SIZE, CENTER, HINT)
        hint.draw(c, x, top - (height - hint.height) / 2, w)
    c.setStrokeColor(LINE)
    c.setLineWidth(1.0)
    c.rect(0, top - height, xs[-1], height, stroke=1, fill=0)


def _draw_page(c: Canvas, entry: FormEntry) -> None:
    top = PAGE_H - MARGIN_TOP
    size, space = 20.0, 6.0  # the title, spaced out and centred
    width = pdfmetrics.stringWidth(TITLE, FONT, size) + space * (len(TITLE) - 1)
    t = c.beginText((PAGE_W - width) / 2, top - size)
    t.setFont(FONT, size)
    t.setCharSpace(space)
    t.textOut(TITLE)
    c.saveState()  # the character spacing is graphics state: it must not reach the rest of the page
    c.setFillColor(colors.black)
    c.drawText(t)
    c.restoreState()

    line_y = top - size - 22  # 会员证号 … 填表日期
    c.setFont(FONT, 10)
    if HEADER_CODE in cat.BY_CODE:
        label = f"{cat.BY_CODE[HEADER_CODE].label}："
        number = str(entry.values.get(HEADER_CODE) or "").translate(PRINTABLE)
        c.drawString(MARGIN_X, line_y, label + number)
        if not number:
            x = MARGIN_X + pdfmetrics.stringWidth(label, FONT, 10)
            c.setLineWidth(0.5)
            c.line(x, line_y - 2, x + 110, line_y - 2)
    c.drawRightString(MARGIN_X + WIDTH, line_y, f"填表日期：{_long_date(entry.print_date)}")

    table_top = line_y - 7
    available = table_top - MARGIN_BOTTOM - SIGN_H
    groups = _layout(entry, available)
    total = sum(g.height for g in groups)
    scale = available / total if total > available + 0.5 else 1.0
    c.saveState()
    c.translate(MARGIN_X + WIDTH * (1 - scale) / 2, table_top)
    c.scale(scale, scale)
    y = 0.0
    for g in groups:
        _draw_group(c, g, y)
        y -= g.height
    c.restoreState()
    _draw_signatures(c, table_top - total * scale)


def _draw_signatures(c: Canvas, top: float) -> None:
    """本人签字 / 分工会意见（盖章）/ 校工会意见（盖章）, each with its date line."""
    boxes = (("本人签字：", "日期：　　年　　月　　日"),
             ("分工会意见（盖章）：", "　　年　　月　　日"),
             ("校工会意见（盖章）：", "　　年　　月　　日"))
    w = WIDTH / len(boxes)
    c.setStrokeColor(LINE)
    c.setFillColor(INK)
    c.setLineWidth(0.5)
    c.setFont(FONT, 9.5)
    for i, (head, foot) in enumerate(boxes):
        x = MARGIN_X + i * w
        c.rect(x, top - SIGN_H, w, SIGN_H)
        c.drawString(x + 5, top - 14, head)
        c.drawRightString(x + w - 8, top - SIGN_H + 8, foot)
    c.setLineWidth(1.0)
    c.rect(MARGIN_X, top - SIGN_H, WIDTH, SIGN_H)
    c.setFont(FONT, 7)
    c.setFillColor(HINT)
    c.drawString(MARGIN_X, top - SIGN_H - 11, "本人承诺以上所填信息真实、准确；信息如有变动，请及时告知所在分工会。")


def render_forms(entries: Iterable[FormEntry]) -> bytes:
    """The PDF of 《工会会员登记表》, one A4 page per entry, in the order given."""
    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=A4, pageCompression=1)
    c.setTitle(TITLE)
    c.setAuthor("工会智慧平台")
    c.setCreator("工会智慧平台")
    pages = 0
    for entry in entries:
        _draw_page(c, entry)
        c.showPage()
        pages += 1
    if not pages:
        raise ValueError("render_forms needs at least one member")
    c.save()
    return buffer.getvalue()
