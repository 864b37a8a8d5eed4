"""Objects of the membership area: applications, transfers and status changes in given states."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.domain.accounts import users as accounts
from server.domain.members.models import Member
from server.domain.membership.models import Application, StatusChange, Transfer
from tests.support.world import FAST_HASH, World


def application(db, sub_union_id: int, username: str, id_number: str, staff_no: str, status: str) -> Application:  # noqa: ANN001
    """An application by a new account without roles, named 林晓 (flushed, not committed)."""
    user = accounts.create_user(db, None, username=username, display_name=username, roles=[], hash_method=FAST_HASH)
    values = {"name": "林晓", "gender": "女", "birth_date": id_number[6:10] + "-" + id_number[10:12] + "-"
              + id_number[12:14], "id_number": id_number, "sub_union": sub_union_id, "staff_no": staff_no}
    row = Application(applicant_user_id=user.id, status=status, sub_union_id=sub_union_id, values=values,
                      name="林晓", id_number=id_number, open_user_id=user.id, open_id_number=id_number)
    db.add(row)
    db.flush()
    return row


def transfer(db, member: Member, to_sub_union_id: int, status: str, requested_by: int, **values: Any) -> Transfer:  # noqa: ANN001
    row = Transfer(member_id=member.id, from_sub_union_id=member.sub_union_id, to_sub_union_id=to_sub_union_id,
                   reason="调动", status=status, open_member_id=member.id, requested_by=requested_by, **values)
    db.add(row)
    db.flush()
    return row


def status_change(db, member: Member, kind: str, status: str, requested_by: int, **values: Any) -> StatusChange:  # noqa: ANN001
    defaults: dict[str, Any] = {"effective_date": date(2026, 1, 1), "reason": "到龄退休"}
    row = StatusChange(member_id=member.id, sub_union_id=member.sub_union_id, kind=kind, status=status,
                       open_member_id=member.id, requested_by=requested_by, **{**defaults, **values})
    db.add(row)
    db.flush()
    return row


def workflow_objects(db, w: World) -> None:  # noqa: ANN001
    """Issue 4: one object per workflow state, its id set on ``w``: {app_submitted}
    {app_confirmed} (own sub-union), {transfer_requested} {transfer_out_approved}
    {transfer_school_approved} (own → other, filed by sub_staff), {status_change} (filed by sub_staff)."""
    w.app_submitted = application(db, w.own_sub, "applicant1", "130302199604121225", "20260101", "submitted").id
    w.app_confirmed = application(db, w.own_sub, "applicant2", "130302199604121241", "20260102", "confirmed").id
    for i, status in enumerate(("requested", "out_approved", "school_approved")):
        m = Member(name="转会人", staff_no=f"T{i}", sub_union_id=w.own_sub, gender="男", birth_date=date(1980, 1, 1),
                   membership_status="正常", employment_status="在职", name_initials="zhr")
        db.add(m)
        db.flush()
        setattr(w, f"transfer_{status}", transfer(db, m, w.other_sub, status, w.users["sub_staff"]).id)
    m = Member(name="退休人", staff_no="S1", sub_union_id=w.own_sub, gender="女", birth_date=date(1966, 1, 1),
               membership_status="正常", employment_status="在职", name_initials="txr")
    db.add(m)
    db.flush()
    w.status_change = status_change(db, m, "退休", "requested", w.users["sub_staff"]).id
