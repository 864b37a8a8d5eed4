"""The member registry: reading and changing member records within the caller's scope.

Every read goes through :func:`conditions` (lists, counts) or :func:`get_in_scope` (one record), so a sub-union account
never sees, counts or loads another sub-union's member (an id from elsewhere is 404). Every
change is validated against the catalogue, checked against the version the caller saw, and
written to the audit log with old → new values, which is also the member's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, load_only

from server.domain import audit
from server.domain import fields as cat
from server.domain.errors import Conflict, Forbidden, Invalid, NotFound
from server.domain.members.pinyin import initials
from server.domain.members.validation import clean, labelled
from server.domain.roles import Identity, Scope, require
from server.models import AuditLog, Member, SubUnion

ALL_CODES = frozenset(f.code for f in cat.CATALOGUE)
SORTABLE = {"id", "name", "staff_no", "birth_date", "union_join_date", "member_no", "updated_at", "school_join_date"}
HISTORY_ACTIONS = ("member.create", "member.update", "member.import", "member.join")


# ---- values, masking -------------------------------------------------------------------


def values_of(member: Member) -> dict[str, Any]:
    """The record as catalogue code → value (sub_union as its id)."""
    return {f.code: getattr(member, f.attr) for f in cat.CATALOGUE}


def mask_value(code: str, value: Any) -> Any:
    """身份证 1301**********123X, mobile 138****5678, address kept to its first 6 characters."""
    if value in (None, ""):
        return value
    text = str(value)
    if code == "id_number":
        return text[:4] + "*" * max(len(text) - 8, 2) + text[-4:] if len(text) > 8 else "*" * len(text)
    if code == "mobile":
        return text[:3] + "****" + text[-4:] if len(text) >= 7 else "****"
    if code == "home_address":
        return text[:6] + "****"
    return "***"


def masked(values: dict[str, Any], can_see: bool) -> dict[str, Any]:
    if can_see:
        return dict(values)
    return {k: (mask_value(k, v) if k in cat.SENSITIVE else v) for k, v in values.items()}


def can_read_sensitive(identity: Identity, member: Member) -> bool:
    if identity.member_id == member.id:
        return True
    return identity.scope("members.read_sensitive").covers(member.sub_union_id)


def record_sensitive_read(session: Session, identity: Identity, member: Member, purpose: str) -> None:
    present = [c for c in sorted(cat.SENSITIVE) if getattr(member, cat.BY_CODE[c].attr)]
    if present and identity.member_id != member.id:
        audit.record(session, identity, "member.read_sensitive", object_type="member", object_id=member.id,
                     sub_union_id=member.sub_union_id, new={"fields": present, "purpose": purpose})


# ---- reading -----------------------------------------------------------------------------


def scoped_select(scope: Scope) -> Select:
    return select(Member).where(*conditions(scope, MemberQuery()))


def get_in_scope(session: Session, identity: Identity | None, member_id: int, permission: str) -> Member:
    """401/403 as for any route; 404 when the member does not exist or lies outside scope."""
    require(identity, permission)
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("会员不存在")
    require(identity, permission, member.sub_union_id, scoped=True)
    return member


def own_record(session: Session, identity: Identity | None) -> Member:
    require(identity, "self.read")
    if identity.member_id is None or (member := session.get(Member, identity.member_id)) is None:
        raise NotFound("当前账号尚未关联会员信息")
    return member


@dataclass
class MemberQuery:
    q: str | None = None
    sub_union_id: int | None = None
    membership_status: str | None = None
    employment_status: str | None = None
    sort: str = "id"


def conditions(scope: Scope, query: MemberQuery) -> list:
    """The WHERE clauses of a member search, always including the caller's scope."""
    conds: list = []
    if not scope.everything:
        conds.append(Member.sub_union_id.in_(scope.sub_union_ids or {-1}))
    if query.sub_union_id is not None:
        conds.append(Member.sub_union_id == query.sub_union_id)
    if query.membership_status:
        conds.append(Member.membership_status == query.membership_status)
    if query.employment_status:
        conds.append(Member.employment_status == query.employment_status)
    if query.q and (q := query.q.strip()):
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if q.isascii() and q.isalpha():
            conds.append(or_(Member.name_initials.like(f"{like.lower()}%", escape="\\"),
                             Member.staff_no.like(f"{like}%", escape="\\")))
        elif q.isascii() and q.isalnum():
            conds.append(or_(Member.staff_no.like(f"{like}%", escape="\\"),
                             Member.member_no.like(f"{like}%", escape="\\")))
        else:
            conds.append(Member.name.like(f"%{like}%", escape="\\"))
    return conds


def search(session: Session, scope: Scope, query: MemberQuery, page: int, page_size: int,
           columns: tuple[str, ...] | None = None) -> tuple[int, list[Member]]:
    """(total, one page of members). ``columns`` limits what is loaded, for list views."""
    conds = conditions(scope, query)
    total = session.scalar(select(func.count(Member.id)).where(*conds)) or 0
    key = query.sort.lstrip("-")
    column = getattr(Member, key)
    order = [column.desc() if query.sort.startswith("-") else column.asc()]
    if key != "id":
        order.append(Member.id.asc())
    stmt = select(Member).where(*conds)
    if columns:
        stmt = stmt.options(load_only(*(getattr(Member, cat.BY_CODE[c].attr) for c in columns)))
    rows = session.scalars(stmt.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    return total, list(rows)


def sub_union_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(SubUnion.id, SubUnion.name).where(SubUnion.id.in_(ids))).all())


# ---- writing -----------------------------------------------------------------------------


def edit_level(identity: Identity, member_sub_union: int | None) -> str:
    """The catalogue's editor level the caller acts at for a member of that sub-union."""
    if identity.scope("members.write").everything:
        return cat.SCHOOL
    return cat.SUB_UNION


def _apply(member: Member, cleaned: dict[str, Any]) -> None:
    for code, value in cleaned.items():
        setattr(member, cat.BY_CODE[code].attr, value)
    member.name_initials = initials(member.name)
    member.children_count = len(member.children or [])


def apply_values(member: Member, cleaned: dict[str, Any]) -> None:
    """Set cleaned catalogue values and the derived columns (for workflows creating records)."""
    _apply(member, cleaned)


def check_unique(session: Session, cleaned: dict[str, Any], member_id: int | None) -> None:
    """409 naming each unique field (工号, 证件号码, 会员证号) already used by another member."""
    _check_unique(session, cleaned, member_id)


def _check_unique(session: Session, cleaned: dict[str, Any], member_id: int | None) -> None:
    clashes: dict[str, str] = {}
    for f in cat.UNIQUE:
        value = cleaned.get(f.code)
        if not value:
            continue
        stmt = select(Member.id).where(getattr(Member, f.attr) == value)
        if member_id is not None:
            stmt = stmt.where(Member.id != member_id)
        if session.scalar(stmt) is not None:
            clashes[f.code] = f"{f.label}「{mask_value(f.code, value) if f.sensitive else value}」已被其他会员使用"
    if clashes:
        raise Conflict("；".join(clashes.values()), code="duplicate", fields=clashes)


def _sub_union_ids(session: Session) -> set[int]:
    return set(session.scalars(select(SubUnion.id)))


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def prepare_create(session: Session, identity: Identity, raw: dict[str, Any],
                   sub_union_ids: set[int] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate a new record without writing it (the importer's dry run uses this too)."""
    scope = require(identity, "members.write")
    level = edit_level(identity, raw.get("sub_union"))
    raw = dict(raw)
    if level == cat.SUB_UNION and raw.get("sub_union") is None and len(scope.sub_union_ids) == 1:
        raw["sub_union"] = next(iter(scope.sub_union_ids))
    allowed = cat.editable(level) | ({"sub_union"} if level == cat.SUB_UNION else set())
    cleaned, errors = clean(raw, allowed=allowed, creating=True,
                            sub_union_ids=sub_union_ids if sub_union_ids is not None else _sub_union_ids(session))
    if not errors and not scope.covers(cleaned.get("sub_union")):
        errors["sub_union"] = "只能在本分工会范围内新增会员"
    cleaned.setdefault("id_type", "居民身份证")
    cleaned.setdefault("membership_status", "正常")
    cleaned.setdefault("employment_status", "在职")
    return cleaned, errors


def create(session: Session, identity: Identity, raw: dict[str, Any], *, action: str = "member.create",
           sub_union_ids: set[int] | None = None, unique_checked: bool = False) -> Member:
    """``sub_union_ids`` and ``unique_checked`` let a bulk caller (the Excel importer) that has
    loaded the sub-unions and checked uniqueness in this same transaction skip both per row."""
    cleaned, errors = prepare_create(session, identity, raw, sub_union_ids=sub_union_ids)
    if errors:
        raise Invalid(errors, labelled(errors))
    if not unique_checked:
        _check_unique(session, cleaned, None)
    member = Member()
    _apply(member, cleaned)
    session.add(member)
    session.flush()
    audit.record(session, identity, action, object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 new=_jsonable({k: v for k, v in cleaned.items() if v not in (None, "", [])}))
    return member


def prepare_update(identity: Identity, member: Member, raw: dict[str, Any], *, level: str,
                   sub_union_ids: set[int] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    current = values_of(member)
    cleaned, errors = clean(raw, allowed=cat.editable(level), current=current, sub_union_ids=sub_union_ids)
    # Only what really changes counts: re-sending the record as read is not an edit.
    changed = {k: v for k, v in cleaned.items() if current.get(k) != v}
    return changed, errors


def update(session: Session, identity: Identity, member: Member, raw: dict[str, Any], *,
           expected_version: int | None, level: str | None = None, action: str = "member.update",
           sub_union_ids: set[int] | None = None, unique_checked: bool = False) -> Member:
    if expected_version is not None and expected_version != member.version:
        raise Conflict(
            f"该会员信息已被他人修改（当前版本 {member.version}，您提交的版本 {expected_version}），请刷新后重试",
            code="stale_version",
        )
    level = level or edit_level(identity, member.sub_union_id)
    if level != cat.SELF:
        require(identity, "members.write", member.sub_union_id, scoped=True)
    changed, errors = prepare_update(identity, member, raw, level=level,
                                     sub_union_ids=sub_union_ids if sub_union_ids is not None else _sub_union_ids(session))
    if errors:
        raise Invalid(errors, labelled(errors))
    if not changed:
        return member
    if not unique_checked:
        _check_unique(session, changed, member.id)
    before = values_of(member)
    _apply(member, changed)
    session.flush()  # the version check happens here: UPDATE … WHERE id = ? AND version = ?
    audit.record(session, identity, action, object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 old=_jsonable({k: before[k] for k in changed}), new=_jsonable(changed))
    return member


def ensure_self_edit(identity: Identity) -> None:
    require(identity, "self.write")
    if identity.member_id is None:
        raise Forbidden("当前账号尚未关联会员信息")


# ---- history -----------------------------------------------------------------------------


def history(session: Session, member: Member, can_see_sensitive: bool) -> list[dict[str, Any]]:
    """Every change to the record, newest first, one entry per field."""
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == "member", AuditLog.object_id == str(member.id),
               AuditLog.action.in_(HISTORY_ACTIONS + ("member.transfer", "member.status_change")))
        .order_by(AuditLog.id.desc())
    ).all()
    out = []
    for row in rows:
        old, new = row.old or {}, row.new or {}
        for code in [c for c in cat.BY_CODE if c in new or c in old]:
            o, n = old.get(code), new.get(code)
            if not can_see_sensitive and code in cat.SENSITIVE:
                o, n = mask_value(code, o), mask_value(code, n)
            out.append({
                "at": row.at, "action": row.action, "actor_name": row.actor_name, "field": code,
                "label": cat.BY_CODE[code].label, "old": o, "new": n,
            })
    return out
