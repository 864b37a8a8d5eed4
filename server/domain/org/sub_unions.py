"""Sub-unions (分工会): listing within scope, head counts, and their maintenance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from server.core import audit
from server.core.access import Identity, Scope
from server.core.errors import Conflict, Invalid, NotFound
from server.domain.accounts.models import RoleBinding
from server.domain.members.models import Member
from server.domain.org import policy
from server.domain.org.models import SubUnion

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ACTIVE = "正常"
RESERVED = "保留会籍"


@dataclass
class Counts:
    active: int = 0  # 会籍正常
    reserved: int = 0  # 保留会籍 (retired members)
    total: int = 0  # every record ever kept here, any status


def counts(session: Session, ids: list[int] | None = None) -> dict[int, Counts]:
    """Head counts per sub-union in one grouped query."""
    stmt = select(
        Member.sub_union_id,
        func.sum(case((Member.membership_status == ACTIVE, 1), else_=0)),
        func.sum(case((Member.membership_status == RESERVED, 1), else_=0)),
        func.count(),
    ).group_by(Member.sub_union_id)
    if ids is not None:
        stmt = stmt.where(Member.sub_union_id.in_(ids))
    return {sid: Counts(int(a or 0), int(r or 0), int(t)) for sid, a, r, t in session.execute(stmt)}


def list_in_scope(session: Session, scope: Scope) -> list[SubUnion]:
    return list(session.scalars(scope.filter(select(SubUnion).order_by(SubUnion.sort_order, SubUnion.id), SubUnion.id)))


def options(session: Session) -> list[SubUnion]:
    """Names only, for a member choosing their sub-union; no counts leave through here."""
    return list(session.scalars(select(SubUnion).order_by(SubUnion.sort_order, SubUnion.id)))


def get_visible(session: Session, identity: Identity, sub_union_id: int, permission: str = "sub_unions.read") -> SubUnion:
    """404 for another sub-union's (as for one that does not exist), then the sub-union."""
    if not policy.visible(identity, sub_union_id, permission):
        raise NotFound("记录不存在")
    return get(session, sub_union_id)


def get(session: Session, sub_union_id: int) -> SubUnion:
    sub = session.get(SubUnion, sub_union_id)
    if sub is None:
        raise NotFound("分工会不存在")
    return sub


def _snapshot(sub: SubUnion) -> dict[str, Any]:
    return {k: getattr(sub, k) for k in ("name", "code", "chair", "is_retirees", "sort_order")}


def _validate(session: Session, values: dict[str, Any], current: SubUnion | None) -> None:
    errors: dict[str, str] = {}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            errors["name"] = "名称不能为空"
        elif len(values["name"]) > 100:
            errors["name"] = "名称不能超过 100 个字符"
    if "code" in values and not CODE_RE.match(values["code"] or ""):
        errors["code"] = "编码为 1–32 位字母、数字、_ 或 -"
    if "chair" in values and values["chair"] is not None and len(values["chair"]) > 64:
        errors["chair"] = "主席姓名不能超过 64 个字符"
    if errors:
        raise Invalid(errors)
    for key, label in (("name", "名称"), ("code", "编码")):
        if key not in values:
            continue
        stmt = select(SubUnion.id).where(getattr(SubUnion, key) == values[key])
        if current is not None:
            stmt = stmt.where(SubUnion.id != current.id)
        if session.scalar(stmt) is not None:
            raise Conflict(f"分工会{label}「{values[key]}」已存在", fields={key: "已存在"})


def create(session: Session, actor: Identity | None, values: dict[str, Any]) -> SubUnion:
    missing = {k: "必填" for k in ("name", "code") if not values.get(k)}
    if missing:
        raise Invalid(missing)
    _validate(session, values, None)
    sub = SubUnion(**values)
    session.add(sub)
    session.flush()
    audit.record(session, actor, "sub_union.create", object_type="sub_union", object_id=sub.id,
                 sub_union_id=sub.id, new=_snapshot(sub))
    return sub


def update(session: Session, actor: Identity, sub: SubUnion, values: dict[str, Any]) -> SubUnion:
    _validate(session, values, sub)
    before = _snapshot(sub)
    for k, v in values.items():
        setattr(sub, k, v)
    session.flush()
    old, new = audit.changes(before, _snapshot(sub))
    if new:
        audit.record(session, actor, "sub_union.update", object_type="sub_union", object_id=sub.id,
                     sub_union_id=sub.id, old=old, new=new)
    return sub


def delete(session: Session, actor: Identity, sub: SubUnion) -> None:
    n = session.scalar(select(func.count()).select_from(Member).where(Member.sub_union_id == sub.id))
    if n:
        raise Conflict(f"分工会「{sub.name}」还有 {n} 名会员的记录，不能删除")
    bound = session.scalar(select(func.count()).select_from(RoleBinding).where(RoleBinding.sub_union_id == sub.id))
    if bound:
        raise Conflict(f"分工会「{sub.name}」还有 {bound} 个账号角色绑定，请先解除")
    audit.record(session, actor, "sub_union.delete", object_type="sub_union", object_id=sub.id,
                 sub_union_id=sub.id, old=_snapshot(sub))
    session.delete(sub)
    session.flush()
