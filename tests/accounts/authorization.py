"""Authorization rows of accounts and roles."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
    ("roles", "GET", "/api/v1/roles", None, only(["admin"], 200)),
    ("users.list", "GET", "/api/v1/users", None, only(["admin"], 200)),
    ("users.create", "POST", "/api/v1/users",
     {"username": "newbie", "display_name": "新人", "password": "abc12345", "roles": [{"role": "member"}]},
     only(["admin"], 201)),
    ("users.get", "GET", "/api/v1/users/{user:member}", None, only(["admin"], 200)),
    ("users.patch", "PATCH", "/api/v1/users/{user:member}", {"display_name": "陈思远"}, only(["admin"], 200)),
    ("users.revoke", "DELETE", "/api/v1/users/{user:member}/tokens", None, only(["admin"], 200)),
]

# Which row reads each kind of object: a role sees the object when that row answers it 200.
READERS = {"user:member": "users.get"}
