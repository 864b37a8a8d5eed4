"""Every route × every role → the status it must answer, from one table.

Later issues add rows here. Paths may use {own_sub}, {other_sub}, {empty_sub}, {member_id},
{other_member_id} and {user:<name>}; a body may be a dict or a function of the world.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ALL_ROLES

SCHOOL = ("admin", "chair", "staff")
OWN_SUB = ("sub_chair", "sub_staff")
OTHER_SUB = ("other_chair", "other_staff")
STAFF = SCHOOL + OWN_SUB + OTHER_SUB


def expect(default: int, **by_role: int) -> dict[str, int]:
    """``default`` for every signed-in role, 401 for anonymous, overrides by role name."""
    table = {role: default for role in ALL_ROLES}
    table["anonymous"] = 401
    table.update(by_role)
    return table


def only(roles: tuple[str, ...] | list[str], ok: int, others: int = 403, **by_role: int) -> dict[str, int]:
    table = expect(others)
    for role in roles:
        table[role] = ok
    table.update(by_role)
    return table


def each(roles: tuple[str, ...], status: int) -> dict[str, int]:
    return {r: status for r in roles}


ROWS: list[tuple[str, str, str, Any, dict[str, int]]] = [
    # --- foundation: auth, accounts, sub-unions, audit --------------------------------
    ("login", "POST", "/api/v1/auth/login", {"username": "member", "password": "secret123"},
     expect(200, anonymous=200)),
    ("me", "GET", "/api/v1/auth/me", None, expect(200)),
    ("logout", "POST", "/api/v1/auth/logout", None, expect(204)),
    ("health", "GET", "/api/v1/health", None, expect(200, anonymous=200)),
    ("roles", "GET", "/api/v1/roles", None, only(["admin"], 200)),
    ("users.list", "GET", "/api/v1/users", None, only(["admin"], 200)),
    ("users.create", "POST", "/api/v1/users",
     {"username": "newbie", "display_name": "新人", "password": "abc12345", "roles": [{"role": "member"}]},
     only(["admin"], 201)),
    ("users.get", "GET", "/api/v1/users/{user:member}", None, only(["admin"], 200)),
    ("users.patch", "PATCH", "/api/v1/users/{user:member}", {"display_name": "陈思远"}, only(["admin"], 200)),
    ("users.revoke", "DELETE", "/api/v1/users/{user:member}/tokens", None, only(["admin"], 200)),
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
    ("audit.list", "GET", "/api/v1/audit-log", None, only(SCHOOL, 200)),
    # --- member registry ------------------------------------------------------------------
    ("fields", "GET", "/api/v1/fields", None, expect(200)),
    ("members.list", "GET", "/api/v1/members", None, only(STAFF, 200)),
    ("members.create", "POST", "/api/v1/members",
     {"name": "周新", "gender": "女", "birth_date": "1992-05-01", "staff_no": "20240001"},
     only(SCHOOL, 422, **each(OWN_SUB + OTHER_SUB, 201))),  # school roles must name the sub-union
    ("members.get own", "GET", "/api/v1/members/{member_id}", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("members.get other", "GET", "/api/v1/members/{other_member_id}", None,
     only(SCHOOL + OTHER_SUB, 200, **each(OWN_SUB, 404))),
    ("members.patch own", "PATCH", "/api/v1/members/{member_id}", {"hobbies": "摄影", "version": 1},
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("members.patch other", "PATCH", "/api/v1/members/{other_member_id}", {"hobbies": "摄影", "version": 1},
     only(SCHOOL + OTHER_SUB, 200, **each(OWN_SUB, 404))),
    ("members.history", "GET", "/api/v1/members/{member_id}/history", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("me.member", "GET", "/api/v1/me/member", None, only(["member"], 200)),
    ("me.member.patch", "PATCH", "/api/v1/me/member", {"hobbies": "游泳", "version": 1}, only(["member"], 200)),
    # --- printed registration form (PDF) ----------------------------------------------------
    ("members.form", "GET", "/api/v1/members/{member_id}/registration-form.pdf", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("members.forms", "GET", "/api/v1/members/registration-forms.pdf", None, only(STAFF, 200)),
    ("me.form", "GET", "/api/v1/me/registration-form.pdf", None,
     expect(404, member=200)),  # staff accounts have no linked member
]


def _path(template: str, world) -> str:  # noqa: ANN001
    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key.startswith("user:"):
            return str(world.users[key[5:]])
        return str(getattr(world, key))

    return re.sub(r"\{([a-z_:]+)\}", sub, template)


CASES = [
    pytest.param(method, path, body, role, statuses[role], id=f"{name}-{role}")
    for name, method, path, body, statuses in ROWS
    for role in ALL_ROLES
]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
def test_authorization(clients, world, method, path, body, role, status):  # noqa: ANN001
    payload = body(world) if callable(body) else body
    kwargs = {"json": payload} if payload is not None else {}
    response = clients[role].open(method, _path(path, world), **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        assert response.is_json and response.json["code"] and response.json["message"]


def test_matrix_covers_every_route(app):  # noqa: ANN001
    """A new route without a row in the table fails here."""
    covered = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for _, m, p, _, _ in ROWS}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<[^>]+>", "{}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, path) not in covered:
                missing.append(f"{method} {path}")
    assert not missing, f"routes without authorization rows: {missing}"
