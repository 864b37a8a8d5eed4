"""Status changes (状态变更): 离职, 退休, 去世 and back to 在职 (复职/返聘).

States: requested (by the sub-union, or the school union) → approved | rejected (by the school
union) | cancelled (by the requester or the school union). On approval:

| kind | 人员状态 | 会籍状态 | also |
|---|---|---|---|
| 退休 | 退休 | 保留会籍 | moves to the retirees' sub-union when the school has one |
| 离职 | 离职 | 转出 | |
| 去世 | 去世 | 注销 | |
| 复职 | 在职 | 正常 | stays in its current sub-union (a transfer moves it on) |

Nothing deletes the record; every change is kept as a membership event (kind, date, reason).
The retirees' sub-union is the one coded UNION_RETIREES_SUB_UNION_CODE when configured, else
the first sub-union marked ``is_retirees``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core import outbox as events
from server.core.access import Identity, require
from server.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.core.timeutil import utcnow
from server.domain.members import registry, writes
from server.domain.members.models import Member
from server.domain.members.validation import parse_date
from server.domain.membership import policy
from server.domain.membership.models import StatusChange
from server.domain.membership.steps import (
    clean_reason,
    loader,
    page_in_scope,
    record_event,
    transition,
    user_of_member,
)
from server.domain.membership.transfers import cancel_open_for_member
from server.domain.org.models import SubUnion

KINDS = ("离职", "退休", "去世", "复职")
OPEN = ("requested",)
STATUS_LABELS = {"requested": "待校工会审批", "approved": "已通过", "rejected": "已驳回", "cancelled": "已取消"}
# kind → (employment statuses it may start from, new employment status, new membership status, event kind)
RULES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "退休": (("在职",), "退休", "保留会籍", "退休保留会籍"),
    "离职": (("在职",), "离职", "转出", "离职转出"),
    "去世": (("在职", "退休"), "去世", "注销", "去世注销"),
    "复职": (("退休", "离职"), "在职", "正常", "复职恢复"),
}
# 会籍 states from which a change makes sense at all (退会 and 注销 records are closed).
LIVE_MEMBERSHIP = ("正常", "保留会籍", "转出")


def _check_state(sc: StatusChange, allowed: tuple[str, ...], action: str) -> None:
    if sc.status not in allowed:
        raise Conflict(f"该状态变更申请当前状态为「{STATUS_LABELS[sc.status]}」，不能{action}", code="wrong_state")


def _check_applicable(member: Member, kind: str) -> None:
    starts, *_ = RULES[kind]
    if member.membership_status not in LIVE_MEMBERSHIP or member.employment_status not in starts:
        raise Conflict(
            f"该会员人员状态为「{member.employment_status or '未填'}」、会籍状态为「{member.membership_status}」，"
            f"不能办理「{kind}」", code="not_applicable")


def request(session: Session, identity: Identity | None, *, member_id: int, kind: Any, effective_date: Any,
            reason: Any) -> StatusChange:
    require(identity, "status_changes.request")
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("会员不存在")
    if not policy.may_request_status_change_of(identity, member.sub_union_id):
        raise NotFound("记录不存在")  # another sub-union's member: as if there were none
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = f"应为以下之一：{'、'.join(KINDS)}"
    when = parse_date(effective_date) if isinstance(effective_date, (str, date)) else None
    if when is None:
        errors["effective_date"] = "应为日期（YYYY-MM-DD）"
    if errors:
        raise Invalid(errors)
    text = clean_reason(reason)
    _check_applicable(member, kind)
    existing = session.scalar(select(StatusChange.id).where(StatusChange.open_member_id == member.id))
    if existing is not None:
        raise Conflict(f"该会员已有一份待审批的状态变更申请（编号 {existing}），不能重复申请", code="open_status_change")
    sc = StatusChange(member_id=member.id, sub_union_id=member.sub_union_id, kind=kind, effective_date=when,
                      reason=text, status="requested", open_member_id=member.id, requested_by=identity.user_id)
    session.add(sc)
    session.flush()
    audit.record(session, identity, "status_change.request", object_type="status_change", object_id=sc.id,
                 sub_union_id=sc.sub_union_id,
                 new={"member_id": member.id, "kind": kind, "effective_date": when, "reason": text})
    _emit(session, sc, "status_change.requested")
    return sc


_load = loader(StatusChange, policy.status_change_visible, "状态变更申请不存在")


def get_readable(session: Session, identity: Identity | None, change_id: int) -> StatusChange:
    return _load(session, identity, change_id, "members.read")


# What an answer shows with each status change, loaded with a list: one statement per
# relationship, however many rows.
SHOWN = (selectinload(StatusChange.member), selectinload(StatusChange.sub_union),
         selectinload(StatusChange.requester), selectinload(StatusChange.decider))


def search(session: Session, identity: Identity | None, *, status: str | None, member_id: int | None,
           page: int, page_size: int) -> tuple[int, list[StatusChange]]:
    scope = require(identity, "members.read")
    return page_in_scope(session, scope, StatusChange, (StatusChange.sub_union_id,), SHOWN, page=page,
                         page_size=page_size, equal={StatusChange.status: status, StatusChange.member_id: member_id})


def retirees_sub_union(session: Session, code: str | None) -> int | None:
    if code:
        found = session.scalar(select(SubUnion.id).where(SubUnion.code == code))
        if found is not None:
            return found
    return session.scalar(select(SubUnion.id).where(SubUnion.is_retirees.is_(True)).order_by(SubUnion.id).limit(1))


def approve(session: Session, identity: Identity | None, change_id: int, *,
            retirees_code: str | None = None) -> StatusChange:
    sc = _load(session, identity, change_id, "status_changes.approve")
    _check_state(sc, OPEN, "审批")
    transition(session, StatusChange, sc, OPEN,
               {"status": "approved", "decided_by": identity.user_id, "decided_at": utcnow(), "open_member_id": None},
               "该状态变更申请已审批，不能重复审批")
    member = session.get(Member, sc.member_id, populate_existing=True)
    _check_applicable(member, sc.kind)
    _, employment, membership, event_kind = RULES[sc.kind]
    changes: dict[str, Any] = {"employment_status": employment, "membership_status": membership}
    if sc.kind == "退休":
        target = retirees_sub_union(session, retirees_code)
        if target is not None and target != member.sub_union_id:
            changes["sub_union"] = target
    if sc.kind != "复职":
        cancel_open_for_member(session, identity, member.id, f"会员{sc.kind}（状态变更 {sc.id}）")
    before = registry.values_of(member)
    writes.apply_values(member, changes)
    session.flush()  # UPDATE … WHERE id = ? AND version = ?: a concurrent move makes this a 409
    audit.record(session, identity, "member.status_change", object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 old={k: before.get(k) for k in changes}, new=changes)
    record_event(session, identity, member_id=member.id, kind=event_kind, effective_date=sc.effective_date,
                 reason=sc.reason, from_sub_union_id=before["sub_union"], to_sub_union_id=member.sub_union_id,
                 ref_type="status_change", ref_id=sc.id)
    audit.record(session, identity, "status_change.approve", object_type="status_change", object_id=sc.id,
                 sub_union_id=sc.sub_union_id, old={"status": "requested"}, new={"status": "approved"})
    _emit(session, sc, "status_change.approved")
    return sc


def reject(session: Session, identity: Identity | None, change_id: int, reason: Any) -> StatusChange:
    sc = _load(session, identity, change_id, "status_changes.approve")
    _check_state(sc, OPEN, "驳回")
    text = clean_reason(reason)
    transition(session, StatusChange, sc, OPEN,
               {"status": "rejected", "decided_by": identity.user_id, "decided_at": utcnow(),
                "reject_reason": text, "open_member_id": None},
               "该状态变更申请已被他人处理，不能驳回")
    audit.record(session, identity, "status_change.reject", object_type="status_change", object_id=sc.id,
                 sub_union_id=sc.sub_union_id, old={"status": "requested"}, new={"status": "rejected", "reason": text})
    _emit(session, sc, "status_change.rejected", reason=text)
    return sc


def cancel(session: Session, identity: Identity | None, change_id: int) -> StatusChange:
    sc = _load(session, identity, change_id, "status_changes.request", "status_changes.approve")
    if not policy.may_cancel_status_change(identity, sc):
        raise Forbidden("只有申请人或校工会可以取消状态变更申请")
    _check_state(sc, OPEN, "取消")
    transition(session, StatusChange, sc, OPEN, {"status": "cancelled", "open_member_id": None,
                                                 "decided_by": identity.user_id, "decided_at": utcnow()},
               "该状态变更申请已被他人处理，不能取消")
    audit.record(session, identity, "status_change.cancel", object_type="status_change", object_id=sc.id,
                 sub_union_id=sc.sub_union_id, old={"status": "requested"}, new={"status": "cancelled"})
    _emit(session, sc, "status_change.cancelled")
    return sc


def _emit(session: Session, sc: StatusChange, event: str, **extra: Any) -> None:
    events.emit(session, event, object_type="status_change", object_id=sc.id,
                recipient_user_id=user_of_member(session, sc.member_id),
                payload={"status_change_id": sc.id, "member_id": sc.member_id, "kind": sc.kind,
                         "effective_date": sc.effective_date.isoformat(), "status": sc.status, **extra})
