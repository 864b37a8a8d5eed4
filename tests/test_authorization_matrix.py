"""Every route × every role → the status it must answer, from one table.

Later issues add rows here. Paths may use {own_sub}, {other_sub}, {empty_sub}, {member_id},
{other_member_id} and {user:<name>}; a body may be a dict or a function of the world, and an
``Upload`` (fields and files) is sent as multipart/form-data instead of JSON.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from tests.api_asserts import assert_documented
from tests.conftest import ALL_ROLES


class Upload(dict):
    """A multipart/form-data body: form fields, and files as (stream, filename)."""


def import_upload(world) -> Upload:  # noqa: ANN001
    """A one-row member import, written for real: a sub-union account imports into its own
    sub-union (no 所属分工会 column); a school account gets a row error (所属分工会 必填)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["姓名", "性别", "出生日期", "工号"])
    wb.active.append(["周新", "女", "1992-05-01", "20240099"])
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return Upload(file=(out, "members.xlsx"), dry_run="false", mode="valid_only")

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
    # --- Excel batch import (issue 3) ----------------------------------------------------------
    ("members.import_template", "GET", "/api/v1/members/import-template.xlsx", None, only(STAFF, 200)),
    ("members.import", "POST", "/api/v1/members/import", import_upload, only(STAFF, 200)),
    ("members.import_job", "GET", "/api/v1/members/imports/{member_import}", None,
     only(["staff"], 200, others=404, member=403)),  # a large import's job: its requester only
    # --- identity: WeChat login and binding (issue 6); Bearer accounts have no WeChat user ---
    ("wechat.login", "POST", "/api/v1/auth/wechat/login", {"code": "dev:matrix"}, expect(200, anonymous=200)),
    ("wechat.bind", "POST", "/api/v1/auth/wechat/bind", {"staff_no": "20150123", "name": "陈思远", "id_last6": "071236"},
     expect(403)),
    ("wechat.unbind", "DELETE", "/api/v1/auth/wechat/bind", None, expect(403)),
    ("wechat.bind_code", "POST", "/api/v1/auth/wechat/bind-code", None, expect(403)),
    ("wechat.unbind_member", "DELETE", "/api/v1/members/{member_id}/wechat-binding", None,
     only(SCHOOL, 404, **each(OTHER_SUB, 404))),  # school roles reach it; this member has no WeChat
    # --- member workflows (issue 4): objects from the workflow_world fixture, all in our sub-union
    ("applications.create", "POST", "/api/v1/applications",
     lambda w: {"name": "周新", "gender": "女", "birth_date": "1992-05-01", "id_number": "130302199205011221",
                "submit": True, "sub_union": w.own_sub},
     expect(201, member=409)),  # anyone signed in without a membership; the member already is one
    ("applications.queue", "GET", "/api/v1/applications", None, only(STAFF, 200)),
    # Object routes answer in one order (issue 12): 403 without any permission the action needs
    # (decided before looking), then 404 for what the caller cannot see (another sub-union's,
    # another person's), then 403 with the reason for a step that is not theirs.
    ("applications.get", "GET", "/api/v1/applications/{app_submitted}", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404), member=404)),
    ("applications.patch", "PATCH", "/api/v1/applications/{app_submitted}", {"hobbies": "跑步"},
     only(SCHOOL + OWN_SUB, 403, **each(OTHER_SUB, 404), member=404)),  # only the applicant edits
    ("applications.confirm", "POST", "/api/v1/applications/{app_submitted}/confirm", None,
     only(OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("applications.approve", "POST", "/api/v1/applications/{app_confirmed}/approve", None,
     only(["admin", "chair"], 200)),
    ("applications.reject", "POST", "/api/v1/applications/{app_submitted}/reject", {"reason": "材料不全"},
     only(["admin", "chair", *OWN_SUB], 200, **each(OTHER_SUB, 404))),
    ("applications.withdraw", "POST", "/api/v1/applications/{app_submitted}/withdraw", None,
     only(SCHOOL + OWN_SUB, 403, **each(OTHER_SUB, 404), member=404)),  # only the applicant withdraws
    ("me.applications", "GET", "/api/v1/me/applications", None, expect(200)),
    ("transfers.create", "POST", "/api/v1/transfers",
     lambda w: {"member_id": w.member_id, "to_sub_union_id": w.other_sub, "reason": "调动"},
     only(SCHOOL + OWN_SUB + ("member",), 201, **each(OTHER_SUB, 404))),
    ("transfers.list", "GET", "/api/v1/transfers", None, only(STAFF, 200)),
    ("transfers.get", "GET", "/api/v1/transfers/{transfer_requested}", None,
     only(STAFF, 200, member=404)),  # both ends see it
    ("transfers.approve out", "POST", "/api/v1/transfers/{transfer_requested}/approve", None,
     only(["sub_chair"], 200)),  # the in side sees it (403 with the reason)
    ("transfers.approve school", "POST", "/api/v1/transfers/{transfer_out_approved}/approve", None,
     only(["admin", "chair"], 200)),
    ("transfers.accept", "POST", "/api/v1/transfers/{transfer_school_approved}/accept", None,
     only(["other_chair"], 200)),
    ("transfers.reject", "POST", "/api/v1/transfers/{transfer_requested}/reject", {"reason": "不同意"},
     only(["admin", "chair", "sub_chair"], 200)),
    ("transfers.cancel", "POST", "/api/v1/transfers/{transfer_requested}/cancel", None,
     only(["admin", "chair", "sub_staff"], 200, member=404)),  # the requester (sub_staff) or the school union
    ("me.transfers", "GET", "/api/v1/me/transfers", None, only(["member"], 200)),
    ("status_changes.create", "POST", "/api/v1/status-changes",
     lambda w: {"member_id": w.member_id, "kind": "离职", "effective_date": "2026-03-01", "reason": "调离"},
     only(SCHOOL + OWN_SUB, 201, **each(OTHER_SUB, 404))),
    ("status_changes.list", "GET", "/api/v1/status-changes", None, only(STAFF, 200)),
    ("status_changes.get", "GET", "/api/v1/status-changes/{status_change}", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    ("status_changes.approve", "POST", "/api/v1/status-changes/{status_change}/approve", None,
     only(["admin", "chair"], 200)),
    ("status_changes.reject", "POST", "/api/v1/status-changes/{status_change}/reject", {"reason": "材料不全"},
     only(["admin", "chair"], 200)),
    ("status_changes.cancel", "POST", "/api/v1/status-changes/{status_change}/cancel", None,
     only(["admin", "chair", "sub_staff"], 200, **each(OTHER_SUB, 404))),  # the requester or the school union
    ("members.membership_events", "GET", "/api/v1/members/{member_id}/membership-events", None,
     only(SCHOOL + OWN_SUB, 200, **each(OTHER_SUB, 404))),
    # --- statistics and exports (issue 5) -----------------------------------------------------
    ("stats.fields", "GET", "/api/v1/stats/fields", None, only(STAFF, 200)),
    ("stats.query", "POST", "/api/v1/stats/query",
     {"filter": {"all": [{"field": "age", "op": "gte", "value": 18}]}, "fields": ["name", "mobile"]},
     only(STAFF, 200)),
    ("stats.summary", "POST", "/api/v1/stats/summary", {"group_by": ["sub_union", "age_band"]}, only(STAFF, 200)),
    ("stats.presets.list", "GET", "/api/v1/stats/presets", None, only(STAFF, 200)),
    ("stats.presets.create", "POST", "/api/v1/stats/presets",
     {"name": "女职工", "filter": {"all": [{"field": "gender", "op": "eq", "value": "女"}]}}, only(STAFF, 201)),
    ("stats.presets.run", "POST", "/api/v1/stats/presets/members_by_sub_union/run", {}, only(STAFF, 200)),
    ("stats.presets.run saved", "POST", "/api/v1/stats/presets/{stats_preset}/run", {},
     only(["staff"], 200, others=404, member=403)),  # a private preset: its owner only
    ("stats.presets.delete", "DELETE", "/api/v1/stats/presets/{stats_preset}", None,
     only(["staff"], 204, others=404, member=403)),
    ("stats.presets.run shared", "POST", "/api/v1/stats/presets/{shared_preset}/run", {},
     only(STAFF, 200)),  # a shared preset: every staff account runs it
    ("stats.presets.delete shared", "DELETE", "/api/v1/stats/presets/{shared_preset}", None,
     only(["staff"], 204, others=404, member=403)),  # deleting: its owner only, others as if absent
    ("stats.export", "POST", "/api/v1/stats/export", {"fields": ["name", "mobile"]}, only(STAFF, 200)),
    ("exports.list", "GET", "/api/v1/exports", None, only(STAFF, 200)),  # each sees only their own
    ("exports.get", "GET", "/api/v1/exports/{stats_export}", None, only(["staff"], 200, others=404, member=403)),
    ("exports.download", "GET", "/api/v1/exports/{stats_export}/download", None,
     only(["staff"], 200, others=404, member=403)),  # the requester only
]


@pytest.fixture(autouse=True)
def _workflow_objects(request):  # noqa: ANN001, ANN202
    """Issue 4's rows act on applications, transfers and status changes in given states."""
    if "world" in request.fixturenames:
        request.getfixturevalue("workflow_world")


@pytest.fixture(autouse=True)
def _stats_objects(request):  # noqa: ANN001, ANN202
    """Issue 5's rows: a finished export and a private preset, both the school operator's."""
    if "world" not in request.fixturenames:
        return
    import os

    from server.domain.statistics import exports
    from server.domain.statistics.models import StatsExport, StatsPreset

    world, db, app = (request.getfixturevalue(n) for n in ("world", "db", "app"))
    preset = StatsPreset(name="私有方案", filter={}, owner_user_id=world.users["staff"], shared=False)
    shared = StatsPreset(name="共享方案", filter={}, owner_user_id=world.users["staff"], shared=True)
    export = StatsExport(requested_by=world.users["staff"], job_id=f"export-matrix-{world.own_sub}", filter={},
                         status="done", total=0, rows_written=0, download_name="会员导出.xlsx")
    db.add_all([preset, shared, export])
    db.flush()
    export.file_name = f"matrix-{export.id}.xlsx"
    db.commit()
    directory = os.path.join(app.instance_path, "exports")
    os.makedirs(directory, exist_ok=True)
    with open(exports.file_path(directory, export), "wb") as fh:
        fh.write(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip is enough to serve
    world.stats_preset, world.stats_export, world.shared_preset = preset.id, export.id, shared.id
    from server.domain.members.models import MemberImport

    job = MemberImport(requested_by=world.users["staff"], job_id=f"import-matrix-{world.own_sub}", file_name="会员.xlsx",
                       dry_run=True, mode="all_or_nothing", status="done", rows_estimated=0)
    db.add(job)
    db.commit()
    world.member_import = job.id


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
def test_authorization(app, clients, world, method, path, body, role, status):  # noqa: ANN001
    payload = body(world) if callable(body) else body
    if isinstance(payload, Upload):
        kwargs = {"data": dict(payload), "content_type": "multipart/form-data"}
    else:
        kwargs = {"json": payload} if payload is not None else {}
    response = clients[role].open(method, _path(path, world), **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status >= 400:
        assert response.is_json and response.json["code"] and response.json["message"]
    assert_documented(app, method, _path(path, world), response)


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


# --- an id from elsewhere reveals nothing ---------------------------------------------------
# Which row reads each kind of object: a role sees the object when that row answers it 200.
READERS = {
    "member_id": "members.get own", "other_member_id": "members.get other",
    "own_sub": "sub_unions.get own", "other_sub": "sub_unions.get other", "empty_sub": "sub_unions.get own",
    "app_submitted": "applications.get", "app_confirmed": "applications.get",
    "transfer_requested": "transfers.get", "transfer_out_approved": "transfers.get",
    "transfer_school_approved": "transfers.get", "status_change": "status_changes.get",
    "stats_preset": "stats.presets.run saved", "shared_preset": "stats.presets.run shared", "stats_export": "exports.get", "member_import": "members.import_job",
    "user:member": "users.get",
}
GHOST_ID = "987654321"
_BY_NAME = {name: statuses for name, _m, _p, _b, statuses in ROWS}
GHOST_CASES = [
    pytest.param(method, path, body, role, key, id=f"{name}-{role}")
    for name, method, path, body, statuses in ROWS
    for key in re.findall(r"\{([a-z_:]+)\}", path)[:1]
    for role in ALL_ROLES
    if _BY_NAME[READERS[key]][role] != 200
]


@pytest.mark.parametrize(("method", "path", "body", "role", "key"), GHOST_CASES)
def test_out_of_scope_answers_like_nonexistent(app, clients, world, method, path, body, role, key):  # noqa: ANN001
    """For a role that cannot see the object, the object's id and an id that exists nowhere get
    the same answer (status and code): probing ids tells nothing about what is elsewhere."""
    payload = body(world) if callable(body) else body
    if isinstance(payload, Upload):
        pytest.skip("uploads name no object by id")
    kwargs = {"json": payload} if payload is not None else {}
    real = clients[role].open(method, _path(path, world), **kwargs)
    ghost = clients[role].open(method, _path(path.replace("{" + key + "}", GHOST_ID), world), **kwargs)
    assert (real.status_code, real.json["code"]) == (ghost.status_code, ghost.json["code"]), (
        real.get_data(as_text=True)[:200], ghost.get_data(as_text=True)[:200])
