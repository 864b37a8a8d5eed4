"""Joining the union online: draft → submitted → confirmed → approved, every refusal, the
member record and number it creates, the notices it emits, and two reviewers at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from stdnum.cn import ric

from server.core.models import AuditLog, Outbox
from server.core.timeutil import local_today
from server.domain.accounts import users as accounts
from server.domain.accounts.models import User
from server.domain.members.models import Member
from server.domain.membership.models import Application, MembershipEvent
from tests.support.api_asserts import assert_error, reread
from tests.support.clients import ApiClient
from tests.support.concurrency import at_once
from tests.support.world import FAST_HASH, OWN_ID, requires_mariadb, wait_for


def valid_id(birth: str, male: bool, seq: str = "12") -> str:
    """A GB 11643 number for region 130302 with the given birth date (YYYYMMDD) and sex."""
    body = f"130302{birth}{seq}{'1' if male else '2'}"
    return body + ric.calc_check_digit(body + "0")


def form(sub_union: int, **overrides) -> dict:  # noqa: ANN003
    values = {"name": "林晓", "gender": "女", "birth_date": "1996-04-12", "id_number": valid_id("19960412", False),
              "sub_union": sub_union, "staff_no": "20260101", "mobile": "13600002222", "department": "计算机学院",
              "post_category": "专任教师", "education": "博士研究生"}
    values.update(overrides)
    return values


def new_applicant(app, db, username: str = "newcomer") -> tuple[ApiClient, int]:  # noqa: ANN001
    """A person signed in (as through WeChat or SSO) with no roles and no member record."""
    user = accounts.create_user(db, None, username=username, display_name=username, roles=[], hash_method=FAST_HASH)
    token = accounts.issue_token(db, user, 1, kind="wechat").token
    db.commit()
    return ApiClient(app.test_client(), token), user.id


def submitted(app, db, world, username: str = "newcomer", **overrides) -> tuple[ApiClient, int]:  # noqa: ANN001, ANN003
    client, _ = new_applicant(app, db, username)
    r = client.post("/api/v1/applications", json={**form(world.own_sub, **overrides), "submit": True})
    assert r.status_code == 201, r.json
    return client, r.json["id"]


def approved(app, db, world, clients, username: str = "newcomer", **overrides) -> dict:  # noqa: ANN001, ANN003
    _, app_id = submitted(app, db, world, username, **overrides)
    assert clients["sub_chair"].post(f"/api/v1/applications/{app_id}/confirm").status_code == 200
    r = clients["chair"].post(f"/api/v1/applications/{app_id}/approve")
    assert r.status_code == 200, r.json
    return r.json


def drain(rt) -> None:  # noqa: ANN001
    """Drop jobs queued by earlier tests (their rows were wiped with the database), so the
    worker reaches this test's notices at once instead of after a backlog."""
    if not rt.queue.inline:
        rt.queue.queue.empty()


def delivered(rt, db, count: int) -> None:  # noqa: ANN001
    """Every outbox row sent: inline on the embedded default, by the worker on MariaDB."""
    def check() -> bool:
        reread(db)
        rows = db.scalars(select(Outbox)).all()
        return len(rows) >= count and all(r.status == "sent" and r.sent_at for r in rows)

    wait_for(check)


# ---- the whole path ----------------------------------------------------------------------


def test_applicant_joins_through_both_reviews(app, rt, db, world, clients, worker):  # noqa: ANN001
    drain(rt)
    client, user_id = new_applicant(app, db)
    r = client.post("/api/v1/applications", json=form(world.own_sub))
    assert r.status_code == 201, r.json
    assert r.json["status"] == "draft" and r.json["values"]["id_number"] == form(world.own_sub)["id_number"]
    app_id = r.json["id"]
    # drafts are the applicant's own: not in any queue
    assert clients["sub_staff"].get("/api/v1/applications").json["total"] == 0
    assert clients["sub_staff"].get(f"/api/v1/applications/{app_id}").status_code == 404

    r = client.patch(f"/api/v1/applications/{app_id}", json={"hobbies": "羽毛球", "submit": True})
    assert r.status_code == 200 and r.json["status"] == "submitted", r.json
    mine = client.get("/api/v1/me/applications").json
    assert [(a["id"], a["status"], a["status_label"]) for a in mine] == [(app_id, "submitted", "待分工会确认")]

    queue = clients["sub_staff"].get("/api/v1/applications?status=submitted").json
    assert [a["id"] for a in queue["items"]] == [app_id]
    assert "*" in queue["items"][0]["values"]["id_number"]  # an operator sees it masked
    assert clients["other_staff"].get("/api/v1/applications").json["total"] == 0
    assert clients["staff"].get("/api/v1/applications?status=submitted").json["total"] == 1

    r = clients["sub_staff"].post(f"/api/v1/applications/{app_id}/confirm")
    assert r.status_code == 200 and r.json["status"] == "confirmed" and r.json["confirmed_by_name"] == "sub_staff"
    r = clients["chair"].post(f"/api/v1/applications/{app_id}/approve")
    assert r.status_code == 200, r.json
    body = r.json
    year = local_today().year
    assert body["status"] == "approved" and body["decided_by_name"] == "chair"
    assert re.fullmatch(rf"{year}\d{{5}}", body["member_no"]) and body["member_no"] == f"{year}00001"

    reread(db)
    member = db.get(Member, body["member_id"])
    assert member.name == "林晓" and member.sub_union_id == world.own_sub and member.member_no == body["member_no"]
    assert member.membership_status == "正常" and member.employment_status == "在职"
    assert member.union_join_date == local_today() and member.hobbies == "羽毛球"
    assert member.name_initials == "lx"
    user = db.get(User, user_id)
    assert user.member_id == member.id and [b.role for b in user.bindings] == ["member"]

    # the same token now speaks for a member: own record, history, membership events
    me = client.get("/api/v1/me/member")
    assert me.status_code == 200 and me.json["member_no"] == body["member_no"]
    history = clients["sub_chair"].get(f"/api/v1/members/{member.id}/history").json
    assert {h["action"] for h in history} == {"member.join"}
    assert any(h["field"] == "member_no" and h["new"] == body["member_no"] for h in history)
    events = clients["sub_chair"].get(f"/api/v1/members/{member.id}/membership-events").json
    assert [(e["kind"], e["to_sub_union_name"]) for e in events] == [("入会", "计算机学院分工会")]
    assert client.get("/api/v1/me/applications").json[0]["member_no"] == body["member_no"]

    actions = db.scalars(select(AuditLog.action).where(AuditLog.object_type == "application")).all()
    assert sorted(actions) == sorted(["application.create", "application.submit", "application.confirm",
                                      "application.approve"])
    delivered(rt, db, 3)
    notices = db.scalars(select(Outbox).order_by(Outbox.id)).all()
    assert [n.event for n in notices] == ["application.submitted", "application.confirmed", "application.approved"]
    assert all(n.recipient_user_id == user_id for n in notices)
    assert notices[-1].payload["member_no"] == body["member_no"]


def test_member_numbers_follow_each_other(app, db, world, clients):  # noqa: ANN001
    first = approved(app, db, world, clients, "first")
    second = approved(app, db, world, clients, "second", name="郑阳", gender="男", birth_date="1993-09-09",
                      id_number=valid_id("19930909", True), staff_no="20260102")
    year = local_today().year
    assert (first["member_no"], second["member_no"]) == (f"{year}00001", f"{year}00002")


def test_number_already_taken_by_an_imported_record_is_skipped(app, db, world, clients):  # noqa: ANN001
    year = local_today().year
    db.get(Member, world.other_member_id).member_no = f"{year}00001"
    db.commit()
    assert approved(app, db, world, clients)["member_no"] == f"{year}00002"


def test_reject_with_reason_and_withdraw(app, db, world, clients):  # noqa: ANN001
    client, app_id = submitted(app, db, world)
    assert_error(clients["sub_chair"].post(f"/api/v1/applications/{app_id}/reject", json={}), 422,
                 "validation_error", fields=("reason",))
    r = clients["sub_chair"].post(f"/api/v1/applications/{app_id}/reject", json={"reason": "非本校在编教职工"})
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["reject_reason"] == "非本校在编教职工"
    assert client.get("/api/v1/me/applications").json[0]["reject_reason"] == "非本校在编教职工"
    assert_error(clients["chair"].post(f"/api/v1/applications/{app_id}/approve"), 409, "wrong_state")
    # a rejected application is closed: the person may apply again, then withdraw
    r = client.post("/api/v1/applications", json={**form(world.own_sub), "submit": True})
    assert r.status_code == 201, r.json
    r = client.post(f"/api/v1/applications/{r.json['id']}/withdraw")
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    assert_error(client.post(f"/api/v1/applications/{r.json['id']}/withdraw"), 409, "wrong_state")
    assert db.scalar(select(func.count()).select_from(Member)) == 2


def test_school_rejects_a_confirmed_application(app, db, world, clients):  # noqa: ANN001
    _, app_id = submitted(app, db, world)
    clients["sub_chair"].post(f"/api/v1/applications/{app_id}/confirm")
    # the sub-union has done its step; the school union decides now
    assert_error(clients["sub_chair"].post(f"/api/v1/applications/{app_id}/reject", json={"reason": "x"}),
                 403, "forbidden")
    r = clients["chair"].post(f"/api/v1/applications/{app_id}/reject", json={"reason": "材料不全"})
    assert r.status_code == 200 and r.json["status"] == "rejected"


# ---- refusals ------------------------------------------------------------------------------


def test_wrong_states_answer_409(app, db, world, clients):  # noqa: ANN001
    client, app_id = submitted(app, db, world)
    body = assert_error(clients["chair"].post(f"/api/v1/applications/{app_id}/approve"), 409, "wrong_state")
    assert "待分工会确认" in body["message"]
    assert clients["sub_chair"].post(f"/api/v1/applications/{app_id}/confirm").status_code == 200
    assert_error(clients["sub_staff"].post(f"/api/v1/applications/{app_id}/confirm"), 409, "wrong_state",
                 message="该申请已确认，不能重复确认")
    assert_error(client.patch(f"/api/v1/applications/{app_id}", json={"hobbies": "跑步"}), 409, "wrong_state")
    assert clients["chair"].post(f"/api/v1/applications/{app_id}/approve").status_code == 200
    assert_error(clients["admin"].post(f"/api/v1/applications/{app_id}/approve"), 409, "wrong_state",
                 message="该申请已审批，不能重复审批")
    assert_error(client.post(f"/api/v1/applications/{app_id}/withdraw"), 409, "wrong_state")
    assert_error(clients["chair"].post(f"/api/v1/applications/{app_id}/reject", json={"reason": "x"}),
                 409, "wrong_state")
    assert db.scalar(select(func.count()).select_from(Member)) == 3


def test_one_open_application_per_person(app, db, world):  # noqa: ANN001
    client, _ = new_applicant(app, db)
    assert client.post("/api/v1/applications", json=form(world.own_sub)).status_code == 201
    body = assert_error(client.post("/api/v1/applications", json={**form(world.own_sub), "submit": True}), 409,
                        "open_application")
    assert "进行中的入会申请" in body["message"]
    # the same person through another account (WeChat and SSO): the id number is already in review
    other, _ = new_applicant(app, db, "same_person_sso")
    first, _ = new_applicant(app, db, "first_account")
    assert first.post("/api/v1/applications", json={**form(world.own_sub, id_number=valid_id("19960412", False, "34")),
                                                      "submit": True}).status_code == 201
    assert_error(other.post("/api/v1/applications", json={**form(world.own_sub, id_number=valid_id(
        "19960412", False, "34")), "submit": True}), 409, "open_application", fields=("id_number",))


def test_existing_member_cannot_apply(clients, world):  # noqa: ANN001
    body = assert_error(clients["member"].post("/api/v1/applications", json=form(world.own_sub)), 409,
                        "already_member")
    assert "已是工会会员" in body["message"]


def test_registered_id_number_is_refused_clearly(app, db, world):  # noqa: ANN001
    client, _ = new_applicant(app, db)
    body = assert_error(client.post("/api/v1/applications", json={
        **form(world.own_sub, id_number=OWN_ID, gender="男", birth_date="1985-03-07"), "submit": True}),
        409, "already_registered", fields=("id_number",))
    assert "已登记为工会会员" in body["message"] and OWN_ID not in body["message"]
    assert db.scalar(select(func.count()).select_from(Application)) == 0


def test_form_is_validated_like_the_registry(app, db, world):  # noqa: ANN001
    client, _ = new_applicant(app, db)
    bad = form(world.own_sub, id_number=valid_id("19960412", False)[:-1] + "0", mobile="12345")
    body = assert_error(client.post("/api/v1/applications", json=bad), 422, "validation_error",
                        fields=("mobile",))
    assert "手机" in body["fields"]["mobile"]
    body = assert_error(client.post("/api/v1/applications", json={**form(world.own_sub), "membership_status": "正常"}),
                        422, "validation_error", fields=("membership_status",))
    no_id = form(world.own_sub)
    del no_id["id_number"]
    assert_error(client.post("/api/v1/applications", json={**no_id, "submit": True}), 422, "validation_error",
                 fields=("id_number",))
    assert_error(client.post("/api/v1/applications", json={"name": "林晓", "submit": True}), 422,
                 "validation_error", fields=("gender", "birth_date", "sub_union"))
    # a partial draft is fine
    assert client.post("/api/v1/applications", json={"name": "林晓"}).status_code == 201


def test_reviewers_act_only_within_their_scope(app, db, world, clients):  # noqa: ANN001
    client, app_id = submitted(app, db, world)
    assert_error(clients["other_chair"].post(f"/api/v1/applications/{app_id}/confirm"), 404, "not_found")
    assert_error(clients["other_chair"].get(f"/api/v1/applications/{app_id}"), 404, "not_found")
    assert_error(clients["staff"].post(f"/api/v1/applications/{app_id}/confirm"), 403, "forbidden")
    assert_error(clients["sub_staff"].post(f"/api/v1/applications/{app_id}/withdraw"), 403, "forbidden")
    stranger, _ = new_applicant(app, db, "stranger")
    # Another person's application is not there for a stranger, exactly like an id that never was.
    assert_error(stranger.get(f"/api/v1/applications/{app_id}"), 404, "not_found")
    assert_error(stranger.patch(f"/api/v1/applications/{app_id}", json={"hobbies": "x"}), 404, "not_found")
    assert_error(stranger.get("/api/v1/applications/987654321"), 404, "not_found")
    assert client.get(f"/api/v1/applications/{app_id}").status_code == 200


def test_former_member_rejoins_with_the_same_record(app, db, world, clients):  # noqa: ANN001
    old = db.get(Member, world.other_member_id)
    old.membership_status, old.member_no = "退会", "201800007"
    db.commit()
    from tests.support.world import OTHER_ID

    client, user_id = new_applicant(app, db)
    r = client.post("/api/v1/applications", json={**form(world.own_sub, name="赵敏", id_number=OTHER_ID,
                                                            birth_date="1990-06-15", staff_no="20160456"),
                                                   "submit": True})
    assert r.status_code == 201, r.json
    clients["sub_chair"].post(f"/api/v1/applications/{r.json['id']}/confirm")
    r = clients["chair"].post(f"/api/v1/applications/{r.json['id']}/approve")
    assert r.status_code == 200, r.json
    assert r.json["member_id"] == world.other_member_id and r.json["member_no"] == "201800007"
    reread(db)
    member = db.get(Member, world.other_member_id)
    assert member.membership_status == "正常" and member.sub_union_id == world.own_sub
    assert member.union_join_date == local_today()
    assert db.scalar(select(func.count()).select_from(Member)) == 2
    kinds = db.scalars(select(MembershipEvent.kind).where(MembershipEvent.member_id == member.id)).all()
    assert kinds == ["重新入会"]
    assert db.get(User, user_id).member_id == member.id


# ---- concurrency ----------------------------------------------------------------------------


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_two_reviewers_approving_at_once_create_one_member(app, db, world, clients):  # noqa: ANN001
    _, app_id = submitted(app, db, world)
    assert clients["sub_chair"].post(f"/api/v1/applications/{app_id}/confirm").status_code == 200
    def approve(name: str) -> int:
        return app.test_client().post(f"/api/v1/applications/{app_id}/approve",
                                      headers={"Authorization": f"Bearer {world.tokens[name]}"}).status_code

    results = at_once([lambda: approve("chair"), lambda: approve("admin")])
    assert sorted(results) == [200, 409]
    reread(db)
    assert db.scalar(select(func.count()).select_from(Member).where(Member.name == "林晓")) == 1
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "member.join")) == 1


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_two_applications_filed_at_once_leave_one_open(app, db, world):  # noqa: ANN001
    client, _ = new_applicant(app, db)
    def apply() -> int:
        c = ApiClient(app.test_client(), None)
        c.headers = client.headers
        return c.post("/api/v1/applications", json={**form(world.own_sub), "submit": True}).status_code

    results = at_once([apply, apply])
    assert sorted(results) == [201, 409]
    reread(db)
    assert db.scalar(select(func.count()).select_from(Application)) == 1
