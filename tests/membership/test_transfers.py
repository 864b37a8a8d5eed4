"""Transfers between sub-unions: three approvals, the atomic move, every refusal, and head
counts that stay right while many transfers complete at once."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select, text

from server.core.models import AuditLog, Outbox
from server.domain.members.models import Member
from server.domain.membership.models import MembershipEvent, Transfer
from tests.membership.test_applications import drain
from tests.support.api_asserts import assert_error, reread
from tests.support.concurrency import at_once
from tests.support.world import requires_mariadb, wait_for


def counts(clients, world) -> tuple[int, int]:  # noqa: ANN001
    own = clients["chair"].get(f"/api/v1/sub-unions/{world.own_sub}").json["member_count"]
    other = clients["chair"].get(f"/api/v1/sub-unions/{world.other_sub}").json["member_count"]
    return own, other


def request(clients, world, who: str = "sub_staff", **overrides):  # noqa: ANN001, ANN003, ANN201
    body = {"member_id": world.member_id, "to_sub_union_id": world.other_sub, "reason": "调入机关工作"}
    body.update(overrides)
    return clients[who].post("/api/v1/transfers", json=body)


# ---- the whole path ----------------------------------------------------------------------


def test_transfer_walks_through_three_approvals(rt, db, world, clients, worker):  # noqa: ANN001
    drain(rt)
    assert counts(clients, world) == (1, 1)
    r = request(clients, world)
    assert r.status_code == 201, r.json
    t = r.json
    assert (t["status"], t["from_sub_union_name"], t["to_sub_union_name"]) == ("requested", "计算机学院分工会", "机关分工会")
    # both sub-unions see it; the in sub-union already knows it is coming
    assert [x["id"] for x in clients["other_staff"].get("/api/v1/transfers").json["items"]] == [t["id"]]
    assert clients["sub_staff"].get(f"/api/v1/transfers/{t['id']}").status_code == 200

    r = clients["sub_chair"].post(f"/api/v1/transfers/{t['id']}/approve")
    assert r.status_code == 200 and r.json["status"] == "out_approved" and r.json["out_approved_by_name"] == "sub_chair"
    assert counts(clients, world) == (1, 1)
    r = clients["chair"].post(f"/api/v1/transfers/{t['id']}/approve")
    assert r.status_code == 200 and r.json["status"] == "school_approved"
    assert counts(clients, world) == (1, 1)
    r = clients["other_chair"].post(f"/api/v1/transfers/{t['id']}/accept")
    assert r.status_code == 200 and r.json["status"] == "accepted" and r.json["accepted_by_name"] == "other_chair"
    assert counts(clients, world) == (0, 2)

    reread(db)
    member = db.get(Member, world.member_id)
    assert member.sub_union_id == world.other_sub and member.version == 2
    # the member's history shows the move, and the in sub-union now owns the record
    history = clients["other_chair"].get(f"/api/v1/members/{world.member_id}/history").json
    assert [(h["action"], h["field"], h["old"], h["new"]) for h in history] == [
        ("member.transfer", "sub_union", world.own_sub, world.other_sub)]
    assert clients["sub_chair"].get(f"/api/v1/members/{world.member_id}").status_code == 404
    events = clients["other_chair"].get(f"/api/v1/members/{world.member_id}/membership-events").json
    assert [(e["kind"], e["from_sub_union_name"], e["to_sub_union_name"], e["reason"]) for e in events] == [
        ("转会", "计算机学院分工会", "机关分工会", "调入机关工作")]
    # the record still edits normally after the move (its version was bumped with it)
    r = clients["other_staff"].patch(f"/api/v1/members/{world.member_id}", json={"hobbies": "书法", "version": 2})
    assert r.status_code == 200, r.json

    actions = db.scalars(select(AuditLog.action).where(AuditLog.object_type == "transfer")
                         .order_by(AuditLog.id)).all()
    assert actions == ["transfer.request", "transfer.approve_out", "transfer.approve", "transfer.accept"]

    def all_sent() -> bool:
        reread(db)
        rows = db.scalars(select(Outbox).order_by(Outbox.id)).all()
        return len(rows) == 4 and all(r.status == "sent" for r in rows) and rows

    rows = wait_for(all_sent)
    assert [r.event for r in rows] == ["transfer.requested", "transfer.out_approved", "transfer.school_approved",
                                       "transfer.accepted"]
    assert {r.recipient_user_id for r in rows} == {world.users["member"]}


def test_member_requests_own_transfer_and_cancels(clients, world):  # noqa: ANN001
    r = request(clients, world, "member", reason="调往机关")
    assert r.status_code == 201, r.json
    mine = clients["member"].get("/api/v1/me/transfers").json
    assert [(x["id"], x["status_label"]) for x in mine] == [(r.json["id"], "待转出分工会审批")]
    assert clients["member"].get(f"/api/v1/transfers/{r.json['id']}").status_code == 200
    r = clients["member"].post(f"/api/v1/transfers/{r.json['id']}/cancel")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert_error(clients["member"].post(f"/api/v1/transfers/{r.json['id']}/cancel"), 409, "wrong_state")
    # a cancelled transfer is closed: a new one may be filed
    assert request(clients, world, "staff").status_code == 201


def test_rejections_at_each_step(clients, world):  # noqa: ANN001
    t = request(clients, world).json
    assert_error(clients["sub_chair"].post(f"/api/v1/transfers/{t['id']}/reject", json={}), 422,
                 "validation_error", fields=("reason",))
    r = clients["sub_chair"].post(f"/api/v1/transfers/{t['id']}/reject", json={"reason": "工作交接未完成"})
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["reject_reason"] == "工作交接未完成"
    body = assert_error(clients["other_chair"].post(f"/api/v1/transfers/{t['id']}/accept"), 409, "wrong_state")
    assert "已驳回" in body["message"]

    t = request(clients, world).json
    clients["sub_chair"].post(f"/api/v1/transfers/{t['id']}/approve")
    clients["chair"].post(f"/api/v1/transfers/{t['id']}/approve")
    # the in sub-union declines at its step
    r = clients["other_chair"].post(f"/api/v1/transfers/{t['id']}/reject", json={"reason": "编制已满"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    # the school union may reject at any step
    t = request(clients, world).json
    r = clients["admin"].post(f"/api/v1/transfers/{t['id']}/reject", json={"reason": "重复申请"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert counts(clients, world) == (1, 1)


# ---- refusals ------------------------------------------------------------------------------


def test_same_sub_union_is_refused(clients, world):  # noqa: ANN001
    assert_error(request(clients, world, to_sub_union_id=world.own_sub), 422, "validation_error",
                 fields=("to_sub_union_id",))
    assert_error(request(clients, world, "staff", to_sub_union_id=999999), 422, "validation_error",
                 fields=("to_sub_union_id",))


def test_inactive_member_is_refused(db, world, clients):  # noqa: ANN001
    db.get(Member, world.member_id).membership_status = "保留会籍"
    db.commit()
    body = assert_error(request(clients, world), 409, "member_not_active")
    assert "保留会籍" in body["message"]


def test_second_open_transfer_is_refused(clients, world):  # noqa: ANN001
    first = request(clients, world).json
    body = assert_error(request(clients, world, "chair", to_sub_union_id=world.empty_sub), 409, "open_transfer")
    assert str(first["id"]) in body["message"]


def test_wrong_states_answer_409(clients, world):  # noqa: ANN001
    t = request(clients, world).json
    tid = t["id"]
    assert_error(clients["other_chair"].post(f"/api/v1/transfers/{tid}/accept"), 409, "wrong_state")
    clients["sub_chair"].post(f"/api/v1/transfers/{tid}/approve")
    clients["chair"].post(f"/api/v1/transfers/{tid}/approve")
    assert_error(clients["chair"].post(f"/api/v1/transfers/{tid}/approve"), 409, "wrong_state")
    assert clients["other_chair"].post(f"/api/v1/transfers/{tid}/accept").status_code == 200
    assert_error(clients["other_chair"].post(f"/api/v1/transfers/{tid}/accept"), 409, "wrong_state")
    assert_error(clients["admin"].post(f"/api/v1/transfers/{tid}/cancel"), 409, "wrong_state")
    assert_error(clients["admin"].post(f"/api/v1/transfers/{tid}/reject", json={"reason": "x"}), 409, "wrong_state")


def test_each_step_belongs_to_its_role(clients, world):  # noqa: ANN001
    tid = request(clients, world).json["id"]
    assert_error(clients["sub_staff"].post(f"/api/v1/transfers/{tid}/approve"), 403, "forbidden")
    # the in side sees the transfer, so it is told why this step is not its own
    body = assert_error(clients["other_chair"].post(f"/api/v1/transfers/{tid}/approve"), 403, "forbidden")
    assert body["message"] == "待转出分工会审批：只有转出分工会主席可以审批"
    assert_error(clients["chair"].post(f"/api/v1/transfers/{tid}/approve"), 403, "forbidden")  # step 1 is not theirs
    assert_error(clients["member"].post(f"/api/v1/transfers/{tid}/cancel"), 403, "forbidden")  # not the requester
    clients["sub_chair"].post(f"/api/v1/transfers/{tid}/approve")
    assert_error(clients["sub_chair"].post(f"/api/v1/transfers/{tid}/approve"), 403, "forbidden")
    clients["chair"].post(f"/api/v1/transfers/{tid}/approve")
    assert_error(clients["sub_chair"].post(f"/api/v1/transfers/{tid}/accept"), 403, "forbidden")
    assert_error(clients["chair"].post(f"/api/v1/transfers/{tid}/accept"), 403, "forbidden")
    assert_error(clients["sub_staff"].post("/api/v1/transfers", json={
        "member_id": world.other_member_id, "to_sub_union_id": world.own_sub, "reason": "x"}), 404, "not_found")


def test_move_is_refused_when_the_member_changed_meanwhile(db, world, clients):  # noqa: ANN001
    tid = request(clients, world).json["id"]
    clients["sub_chair"].post(f"/api/v1/transfers/{tid}/approve")
    clients["chair"].post(f"/api/v1/transfers/{tid}/approve")
    db.get(Member, world.member_id).membership_status = "转出"
    db.commit()
    assert_error(clients["other_chair"].post(f"/api/v1/transfers/{tid}/accept"), 409, "member_changed")
    reread(db)
    assert db.get(Transfer, tid).status == "school_approved"  # the whole step rolled back
    assert db.get(Member, world.member_id).sub_union_id == world.own_sub


# ---- concurrency ----------------------------------------------------------------------------


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_two_transfers_filed_at_once_leave_one_open(app, db, world):  # noqa: ANN001
    results: list[int] = []

    def file(name: str, to: int) -> None:
        r = app.test_client().post("/api/v1/transfers", json={
            "member_id": world.member_id, "to_sub_union_id": to, "reason": "调动"},
            headers={"Authorization": f"Bearer {world.tokens[name]}"})
        results.append(r.status_code)

    at_once([lambda: file("sub_staff", world.other_sub), lambda: file("chair", world.empty_sub)])
    assert sorted(results) == [201, 409]
    reread(db)
    open_ = db.scalar(select(func.count()).select_from(Transfer).where(Transfer.open_member_id.is_not(None)))
    assert open_ == 1 and db.scalar(select(func.count()).select_from(Transfer)) == 1


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_fifty_parallel_acceptances_keep_head_counts_true(app, rt, db, world, clients):  # noqa: ANN001
    """30 members go from ours to theirs and 20 the other way, all accepted at once; someone
    counting meanwhile never sees a member in both or in neither."""
    moves = [(world.own_sub, world.other_sub)] * 30 + [(world.other_sub, world.own_sub)] * 20
    transfers: list[tuple[int, int]] = []
    for i, (src, dst) in enumerate(moves):
        m = Member(name="并发", staff_no=f"P{i:04d}", sub_union_id=src, gender="男", birth_date=date(1980, 1, 1),
                   membership_status="正常", employment_status="在职", name_initials="bf")
        db.add(m)
        db.flush()
        t = Transfer(member_id=m.id, from_sub_union_id=src, to_sub_union_id=dst, reason="批量调整",
                     status="school_approved", open_member_id=m.id)
        db.add(t)
        db.flush()
        transfers.append((t.id, dst))
    db.commit()
    total = 52
    assert counts(clients, world) == (31, 21)

    results: list[int] = []
    totals: list[int] = []
    done = threading.Event()

    def watch() -> None:
        with rt.db.engine.connect() as conn:
            while not done.is_set():
                totals.append(conn.execute(text(
                    "SELECT COUNT(*) FROM members WHERE membership_status = '正常' AND sub_union_id IN (:a, :b)"),
                    {"a": world.own_sub, "b": world.other_sub}).scalar())
                conn.rollback()

    def accept(tid: int, dst: int) -> None:
        who = "sub_chair" if dst == world.own_sub else "other_chair"
        r = app.test_client().post(f"/api/v1/transfers/{tid}/accept",
                                   headers={"Authorization": f"Bearer {world.tokens[who]}"})
        results.append(r.status_code)

    watcher = threading.Thread(target=watch)
    watcher.start()
    at_once([lambda tid=tid, dst=dst: accept(tid, dst) for tid, dst in transfers])
    done.set()
    watcher.join()

    assert results.count(200) == 50, results
    assert totals and set(totals) == {total}
    reread(db)
    truth = dict(db.execute(select(Member.sub_union_id, func.count()).where(Member.membership_status == "正常")
                            .group_by(Member.sub_union_id)).all())
    assert truth == {world.own_sub: 1 + 20, world.other_sub: 1 + 30}
    assert counts(clients, world) == (truth[world.own_sub], truth[world.other_sub])
    assert db.scalar(select(func.count()).select_from(MembershipEvent)) == 50
    assert db.scalar(select(func.count()).select_from(Transfer).where(Transfer.status == "accepted")) == 50
