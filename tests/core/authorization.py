"""Authorization rows of the platform's own routes."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("health", "GET", "/api/v1/health", None, expect(200, anonymous=200)),
]
