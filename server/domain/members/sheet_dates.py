"""Reading a date cell of an imported sheet the ways a Chinese office writes one.

The API takes ISO dates (and the few spellings :func:`validation.parse_date` lists) from
programs; a spreadsheet typed by people holds 1985年3月12日, 1985.3.12, 1985/3/12, 1985-3-12,
１９８５－０３－１２ (a Chinese input method), 19850312, 1985。3。12 (the ideographic full stop
of the same input method), real date cells, and date numbers whose cell lost its date format
(Excel serials). All of these name one day and are read; each change of spelling is counted
(:mod:`.normalise`) so the report shows it.

What does not name one day is refused with the reason: 1985年3月 and 1985.3 lack the day
(a column headed 出生年月 invites them), 85.3.12 has a two-digit year, 12/03/1985 puts the
year last (day and month cannot be told apart), 1985-02-30 is no day at all. Guessing would
put a wrong date in the registry without anyone noticing.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time
from typing import Any

from openpyxl.utils.datetime import from_excel

from server.domain.members import catalogue as cat
from server.domain.members import normalise
from server.domain.members.normalise import Tally

EXAMPLE = "1985-03-12"
SPELLINGS = "1985-03-12（也可写 1985年3月12日、1985.3.12、1985/3/12、19850312）"
# Serial day numbers from 1920-01-01 on: nobody in a member registry has an earlier date, and
# small numbers (12, 300) typed into a date column are mistakes, not days of 1900.
FIRST_SERIAL, LAST_SERIAL = 7306, 2958465
_YEARS = range(1900, 2101)

_EXTRA = {ord("。"): ".", ord("．"): ".", **{ord(c): "-" for c in normalise.DASHES[1:]}}
_TIME = r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_Y, _M, _D = r"(?P<y>\d{4})", r"(?P<m>\d{1,2})", r"(?P<d>\d{1,2})"
_FULL = (
    re.compile(rf"{_Y}\s*(?P<s>[-/.])\s*{_M}\s*(?P=s)\s*{_D}\s*日?{_TIME}"),  # 1985-3-12, 1985.3.12, 1985/3/12
    re.compile(rf"{_Y}\s*年\s*{_M}\s*月\s*{_D}\s*[日号]?"),  # 1985年3月12日
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),  # 19850312
)
_YEAR_MONTH = re.compile(rf"{_Y}\s*(?:年\s*|[-/.]\s*)?{_M}\s*[月\-/.]?")  # 1985年3月, 1985.3, 198503
_YEAR_ONLY = re.compile(rf"{_Y}\s*年?")
_YEAR_LAST = re.compile(r"\d{1,2}\s*([-/.])\s*\d{1,2}\s*\1\s*\d{4}")
_SHORT_YEAR = re.compile(r"\d{2}\s*(?:([-/.])\s*\d{1,2}\s*\1|年\s*\d{1,2}\s*月)\s*\d{1,2}\s*日?")


def read(f: cat.FieldDef, value: Any, tally: Tally | None = None) -> date:
    """The day a date cell names, or ValueError saying why it names none."""
    if isinstance(value, date):  # a date cell (datetime is a date too)
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, time):
        raise ValueError(f"「{value.isoformat()}」是时间，不是日期，请写作 {SPELLINGS}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"应为日期，请写作 {SPELLINGS}")
    if isinstance(value, str):
        return _from_text(f, value, tally)
    return _from_number(f, value, tally)


def _from_number(f: cat.FieldDef, number: int | float, tally: Tally | None) -> date:
    whole = float(number).is_integer()
    shown = str(int(number)) if whole else str(number)
    if whole and 10_000_000 <= number <= 99_991_231:  # 19850312 typed as a number
        return _from_text(f, shown, tally, counted=True)
    if whole and (100_000 <= number <= 999_999 or int(number) in _YEARS):
        return _from_text(f, shown, tally)  # 198503, 1985: the same refusal as typed as text
    if FIRST_SERIAL <= number <= LAST_SERIAL:
        day = from_excel(number).date()
        if tally is not None:
            tally.add(normalise.DATE_SERIAL, f, shown, day)
        return day
    raise ValueError(f"「{shown}」不是日期，请写作 {SPELLINGS}")


def _from_text(f: cat.FieldDef, text: str, tally: Tally | None, *, counted: bool = False) -> date:
    raw = text.strip()
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":  # the common case, fast
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    folded = raw.translate(normalise.FULLWIDTH)
    if folded != raw and tally is not None:
        tally.add(normalise.FULLWIDTH_KIND, f, raw, folded)
    value = folded.translate(_EXTRA).strip()
    match = next((m for pattern in _FULL if (m := pattern.fullmatch(value))), None)
    if match is None:
        raise ValueError(_why_not(raw, value))
    day_read = _day(raw, int(match["y"]), int(match["m"]), int(match["d"]))
    if tally is not None and (counted or value != day_read.isoformat()):
        tally.add(normalise.DATE_TEXT, f, raw, day_read)
    return day_read


def _day(raw: str, year: int, month: int, day: int) -> date:
    if not 1 <= month <= 12:
        raise ValueError(f"「{raw}」不是有效日期：月份应为 1–12")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(f"「{raw}」不是有效日期：{year} 年 {month} 月没有 {day} 日（只有 {last} 天）")
    return date(year, month, day)


def _why_not(raw: str, value: str) -> str:
    shown = raw if len(raw) <= 30 else raw[:30] + "…"
    if (m := _YEAR_ONLY.fullmatch(value)) and int(m["y"]) in _YEARS:
        return f"「{shown}」只有年份，缺少月和日，请写完整日期，如 {EXAMPLE}"
    if (m := _YEAR_MONTH.fullmatch(value)) and int(m["y"]) in _YEARS and 1 <= int(m["m"]) <= 12:
        return f"「{shown}」缺少日，请写完整日期，如 {EXAMPLE}"
    if _YEAR_LAST.fullmatch(value):
        return f"「{shown}」年份在最后，分不清月和日，请把年份写在前面，如 {EXAMPLE}"
    if _SHORT_YEAR.fullmatch(value):
        return f"「{shown}」年份只有两位，请写 4 位年份，如 {EXAMPLE}"
    return f"「{shown}」不是日期，请写作 {SPELLINGS}"
