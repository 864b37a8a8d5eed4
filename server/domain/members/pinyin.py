"""Pinyin initials of a name, stored beside it so a search for "csy" finds 陈思远."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin


def initials(name: str) -> str:
    letters = lazy_pinyin(name or "", style=Style.FIRST_LETTER, errors=lambda s: [c for c in s if c.isalnum()])
    return "".join(letters).lower()[:20]
