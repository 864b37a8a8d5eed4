"""``next`` after sign-in: only this site's own paths, so SSO can never become an open redirect."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_NEXT = 2000


def safe_next(value: object, default: str = "/") -> str:
    """``value`` when it is a path on this site, else ``default``.

    Browsers read ``//evil``, ``/\\evil`` and ``/%5Cevil`` as other hosts, and some proxies
    decode once more, so the value is refused when any of its decodings is not a plain path.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT:
        return default
    candidate = value
    for _ in range(4):
        if not _plain_path(candidate):
            return default
        decoded = unquote(candidate)
        if decoded == candidate:
            return value
        candidate = decoded
    return default  # still encoded after several rounds: not a path anyone types


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//"):
        return False
    if "\\" in text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc
