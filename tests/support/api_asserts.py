"""Assertions shared by the feature tests: what every error answer must look like."""

from __future__ import annotations

from typing import Any


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def assert_error(resp: Any, status: int, code: str, *, message: str | None = None,
                 fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """An error answer: JSON (never HTML) with status, a stable code and a Chinese message;
    ``fields`` must name every given field. Returns the body for further checks."""
    text = resp.get_data(as_text=True)
    assert resp.status_code == status, text
    assert resp.mimetype == "application/json", (resp.content_type, text)
    assert "<html" not in text.lower()
    body = resp.get_json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and has_chinese(body["message"]), body
    if message is not None:
        assert body["message"] == message, body
    for name in fields:
        assert name in body.get("fields", {}), body
        assert body["fields"][name], body
    return body


def reread(db: Any) -> Any:
    """Make the test's session see what the requests committed: end its transaction and forget
    every loaded object (a commit with expire_on_commit=False leaves stale ones behind)."""
    db.rollback()
    db.expire_all()
    return db


_document: Any = None


def assert_documented(app: Any, method: str, path: str, resp: Any) -> None:
    """The answer is one the OpenAPI document promises for this operation: its status is listed
    and its body matches that status's schema (``Error`` for every error). The matrix calls it
    for every route × role, with real objects; tests/core/test_openapi_conformance.py fuzzes the rest."""
    global _document
    import re

    import schemathesis

    from server.cli import build_openapi

    if _document is None:
        _document = schemathesis.openapi.from_dict(build_openapi(full=True))
    rule, _args = app.url_map.bind("localhost").match(path.split("?")[0], method=method.upper(), return_rule=True)
    template = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
    operation = _document[template][method.upper()]
    documented = operation.responses.status_codes
    assert str(resp.status_code) in documented, f"{method} {template}: {resp.status_code} not in {documented}"
    operation.validate_response(resp)
