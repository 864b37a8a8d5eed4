"""Status changes: 退休 / 离职 / 去世 / 复职, requested by the sub-union, approved by the school
union, each kept as a 会籍 event; nothing is deleted."""

from __future__ import annotations

from sqlalchemy import func, select

from server.core.models import AuditLog, Outbox
from server.domain.members.models import Member
from server.domain.membership.models import StatusChange, Transfer
from server.domain.org import sub_unions
from tests.membership.test_applications import drain
from tests.support.api_asserts import assert_error, reread
from tests.support.world import wait_for


def ask(clients, world, kind: str, who: str = "sub_staff", member_id: int | None = None, **extra):  # noqa: ANN001, ANN003, ANN201
    body = {"member_id": member_id or world.member_id, "kind": kind, "effective_date": "2026-03-01",
            "reason": f"{kind}手续已办结"}
    body.update(extra)
    return clients[who].post("/api/v1/status-changes", json=body)


def approve(clients, world, kind: str, member_id: int | None = None) -> dict:  # noqa: ANN001
    r = ask(clients, world, kind, member_id=member_id)
    assert r.status_code == 201, r.json
    r = clients["chair"].post(f"/api/v1/status-changes/{r.json['id']}/approve")
    assert r.status_code == 200, r.json
    return r.json


def retirees(db, code: str = "LTX", name: str = "离退休分工会") -> int:  # noqa: ANN001
    sub = sub_unions.create(db, None, {"name": name, "code": code, "is_retirees": True})
    db.commit()
    return sub.id


def test_retirement_keeps_membership_and_moves_to_retirees(rt, db, world, clients, worker):  # noqa: ANN001
    drain(rt)
    ltx = retirees(db)
    r = ask(clients, world, "退休")
    assert r.status_code == 201 and r.json["status"] == "requested" and r.json["effective_date"] == "2026-03-01"
    sid = r.json["id"]
    assert [x["id"] for x in clients["sub_chair"].get("/api/v1/status-changes?status=requested").json["items"]] == [sid]
    assert clients["other_staff"].get("/api/v1/status-changes").json["total"] == 0
    assert_error(clients["sub_chair"].post(f"/api/v1/status-changes/{sid}/approve"), 403, "forbidden")

    r = clients["chair"].post(f"/api/v1/status-changes/{sid}/approve")
    assert r.status_code == 200 and r.json["status"] == "approved" and r.json["decided_by_name"] == "chair"
    reread(db)
    member = db.get(Member, world.member_id)
    assert (member.employment_status, member.membership_status, member.sub_union_id) == ("退休", "保留会籍", ltx)
    own = clients["chair"].get(f"/api/v1/sub-unions/{world.own_sub}").json
    home = clients["chair"].get(f"/api/v1/sub-unions/{ltx}").json
    assert (own["member_count"], home["member_count"], home["reserved_count"]) == (0, 0, 1)

    events = clients["chair"].get(f"/api/v1/members/{world.member_id}/membership-events").json
    assert [(e["kind"], e["effective_date"], e["reason"], e["from_sub_union_name"], e["to_sub_union_name"])
            for e in events] == [("退休保留会籍", "2026-03-01", "退休手续已办结", "计算机学院分工会", "离退休分工会")]
    history = clients["chair"].get(f"/api/v1/members/{world.member_id}/history").json
    assert {(h["field"], h["old"], h["new"]) for h in history} == {
        ("employment_status", "在职", "退休"), ("membership_status", "正常", "保留会籍"),
        ("sub_union", world.own_sub, ltx)}
    # the request stays visible to the sub-union that filed it
    assert clients["sub_staff"].get(f"/api/v1/status-changes/{sid}").status_code == 200

    def sent() -> list:
        reread(db)
        rows = db.scalars(select(Outbox).order_by(Outbox.id)).all()
        return rows if len(rows) == 2 and all(r.status == "sent" for r in rows) else []

    assert [r.event for r in wait_for(sent)] == ["status_change.requested", "status_change.approved"]


def test_configured_retirees_sub_union_wins(app, db, world, clients, monkeypatch):  # noqa: ANN001
    retirees(db)
    chosen = retirees(db, "TX2", "退休教职工分工会")
    monkeypatch.setitem(app.config, "RETIREES_SUB_UNION_CODE", "TX2")
    approve(clients, world, "退休")
    reread(db)
    assert db.get(Member, world.member_id).sub_union_id == chosen


def test_retirement_without_retirees_sub_union_stays(db, world, clients):  # noqa: ANN001
    approve(clients, world, "退休")
    reread(db)
    member = db.get(Member, world.member_id)
    assert (member.sub_union_id, member.membership_status) == (world.own_sub, "保留会籍")


def test_leaving_death_and_return(db, world, clients):  # noqa: ANN001
    approve(clients, world, "离职")
    reread(db)
    m = db.get(Member, world.member_id)
    assert (m.employment_status, m.membership_status) == ("离职", "转出")
    approve(clients, world, "复职")
    reread(db)
    m = db.get(Member, world.member_id)
    assert (m.employment_status, m.membership_status) == ("在职", "正常")
    approve(clients, world, "去世")
    reread(db)
    m = db.get(Member, world.member_id)
    assert (m.employment_status, m.membership_status) == ("去世", "注销")
    events = clients["chair"].get(f"/api/v1/members/{world.member_id}/membership-events").json
    assert [e["kind"] for e in events] == ["离职转出", "复职恢复", "去世注销"]
    assert db.scalar(select(func.count()).select_from(Member)) == 2  # nothing deleted
    body = assert_error(ask(clients, world, "复职"), 409, "not_applicable")
    assert "注销" in body["message"]


def test_retirement_cancels_an_open_transfer(db, world, clients):  # noqa: ANN001
    tid = clients["sub_staff"].post("/api/v1/transfers", json={
        "member_id": world.member_id, "to_sub_union_id": world.other_sub, "reason": "调动"}).json["id"]
    approve(clients, world, "退休")
    reread(db)
    t = db.get(Transfer, tid)
    assert t.status == "cancelled" and t.open_member_id is None
    assert_error(clients["sub_staff"].post("/api/v1/transfers", json={
        "member_id": world.member_id, "to_sub_union_id": world.other_sub, "reason": "调动"}), 409, "member_not_active")


def test_refusals(db, world, clients):  # noqa: ANN001
    assert_error(ask(clients, world, "调岗"), 422, "validation_error", fields=("kind",))
    assert_error(ask(clients, world, "退休", effective_date="2026-02-30"), 422, "validation_error",
                 fields=("effective_date",))
    assert_error(ask(clients, world, "复职"), 409, "not_applicable")
    assert_error(ask(clients, world, "退休", member_id=world.other_member_id), 404, "not_found")
    assert_error(ask(clients, world, "退休", who="member"), 403, "forbidden")
    sid = ask(clients, world, "退休").json["id"]
    assert_error(ask(clients, world, "离职", who="staff"), 409, "open_status_change")
    assert_error(clients["chair"].post(f"/api/v1/status-changes/{sid}/reject", json={}), 422, "validation_error",
                 fields=("reason",))
    r = clients["chair"].post(f"/api/v1/status-changes/{sid}/reject", json={"reason": "退休审批表未到"})
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["reject_reason"] == "退休审批表未到"
    assert_error(clients["chair"].post(f"/api/v1/status-changes/{sid}/approve"), 409, "wrong_state")
    sid = ask(clients, world, "退休").json["id"]
    assert clients["chair"].post(f"/api/v1/status-changes/{sid}/approve").status_code == 200
    assert_error(clients["admin"].post(f"/api/v1/status-changes/{sid}/approve"), 409, "wrong_state",
                 message="该状态变更申请当前状态为「已通过」，不能审批")
    assert_error(clients["sub_staff"].post(f"/api/v1/status-changes/{sid}/cancel"), 409, "wrong_state")
    reread(db)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "member.status_change")) == 1


def test_requester_cancels(db, world, clients):  # noqa: ANN001
    sid = ask(clients, world, "离职").json["id"]
    assert_error(clients["sub_chair"].post(f"/api/v1/status-changes/{sid}/cancel"), 403, "forbidden")
    r = clients["sub_staff"].post(f"/api/v1/status-changes/{sid}/cancel")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    reread(db)
    assert db.get(StatusChange, sid).open_member_id is None
    assert ask(clients, world, "离职").status_code == 201
