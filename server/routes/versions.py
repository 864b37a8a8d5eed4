"""Optimistic concurrency over HTTP, the one way every versioned record does it.

An answer carrying a versioned record sends its version as the ``ETag`` (``"3"``); a change
names the version it was based on in ``If-Match`` (or a ``version`` field in the body), and the
domain refuses a stale one (409 ``stale_version``, naming both versions). Without either it is
400 ``version_required``, a malformed ``If-Match`` 400 ``bad_if_match``.

flask-smorest's ETag feature (``blp.etag``, ``check_etag``) hashes the answer and answers 428
and 412; this API's clients send record versions and are told 400 or 409, so the versioned
routes use this module instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request

from server.core.errors import DomainError


def expected_version(data: dict, what: str) -> int:
    """The version a change was based on (``If-Match`` first, else the body's ``version``,
    which is taken out of ``data``); ``what`` names the record in the message."""
    body_version = data.pop("version", None)
    header = request.headers.get("If-Match", "").strip()
    if header:
        try:
            return int(header.removeprefix("W/").strip('"'))
        except ValueError:
            raise DomainError("If-Match 应为读取时的版本号，例如 \"3\"", code="bad_if_match") from None
    if body_version is not None:
        return body_version
    raise DomainError(f"修改{what}须提供读取时的版本号（version 字段或 If-Match 头），以免覆盖他人的修改",
                      code="version_required")


def with_etag(view: Callable[..., Any]) -> Callable[..., Any]:
    """Put under ``@blp.response``: the view returns a record with a ``version``, the answer
    gets it as its ``ETag``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record = view(*args, **kwargs)
        return record, {"ETag": f'"{record.version}"'}

    return wrapper
