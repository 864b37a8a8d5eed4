"""Transfers between sub-unions (转会).

States: requested → out_approved (the out sub-union's chair) → school_approved (the school
union) → accepted (the in sub-union's chair; the member moves) | rejected (with a reason, by
whoever may act at the current step, or the school union at any step) | cancelled (by the
requester or the school union, before acceptance).

Requested by the member themself, by the out sub-union (members.write over the member) or by
the school union. At most one open transfer per member (a unique key on ``open_member_id``).
The move is one transaction: the transfer's conditional status change plus
``UPDATE members SET sub_union_id = :to, version = version + 1 WHERE id = :m AND
sub_union_id = :from AND membership_status = '正常'`` (rowcount checked), so head counts,
which are derived from the members table, are right at every instant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core import outbox as events
from server.core.access import Identity, require
from server.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.core.timeutil import local_today, utcnow
from server.domain.members.models import Member
from server.domain.membership import policy
from server.domain.membership.models import Transfer
from server.domain.membership.steps import (
    clean_reason,
    loader,
    page_in_scope,
    record_event,
    transition,
    user_of_member,
)
from server.domain.org.models import SubUnion

OPEN = ("requested", "out_approved", "school_approved")
STATUS_LABELS = {
    "requested": "待转出分工会审批", "out_approved": "待校工会审批", "school_approved": "待转入分工会接收",
    "accepted": "已转入", "rejected": "已驳回", "cancelled": "已取消",
}
ACTIVE = "正常"


def _state_error(t: Transfer, action: str) -> str:
    return f"该转会申请当前状态为「{STATUS_LABELS[t.status]}」，不能{action}"


def _check_state(t: Transfer, allowed: tuple[str, ...], action: str) -> None:
    if t.status not in allowed:
        raise Conflict(_state_error(t, action), code="wrong_state")


# ---- requesting --------------------------------------------------------------------------


def request(session: Session, identity: Identity | None, *, member_id: int, to_sub_union_id: int,
            reason: Any) -> Transfer:
    if identity is None:
        require(identity, "members.write")  # 401
    member = session.get(Member, member_id)
    if member is None:
        if not policy.may_request_transfer(identity):
            require(identity, "members.write")  # 403 for accounts that could never ask
        raise NotFound("会员不存在")
    if not policy.may_request_transfer_of(identity, member.id, member.sub_union_id):
        require(identity, "members.write", member.sub_union_id, scoped=True)  # 403, else 404
    text = clean_reason(reason)
    target = session.get(SubUnion, to_sub_union_id)
    if target is None:
        raise Invalid({"to_sub_union_id": f"分工会 {to_sub_union_id} 不存在"})
    if to_sub_union_id == member.sub_union_id:
        raise Invalid({"to_sub_union_id": "转入分工会与当前所在分工会相同"}, "转入分工会与会员当前所在分工会相同，无需转会")
    if member.membership_status != ACTIVE:
        raise Conflict(f"该会员会籍状态为「{member.membership_status}」，只有会籍正常的会员可以转会",
                       code="member_not_active")
    existing = session.scalar(select(Transfer.id).where(Transfer.open_member_id == member.id))
    if existing is not None:
        raise Conflict(f"该会员已有一份进行中的转会申请（编号 {existing}），不能重复申请", code="open_transfer")
    t = Transfer(member_id=member.id, from_sub_union_id=member.sub_union_id, to_sub_union_id=to_sub_union_id,
                 reason=text, status="requested", open_member_id=member.id, requested_by=identity.user_id)
    session.add(t)
    session.flush()  # the unique key on open_member_id settles two requests filed at once
    audit.record(session, identity, "transfer.request", object_type="transfer", object_id=t.id,
                 sub_union_id=t.from_sub_union_id,
                 new={"member_id": member.id, "from": t.from_sub_union_id, "to": t.to_sub_union_id, "reason": text})
    _emit(session, t, "transfer.requested")
    return t


# ---- reading ------------------------------------------------------------------------------


_load = loader(Transfer, policy.transfer_visible, "转会申请不存在")


def get_readable(session: Session, identity: Identity | None, transfer_id: int) -> Transfer:
    return _load(session, identity, transfer_id)


# What an answer shows with each transfer, loaded with a list: one statement per relationship,
# however many rows (instead of looking names up row by row).
SHOWN = (selectinload(Transfer.member), selectinload(Transfer.from_sub_union), selectinload(Transfer.to_sub_union),
         selectinload(Transfer.requester), selectinload(Transfer.out_approver),
         selectinload(Transfer.school_approver), selectinload(Transfer.acceptor), selectinload(Transfer.rejecter))


def search(session: Session, identity: Identity | None, *, status: str | None, member_id: int | None,
           page: int, page_size: int) -> tuple[int, list[Transfer]]:
    scope = require(identity, "members.read")
    ends = (Transfer.from_sub_union_id, Transfer.to_sub_union_id)  # both sub-unions see it
    return page_in_scope(session, scope, Transfer, ends, SHOWN, page=page, page_size=page_size,
                         equal={Transfer.status: status, Transfer.member_id: member_id})


def mine(session: Session, identity: Identity | None) -> list[Transfer]:
    require(identity, "self.read")
    if identity.member_id is None:
        return []
    return list(session.scalars(select(Transfer).where(Transfer.member_id == identity.member_id)
                                .options(*SHOWN).order_by(Transfer.id.desc())))


# ---- the three approvals ----------------------------------------------------------------------


def approve(session: Session, identity: Identity | None, transfer_id: int) -> Transfer:
    """Step 1 (requested) by the out sub-union's chair; step 2 (out_approved) by the school union."""
    t = _load(session, identity, transfer_id, "transfers.approve_out", "transfers.approve")
    if t.status == "requested":
        if not policy.may_approve_out(identity, t):
            raise Forbidden("待转出分工会审批：只有转出分工会主席可以审批")
        values = {"status": "out_approved", "out_approved_by": identity.user_id, "out_approved_at": utcnow()}
        event, action = "transfer.out_approved", "transfer.approve_out"
    elif t.status == "out_approved":
        if not policy.may_approve_transfer(identity, t):
            raise Forbidden("待校工会审批：只有校工会可以审批")
        values = {"status": "school_approved", "school_approved_by": identity.user_id,
                  "school_approved_at": utcnow()}
        event, action = "transfer.school_approved", "transfer.approve"
    else:
        raise Conflict(_state_error(t, "审批"), code="wrong_state")
    before = t.status
    transition(session, Transfer, t, (before,), values, "该转会申请已被他人处理，不能重复审批")
    audit.record(session, identity, action, object_type="transfer", object_id=t.id,
                 sub_union_id=t.from_sub_union_id, old={"status": before}, new={"status": t.status})
    _emit(session, t, event)
    return t


def accept(session: Session, identity: Identity | None, transfer_id: int) -> Transfer:
    """The in sub-union accepts: the member moves, in the same transaction."""
    t = _load(session, identity, transfer_id, "transfers.accept")
    if not policy.may_accept(identity, t):
        raise Forbidden("只有转入分工会主席可以接收")
    _check_state(t, ("school_approved",), "接收")
    now = utcnow()
    transition(session, Transfer, t, ("school_approved",),
               {"status": "accepted", "accepted_by": identity.user_id, "accepted_at": now, "open_member_id": None},
               "该转会申请已被他人处理，不能重复接收")
    moved = session.execute(
        update(Member)
        .where(Member.id == t.member_id, Member.sub_union_id == t.from_sub_union_id,
               Member.membership_status == ACTIVE)
        .values(sub_union_id=t.to_sub_union_id, version=Member.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("会员的所属分工会或会籍状态已发生变化，无法完成转会；请驳回或取消此申请", code="member_changed")
    member = session.get(Member, t.member_id)
    if member is not None:
        session.expire(member)  # the Core UPDATE bumped its version behind the ORM's back
    audit.record(session, identity, "member.transfer", object_type="member", object_id=t.member_id,
                 sub_union_id=t.to_sub_union_id, old={"sub_union": t.from_sub_union_id},
                 new={"sub_union": t.to_sub_union_id})
    record_event(session, identity, member_id=t.member_id, kind="转会", effective_date=local_today(),
                 reason=t.reason, from_sub_union_id=t.from_sub_union_id, to_sub_union_id=t.to_sub_union_id,
                 ref_type="transfer", ref_id=t.id)
    audit.record(session, identity, "transfer.accept", object_type="transfer", object_id=t.id,
                 sub_union_id=t.to_sub_union_id, old={"status": "school_approved"}, new={"status": "accepted"})
    _emit(session, t, "transfer.accepted")
    return t


def reject(session: Session, identity: Identity | None, transfer_id: int, reason: Any) -> Transfer:
    t = _load(session, identity, transfer_id, "transfers.approve_out", "transfers.approve", "transfers.accept")
    _check_state(t, OPEN, "驳回")
    if not policy.may_reject_transfer(identity, t):
        raise Forbidden(f"该转会申请{STATUS_LABELS[t.status]}，当前账号不能驳回")
    text = clean_reason(reason)
    before = t.status
    transition(session, Transfer, t, (before,),
               {"status": "rejected", "rejected_by": identity.user_id, "rejected_at": utcnow(),
                "reject_reason": text, "open_member_id": None},
               "该转会申请已被他人处理，不能驳回")
    audit.record(session, identity, "transfer.reject", object_type="transfer", object_id=t.id,
                 sub_union_id=t.from_sub_union_id, old={"status": before},
                 new={"status": "rejected", "reason": text})
    _emit(session, t, "transfer.rejected", reason=text)
    return t


def cancel(session: Session, identity: Identity | None, transfer_id: int) -> Transfer:
    """The requester or the school union, before the in sub-union accepts."""
    t = _load(session, identity, transfer_id)
    if not policy.may_cancel_transfer(identity, t):
        raise Forbidden("只有申请人或校工会可以取消转会申请")
    _check_state(t, OPEN, "取消")
    before = t.status
    transition(session, Transfer, t, (before,),
               {"status": "cancelled", "cancelled_by": identity.user_id, "cancelled_at": utcnow(),
                "open_member_id": None},
               "该转会申请已被他人处理，不能取消")
    audit.record(session, identity, "transfer.cancel", object_type="transfer", object_id=t.id,
                 sub_union_id=t.from_sub_union_id, old={"status": before}, new={"status": "cancelled"})
    _emit(session, t, "transfer.cancelled")
    return t


def cancel_open_for_member(session: Session, identity: Identity | None, member_id: int, why: str) -> None:
    """A status change ends the membership's activity here: an open transfer cannot complete."""
    t = session.scalar(select(Transfer).where(Transfer.open_member_id == member_id))
    if t is None:
        return
    before = t.status
    transition(session, Transfer, t, OPEN,
               {"status": "cancelled", "cancelled_by": identity.user_id if identity else None,
                "cancelled_at": utcnow(), "open_member_id": None},
               "该转会申请已被他人处理")
    audit.record(session, identity, "transfer.cancel", object_type="transfer", object_id=t.id,
                 sub_union_id=t.from_sub_union_id, old={"status": before}, new={"status": "cancelled", "why": why})
    _emit(session, t, "transfer.cancelled", reason=why)


def _emit(session: Session, t: Transfer, event: str, **extra: Any) -> None:
    events.emit(session, event, object_type="transfer", object_id=t.id,
                recipient_user_id=user_of_member(session, t.member_id),
                payload={"transfer_id": t.id, "member_id": t.member_id, "status": t.status,
                         "from_sub_union_id": t.from_sub_union_id, "to_sub_union_id": t.to_sub_union_id, **extra})
