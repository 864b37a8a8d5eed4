"""What an office types, made into what the registry stores, and counted.

Spreadsheets filled in by hand, by a Chinese input method, carry full-width digits and
letters (１３９, ＡＢ, ＠), full-width spaces that pad two-character names to the width of
three (王　芳), and numbers grouped for reading (139 1234 5679, 130302-19850312-0011). The
registry's rules rightly refuse all of these, so the import normalises them first, per the
field's ``normalise`` rule in the catalogue (:mod:`server.domain.members.catalogue`), and only where the
field's meaning allows: free text (addresses, resumes, remarks) keeps its full-width
punctuation, which is correct Chinese typography.

Nothing is changed silently: every change is counted per kind in a :class:`Tally`, with the
first place it happened, and the import report lists them.

The rules:

* ``name`` — full-width letters folded; whitespace between two Chinese characters removed
  (a Chinese name has no space: 王　芳 is 王芳 aligned by a full-width space), other runs of
  whitespace made one space (Zhang San); middle-dot look-alikes (・ ･ ‧ ∙) made 「·」.
* ``number`` — full-width folded; spaces removed; dashes removed when what is left is digits
  (and a final X), i.e. grouping, not part of an alphanumeric passport number.
* ``mobile`` — as ``number``, and a leading country code +86 / 0086 removed.
* ``code`` — full-width folded, spaces removed. Dashes stay: 工号 may contain them (the
  registry allows them and campus SSO matches 工号 as typed), so removing one would make a
  different 工号, and an update a new member.
* ``halfwidth`` — full-width folded only (e-mail, office phone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from server.domain.members import catalogue as cat

# Full-width ASCII (U+FF01–U+FF5E) to ASCII, and the ideographic space to a space.
FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULLWIDTH_NO_SPACE = {k: v for k, v in FULLWIDTH.items() if k != 0x3000}
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphen-minus, hyphens, en/em dash, minus
_DASH_TO_ASCII = {ord(c): "-" for c in DASHES[1:]}
_MIDDLE_DOTS = {ord(c): "·" for c in "\u30fb\uff65\u2027\u2219"}  # ・ ･ ‧ ∙
_HAN = r"\u3400-\u9fff"
_SPACE_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")
_SPACES = re.compile(r"\s+")
_PLAIN_NAME = re.compile(rf"[{_HAN}]+|[A-Za-z]+(?: [A-Za-z]+)*")
_SEPARATED_DIGITS = re.compile(rf"\+?[0-9{DASHES}]+[0-9Xx]")
_COUNTRY_CODE = re.compile(r"(?:\+86|0086|86)(1\d{10})")

FULLWIDTH_KIND, SEPARATORS, COUNTRY_CODE, NAME_SPACES, NAME_DOTS = (
    "fullwidth", "separators", "country_code", "name_spaces", "name_dots")
DATE_TEXT, DATE_SERIAL, MERGED = "date_text", "date_serial", "merged_cells"
KINDS: dict[str, str] = {
    FULLWIDTH_KIND: "全角字符转为半角",
    SEPARATORS: "去掉证件号码、手机号码、工号中的空格和短横线",
    COUNTRY_CODE: "去掉手机号码前的国家代码 +86",
    NAME_SPACES: "去掉姓名中汉字之间的空格、合并连续空格",
    NAME_DOTS: "姓名中的间隔号统一为「·」",
    DATE_TEXT: "日期写法统一为 年-月-日（如 1985年3月12日 → 1985-03-12）",
    DATE_SERIAL: "数字按 Excel 日期序列号读作日期（如 32874 → 1990-01-01）",
    MERGED: "合并单元格按首格内容填充",
}


@dataclass
class Tally:
    """How many values each kind of normalisation changed, and the first one it changed (row,
    column, before → after; the values left out for sensitive fields). ``row`` is the sheet
    row being read, set by the reader."""

    row: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, f: cat.FieldDef | None, before: Any, after: Any, *, times: int = 1) -> None:
        count = self.counts.get(kind)
        if count is None:
            visible = f is None or not f.sensitive
            self.examples[kind] = {"row": self.row, "column": f.label if f else None,
                                   "before": shown(before) if visible else None,
                                   "after": shown(after) if visible else None}
            count = 0
        self.counts[kind] = count + times

    def report(self) -> list[dict[str, Any]]:
        """The normalisations applied, in a fixed order: kind, Chinese label, count, example."""
        return [{"kind": kind, "label": label, "count": self.counts[kind], "example": self.examples[kind]}
                for kind, label in KINDS.items() if kind in self.counts]

    def total(self) -> int:
        return sum(self.counts.values())


def shown(value: Any) -> str:
    """A value as the report shows it: a date as 1985-03-12, at most 40 characters."""
    if isinstance(value, datetime) and value.time() == time(0):
        value = value.date()
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def fold(text: str) -> str:
    """Full-width ASCII and the ideographic space as their half-width selves."""
    return text.translate(FULLWIDTH)


def apply(f: cat.FieldDef, text: str, tally: Tally | None) -> str:
    """``text`` (already trimmed, not empty) under the field's ``normalise`` rule; each change
    is counted in ``tally``."""
    rule = f.normalise
    if not rule:
        return text
    # Most values need nothing: answer those with one cheap test (this runs for every cell of
    # eight columns of a 20,000-row sheet).
    if rule == "name":
        return text if _PLAIN_NAME.fullmatch(text) else _name(f, text, tally)
    if text.isascii() and (rule == "halfwidth" or (text.isalnum() and (rule != "mobile" or len(text) == 11))):
        return text
    folded = text.translate(FULLWIDTH)
    if folded != text and tally is not None:
        tally.add(FULLWIDTH_KIND, f, text, folded)
    value = folded
    if rule in ("number", "mobile", "code"):
        compact = "".join(value.split())
        if rule != "code" and _SEPARATED_DIGITS.fullmatch(compact.translate(_DASH_TO_ASCII)):
            compact = compact.translate({ord(c): None for c in DASHES})
        if compact != value and tally is not None:
            tally.add(SEPARATORS, f, value, compact)
        value = compact
    if rule == "mobile" and (m := _COUNTRY_CODE.fullmatch(value)):
        if tally is not None:
            tally.add(COUNTRY_CODE, f, value, m.group(1))
        value = m.group(1)
    return value


def _name(f: cat.FieldDef, text: str, tally: Tally | None) -> str:
    value = text.translate(_FULLWIDTH_NO_SPACE)
    if value != text and tally is not None:
        tally.add(FULLWIDTH_KIND, f, text, value)
    spaced = _SPACES.sub(" ", _SPACE_BETWEEN_HAN.sub("", value))
    if spaced != value and tally is not None:
        tally.add(NAME_SPACES, f, value, spaced)
    dotted = spaced.translate(_MIDDLE_DOTS)
    if dotted != spaced and tally is not None:
        tally.add(NAME_DOTS, f, spaced, dotted)
    return dotted
