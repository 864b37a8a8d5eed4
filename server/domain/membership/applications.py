"""Joining the union online (网上入会).

States: draft → submitted → confirmed (by the sub-union) → approved (by the school union: the
member record is created, member_no issued, union_join_date set) | rejected (with a reason) |
withdrawn (by the applicant, any time before approval).

The applicant fills the catalogue's form with the same rules and messages as the member API.
They may set every field except what the union decides: 会员证号 member_no, 入会时间
union_join_date, 会籍状态 membership_status and 人员状态 employment_status (a new member is 在职
and 正常 on approval). Submitting also requires 证件号码 id_number, which identifies the person:
an id_number already in the registry is refused, except for a former member (会籍 退会) whose
record is reactivated on approval (重新入会).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core import outbox as events
from server.core.access import Identity, require
from server.core.errors import Conflict, Forbidden, Invalid
from server.core.timeutil import local_today, utcnow
from server.domain.accounts.models import RoleBinding, User
from server.domain.members import catalogue as cat
from server.domain.members import registry, writes
from server.domain.members.models import Member
from server.domain.members.validation import clean, labelled
from server.domain.membership import member_numbers, policy
from server.domain.membership.models import Application
from server.domain.membership.steps import (
    clean_reason,
    loader,
    page_in_scope,
    record_event,
    transition,
)
from server.domain.org.models import SubUnion

UNION_DECIDES = frozenset({"member_no", "union_join_date", "membership_status", "employment_status"})
APPLICANT_FIELDS = frozenset(f.code for f in cat.CATALOGUE) - UNION_DECIDES
OPEN = ("draft", "submitted", "confirmed")
IN_REVIEW = ("submitted", "confirmed")
STATUS_LABELS = {
    "draft": "草稿", "submitted": "待分工会确认", "confirmed": "待校工会审批",
    "approved": "已通过", "rejected": "已驳回", "withdrawn": "已撤回",
}
REJOINABLE = "退会"


def _state_error(app: Application, action: str, done_state: str | None = None) -> str:
    if done_state and app.status == done_state:
        return f"该申请已{action}，不能重复{action}"
    return f"该申请当前状态为「{STATUS_LABELS[app.status]}」，不能{action}"


def _check_state(app: Application, allowed: tuple[str, ...], action: str, done_state: str | None = None) -> None:
    if app.status not in allowed:
        raise Conflict(_state_error(app, action, done_state), code="wrong_state")


# ---- values --------------------------------------------------------------------------------


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


def _sub_union_ids(session: Session) -> set[int]:
    return set(session.scalars(select(SubUnion.id)))


def _clean(session: Session, raw: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    """The form's values in stored form; 422 naming every bad field. ``complete`` for submitting."""
    cleaned, errors = clean(raw, allowed=APPLICANT_FIELDS, creating=complete, sub_union_ids=_sub_union_ids(session))
    if complete and not cleaned.get("id_number") and "id_number" not in errors:
        errors["id_number"] = "入会申请须填写证件号码"
    if errors:
        raise Invalid(errors, labelled(errors))
    return cleaned


def _registry_clash(session: Session, cleaned: dict[str, Any]) -> Member | None:
    """409 when the person is already in the registry; the former member (退会) to reactivate, if any."""
    rejoin: Member | None = None
    number = cleaned.get("id_number")
    if number:
        existing = session.scalar(select(Member).where(Member.id_number == number))
        if existing is not None and existing.membership_status != REJOINABLE:
            shown = registry.mask_value("id_number", number)
            raise Conflict(
                f"证件号码「{shown}」已登记为工会会员（会籍状态：{existing.membership_status}），不能重复申请入会；"
                "如信息有误请联系所在分工会",
                code="already_registered", fields={"id_number": "已登记为工会会员"},
            )
        rejoin = existing
    others = {k: v for k, v in cleaned.items() if k != "id_number" and k in {f.code for f in cat.UNIQUE}}
    writes.check_unique(session, others, rejoin.id if rejoin else None)
    return rejoin


def _check_applicant(session: Session, identity: Identity) -> None:
    if identity.member_id is not None:
        member = session.get(Member, identity.member_id)
        if member is not None and member.membership_status != REJOINABLE:
            raise Conflict("您已是工会会员，无需再申请入会", code="already_member")


def _check_open_id_number(session: Session, app: Application, number: str | None) -> None:
    if not number:
        return
    other = session.scalar(select(Application.id).where(Application.open_id_number == number,
                                                        Application.id != (app.id or 0)))
    if other is not None:
        raise Conflict("该证件号码已有一份正在审核的入会申请，请勿重复提交", code="open_application",
                       fields={"id_number": "已有正在审核的申请"})


def _store(session: Session, app: Application, cleaned: dict[str, Any]) -> None:
    app.values = _jsonable(cleaned)
    app.sub_union_id = cleaned.get("sub_union")
    app.name = cleaned.get("name")
    app.id_number = cleaned.get("id_number")


def _submit(session: Session, app: Application, cleaned: dict[str, Any]) -> None:
    _registry_clash(session, cleaned)
    _check_open_id_number(session, app, cleaned.get("id_number"))
    app.status = "submitted"
    app.submitted_at = utcnow()
    app.open_id_number = cleaned["id_number"]


# ---- the applicant --------------------------------------------------------------------------


def create(session: Session, identity: Identity | None, raw: dict[str, Any], *, submit: bool) -> Application:
    if identity is None:
        require(identity, "self.read")  # 401
    _check_applicant(session, identity)
    existing = session.scalar(select(Application).where(Application.open_user_id == identity.user_id))
    if existing is not None:
        raise Conflict(f"您已有一份进行中的入会申请（编号 {existing.id}，{STATUS_LABELS[existing.status]}），"
                       "请继续办理或撤回后再申请", code="open_application")
    cleaned = _clean(session, raw, complete=submit)
    if cleaned.get("id_number") and not submit:
        _registry_clash(session, cleaned)
    app = Application(applicant_user_id=identity.user_id, status="draft", open_user_id=identity.user_id)
    _store(session, app, cleaned)
    if submit:
        _submit(session, app, cleaned)
    session.add(app)
    session.flush()  # the unique keys on open_user_id / open_id_number settle a race here
    audit.record(session, identity, "application.submit" if submit else "application.create",
                 object_type="application", object_id=app.id, sub_union_id=app.sub_union_id,
                 new={"status": app.status, "name": app.name})
    if submit:
        _emit(session, app, "application.submitted")
    return app


def edit(session: Session, identity: Identity | None, app_id: int, raw: dict[str, Any], *,
         submit: bool) -> Application:
    """The applicant changes a draft (values merge into what was saved) and may submit it."""
    app = _own(session, identity, app_id, "修改")
    _check_state(app, ("draft",), "修改")
    _check_applicant(session, identity)
    cleaned = _clean(session, {**(app.values or {}), **raw}, complete=submit)
    if cleaned.get("id_number") and not submit:
        _registry_clash(session, cleaned)
    _store(session, app, cleaned)
    if submit:
        _submit(session, app, cleaned)
    session.flush()
    audit.record(session, identity, "application.submit" if submit else "application.update",
                 object_type="application", object_id=app.id, sub_union_id=app.sub_union_id,
                 new={"status": app.status, "fields": sorted(raw)})
    if submit:
        _emit(session, app, "application.submitted")
    return app


def withdraw(session: Session, identity: Identity | None, app_id: int) -> Application:
    app = _own(session, identity, app_id, "撤回")
    _check_state(app, OPEN, "撤回", "withdrawn")
    transition(session, Application, app, OPEN,
               {"status": "withdrawn", "open_user_id": None, "open_id_number": None},
               "该申请已被审批或撤回，不能撤回")
    audit.record(session, identity, "application.withdraw", object_type="application", object_id=app.id,
                 sub_union_id=app.sub_union_id, new={"status": "withdrawn"})
    _emit(session, app, "application.withdrawn")
    return app


def _own(session: Session, identity: Identity | None, app_id: int, action: str) -> Application:
    """The applicant's own application; a reviewer who can see it is told it is not theirs."""
    app = _load(session, identity, app_id)
    if not policy.is_applicant(identity, app):
        raise Forbidden(f"只有申请人本人可以{action}入会申请")
    return app


# What an answer shows with each application, loaded with a list: one statement per
# relationship, however many rows.
SHOWN = (selectinload(Application.sub_union), selectinload(Application.applicant),
         selectinload(Application.confirmer), selectinload(Application.decider), selectinload(Application.member))


def mine(session: Session, identity: Identity | None) -> list[Application]:
    if identity is None:
        require(identity, "self.read")  # 401
    return list(session.scalars(select(Application).where(Application.applicant_user_id == identity.user_id)
                                .options(*SHOWN).order_by(Application.id.desc())))


# ---- reading and the review queues ------------------------------------------------------------


_load = loader(Application, policy.application_visible, "入会申请不存在")


def get_readable(session: Session, identity: Identity | None, app_id: int) -> Application:
    return _load(session, identity, app_id)


def review_queue(session: Session, identity: Identity | None, *, status: str | None, sub_union_id: int | None,
                 page: int, page_size: int) -> tuple[int, list[Application]]:
    scope = require(identity, "applications.read")
    return page_in_scope(session, scope, Application, (Application.sub_union_id,), SHOWN, page=page,
                         page_size=page_size, where=(Application.status != "draft",),
                         equal={Application.status: status, Application.sub_union_id: sub_union_id})


def can_see_sensitive(identity: Identity, app: Application) -> bool:
    return policy.sees_application_sensitive(identity, app)


# ---- reviewing ---------------------------------------------------------------------------------


def confirm(session: Session, identity: Identity | None, app_id: int) -> Application:
    app = _load(session, identity, app_id, "applications.confirm")
    if not policy.may_confirm(identity, app):
        raise Forbidden("只有申请人所选分工会可以确认入会申请")
    _check_state(app, ("submitted",), "确认", "confirmed")
    transition(session, Application, app, ("submitted",),
               {"status": "confirmed", "confirmed_by": identity.user_id, "confirmed_at": utcnow()},
               "该申请已被他人处理，不能确认")
    audit.record(session, identity, "application.confirm", object_type="application", object_id=app.id,
                 sub_union_id=app.sub_union_id, old={"status": "submitted"}, new={"status": "confirmed"})
    _emit(session, app, "application.confirmed")
    return app


def reject(session: Session, identity: Identity | None, app_id: int, reason: Any) -> Application:
    """At 待分工会确认 by the sub-union (or the school union); at 待校工会审批 by the school union."""
    app = _load(session, identity, app_id, "applications.confirm", "applications.approve")
    _check_state(app, IN_REVIEW, "驳回", "rejected")
    if not policy.may_reject_application(identity, app):
        raise Forbidden("待校工会审批的入会申请只能由校工会驳回")
    text = clean_reason(reason)
    before = app.status
    transition(session, Application, app, (before,),
               {"status": "rejected", "decided_by": identity.user_id, "decided_at": utcnow(),
                "reject_reason": text, "open_user_id": None, "open_id_number": None},
               "该申请已被他人处理，不能驳回")
    audit.record(session, identity, "application.reject", object_type="application", object_id=app.id,
                 sub_union_id=app.sub_union_id, old={"status": before},
                 new={"status": "rejected", "reason": text})
    _emit(session, app, "application.rejected", reason=text)
    return app


def approve(session: Session, identity: Identity | None, app_id: int) -> Application:
    """The school union approves: the member record is created (or a 退会 record reactivated)."""
    app = _load(session, identity, app_id, "applications.approve")
    if not policy.may_approve(identity, app):
        raise Forbidden("当前账号不能审批这份入会申请")
    _check_state(app, ("confirmed",), "审批", "approved")
    now, today = utcnow(), local_today()
    # First the state, so that of two reviewers approving at once exactly one goes on.
    transition(session, Application, app, ("confirmed",),
               {"status": "approved", "decided_by": identity.user_id, "decided_at": now,
                "open_user_id": None, "open_id_number": None},
               "该申请已审批，不能重复审批")
    cleaned = _clean(session, dict(app.values or {}), complete=True)
    rejoin = _registry_clash(session, cleaned)
    union_values = {"membership_status": "正常", "employment_status": "在职", "union_join_date": today}
    cleaned.setdefault("id_type", "居民身份证")
    if rejoin is not None:
        member = rejoin
        before = registry.values_of(member)
        old_sub = member.sub_union_id
        changes = {**cleaned, **union_values}
        if not member.member_no:
            changes["member_no"] = member_numbers.next_member_no(session, today.year)
        writes.apply_values(member, changes)
        session.flush()  # version-checked UPDATE
        changed = {k: v for k, v in changes.items() if before.get(k) != v}
        audit.record(session, identity, "member.join", object_type="member", object_id=member.id,
                     sub_union_id=member.sub_union_id, old=_jsonable({k: before.get(k) for k in changed}),
                     new=_jsonable(changed))
        kind, from_sub = "重新入会", old_sub
    else:
        values = {**cleaned, **union_values, "member_no": member_numbers.next_member_no(session, today.year)}
        member = Member()
        writes.apply_values(member, values)
        session.add(member)
        session.flush()
        audit.record(session, identity, "member.join", object_type="member", object_id=member.id,
                     sub_union_id=member.sub_union_id,
                     new=_jsonable({k: v for k, v in values.items() if v not in (None, "", [])}))
        kind, from_sub = "入会", None
    app.member_id = member.id
    _link_account(session, app.applicant_user_id, member)
    record_event(session, identity, member_id=member.id, kind=kind, effective_date=today,
                 reason=f"网上入会申请（编号 {app.id}）", from_sub_union_id=from_sub,
                 to_sub_union_id=member.sub_union_id, ref_type="application", ref_id=app.id)
    session.flush()
    audit.record(session, identity, "application.approve", object_type="application", object_id=app.id,
                 sub_union_id=app.sub_union_id, old={"status": "confirmed"},
                 new={"status": "approved", "member_id": member.id, "member_no": member.member_no})
    _emit(session, app, "application.approved", member_no=member.member_no)
    return app


def _link_account(session: Session, user_id: int, member: Member) -> None:
    """The applicant's account now speaks for the member: member_id linked, a 会员 role added."""
    user = session.get(User, user_id)
    if user is None:  # pragma: no cover  (accounts are never deleted while they have applications)
        return
    linked_elsewhere = session.scalar(select(User.id).where(User.member_id == member.id, User.id != user.id))
    if user.member_id is None and linked_elsewhere is None:
        user.member_id = member.id
    if not any(b.role == "member" for b in user.bindings):
        user.bindings.append(RoleBinding(role="member", sub_union_id=None))
    session.flush()


def _emit(session: Session, app: Application, event: str, **extra: Any) -> None:
    events.emit(session, event, object_type="application", object_id=app.id,
                recipient_user_id=app.applicant_user_id,
                payload={"application_id": app.id, "status": app.status, "name": app.name,
                         "sub_union_id": app.sub_union_id, **extra})
