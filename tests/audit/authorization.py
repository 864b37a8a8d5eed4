"""Authorization rows of the audit log."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("audit.list", "GET", "/api/v1/audit-log", None, only(SCHOOL, 200)),
]
