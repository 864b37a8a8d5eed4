"""What the three workflows share: conditional state changes, permission alternatives,
membership events (the paper card's 组织关系接转 lines)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from server.core.access import Identity, Scope
from server.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from server.core.timeutil import utcnow
from server.domain.accounts.models import User
from server.domain.membership.models import MembershipEvent

REASON_MAX = 500
T = TypeVar("T")


def act_on(session: Session, identity: Identity | None, model: type[T], obj_id: int, *,
           may: Iterable[str], visible: Callable[[Identity, T], bool], missing: str) -> T:
    """The object an action names, checked in the one order that reveals nothing about objects
    the caller cannot see:

    1. 401 without identity;
    2. 403 when the caller holds none of the permissions ``may`` (empty: anyone signed in, e.g.
       an applicant) — decided before looking, so a nonexistent id answers the same;
    3. 404 when there is no such object *or the caller cannot see it* (``visible``, from
       :mod:`server.domain.membership.policy`): another sub-union's application and an id that
       exists nowhere are indistinguishable;
    4. whether this caller may take this step on this object is then the action's own rule
       (the policy's ``may_*``), a 403 with the reason, or a 409 for the wrong state — said only
       to those who can see it.

    Steps 1–2 repeat the route's ``@blp.requires``: a job or another area calling the workflow
    gets the same answer.
    """
    if identity is None:
        raise Unauthorized("请先登录")
    permissions = tuple(may)
    if permissions and not any(identity.has(p) for p in permissions):
        raise Forbidden("当前账号无权执行此操作")
    obj = session.get(model, obj_id)
    if obj is None or not visible(identity, obj):
        raise NotFound(missing)
    return obj


def transition(session: Session, model: Any, obj: Any, from_states: tuple[str, ...], values: dict[str, Any],
               conflict: str) -> None:
    """``UPDATE … SET … WHERE id = ? AND status IN (…)``; 0 rows means someone else moved it first.

    On InnoDB the row lock makes a concurrent second UPDATE wait for the first commit and then
    match nothing (READ COMMITTED re-reads the row); SQLite serialises writers outright.
    """
    stmt = (
        update(model)
        .where(model.id == obj.id, model.status.in_(from_states))
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:
        session.refresh(obj)
        raise Conflict(conflict, code="wrong_state")
    session.refresh(obj)


def clean_reason(reason: Any, *, required: bool = True, field: str = "reason") -> str | None:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        if required:
            raise Invalid({field: "请填写原因"})
        return None
    if len(text) > REASON_MAX:
        raise Invalid({field: f"不能超过 {REASON_MAX} 个字符"})
    return text


def record_event(session: Session, actor: Identity | None, *, member_id: int, kind: str, effective_date: date,
                 reason: str | None, from_sub_union_id: int | None, to_sub_union_id: int | None,
                 ref_type: str, ref_id: int) -> MembershipEvent:
    event = MembershipEvent(
        member_id=member_id, kind=kind, effective_date=effective_date, reason=reason,
        from_sub_union_id=from_sub_union_id, to_sub_union_id=to_sub_union_id,
        ref_type=ref_type, ref_id=ref_id, created_by=actor.user_id if actor else None,
    )
    session.add(event)
    session.flush()
    return event


def membership_events(session: Session, member_id: int) -> list[MembershipEvent]:
    """A member's 会籍 events in order, with the sub-unions they name."""
    return list(session.scalars(
        select(MembershipEvent).where(MembershipEvent.member_id == member_id)
        .options(selectinload(MembershipEvent.from_sub_union), selectinload(MembershipEvent.to_sub_union))
        .order_by(MembershipEvent.id)
    ))


def user_of_member(session: Session, member_id: int) -> int | None:
    """The account linked to a member (to notify them), if any."""
    return session.scalar(select(User.id).where(User.member_id == member_id))


def names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def page_in_scope(session: Session, scope: Scope, model: Any, columns: tuple, shown: tuple, *, page: int,
                  page_size: int, where: tuple = (), equal: dict | None = None) -> tuple[int, list]:
    """One page of a workflow's rows that ``scope`` reaches through any of ``columns`` (its
    sub-unions), newest first, with what an answer shows (``shown``) loaded alongside: a count
    and a select with one statement per relationship, whatever the page's size. ``equal`` maps
    a column to the value a list filter asked for; a filter not given (None) does not apply."""
    conds = [*where, *(column == value for column, value in (equal or {}).items() if value not in (None, ""))]
    total = session.scalar(scope.filter(select(func.count(model.id)).where(*conds), *columns)) or 0
    rows = session.scalars(scope.filter(select(model).where(*conds), *columns).options(*shown)
                           .order_by(model.id.desc()).offset((page - 1) * page_size).limit(page_size)).all()
    return total, list(rows)


def loader(model: type[T], visible: Callable[[Identity, Any], bool], missing: str) -> Callable[..., T]:
    """A workflow's one way to load its object for a caller, ``load(session, identity, id, *may)``:
    401, then 403 without any of ``may``, then 404 — the same for an id from elsewhere as for
    none — as :func:`act_on` decides."""

    def load(session: Session, identity: Identity | None, obj_id: int, *may: str) -> T:
        return act_on(session, identity, model, obj_id, may=may, visible=visible, missing=missing)

    return load
