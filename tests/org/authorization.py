"""Authorization rows of sub-unions (分工会)."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("sub_unions.list", "GET", "/api/v1/sub-unions", None, only(STAFF, 200)),
    ("sub_unions.create", "POST", "/api/v1/sub-unions", {"name": "新分工会", "code": "NEW"},
     only(["admin", "chair"], 201)),
    ("sub_unions.options", "GET", "/api/v1/sub-unions/options", None, expect(200)),
    ("sub_unions.get own", "GET", "/api/v1/sub-unions/{own_sub}", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("sub_unions.get other", "GET", "/api/v1/sub-unions/{other_sub}", None,
     only(SCHOOL + OTHER_SUB, 200, **each(OWN_SUB, 404))),
    ("sub_unions.patch", "PATCH", "/api/v1/sub-unions/{own_sub}", {"chair": "张志强"},
     only(["admin", "chair"], 200)),
    ("sub_unions.delete", "DELETE", "/api/v1/sub-unions/{empty_sub}", None, only(["admin", "chair"], 204)),
]

READERS = {"own_sub": "sub_unions.get own", "other_sub": "sub_unions.get other", "empty_sub": "sub_unions.get own"}
