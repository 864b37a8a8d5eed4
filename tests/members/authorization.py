"""Authorization rows of the member registry, the printed registration form and the Excel
batch import (issue 3)."""

from __future__ import annotations

import io

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401


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


ROWS: list[Row] = [
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
]

READERS = {"member_id": "members.get own", "other_member_id": "members.get other", "member_import": "members.import_job"}


def objects(world, db, app) -> None:  # noqa: ANN001
    """A finished import job of the school operator's: {member_import}."""
    from tests.members.factories import import_job

    world.member_import = import_job(db, world.users["staff"], job_id=f"import-matrix-{world.own_sub}").id
