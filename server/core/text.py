"""The one rule for text that people send: what can be stored and shown safely.

Every text input meets it — every string of a JSON body (keys too), query string, form field
and upload name, through the request parser (:mod:`server.routes.common`), and every member
value, through the field catalogue's ``clean`` (which also covers Excel cells) — so no field
has a rule of its own and no text reaches the database that it cannot store.

Refused, with the character named so a person can find it:

- a lone surrogate (``"\\ud800"`` in JSON): valid JSON, but not a character at all; neither
  UTF-8 nor utf8mb4 can encode it, so it used to fail deep inside the database driver (a 500);
- control characters other than tab and line breaks (NUL, ESC, DEL, the C1 range): invisible,
  they truncate text in C libraries and break exports;
- bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they make
  text display in an order other than it is stored (``王芳\\u202e`` …), the "Trojan Source" trick;
- the noncharacters U+FFFE and U+FFFF.

Line breaks are the caller's to refuse where a value is one line (``multiline=False``).
Refusing rather than silently removing keeps what is stored equal to what was sent.
"""

from __future__ import annotations

import re

_FORBIDDEN = re.compile(
    "[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)
_FORBIDDEN_ONE_LINE = re.compile(_FORBIDDEN.pattern[:-1] + "\n\r]")


def problem(text: str, *, multiline: bool = True) -> str | None:
    """Why ``text`` cannot be accepted (a Chinese sentence naming the character), or None."""
    found = (_FORBIDDEN if multiline else _FORBIDDEN_ONE_LINE).search(text)
    if found is None:
        return None
    ch = found.group()
    code = f"U+{ord(ch):04X}"
    if ch in "\n\r":
        return "不能包含换行"
    if "\ud800" <= ch <= "\udfff":
        return f"含有无法保存的字符（不成对的代理项 {code}），请删除后重新输入"
    if "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069":
        return f"含有改变文字显示方向的控制字符 {code}，请删除后重新输入"
    if ch in "\ufffe\uffff":
        return f"含有无效字符 {code}，请删除后重新输入"
    return f"含有不可见的控制字符 {code}，请删除后重新输入"
