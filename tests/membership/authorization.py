"""Authorization rows of the member workflows (issue 4): joining, transfers, status changes.
Their objects, one per workflow state and all in our sub-union, come from
``tests.membership.factories.workflow_objects``."""

from __future__ import annotations

from tests.support.authz import OTHER_SUB, OWN_SUB, SCHOOL, STAFF, Row, Upload, each, expect, only  # noqa: F401

ROWS: list[Row] = [
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
]

READERS = {
    "app_submitted": "applications.get", "app_confirmed": "applications.get",
    "transfer_requested": "transfers.get", "transfer_out_approved": "transfers.get",
    "transfer_school_approved": "transfers.get", "status_change": "status_changes.get",
}


def objects(world, db, app) -> None:  # noqa: ANN001
    from tests.membership.factories import workflow_objects

    workflow_objects(db, world)
