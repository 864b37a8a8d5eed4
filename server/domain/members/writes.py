"""Writing member records: one created or updated through the catalogue's rules, and many at once
for the import (multi-row INSERT, executemany UPDATE), each change audited in the same
transaction with its old and new values. Every change is validated against the catalogue and
checked against the version the caller saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from server.core import audit
from server.core.access import Identity, require
from server.core.db import BULK_ROWS
from server.core.errors import Conflict, Forbidden, Invalid
from server.core.timeutil import utcnow
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.members.registry import derived, mask_value, values_of
from server.domain.members.validation import clean, labelled
from server.domain.org.models import SubUnion


def edit_level(identity: Identity, member_sub_union: int | None) -> str:
    """The catalogue's editor level the caller acts at for a member of that sub-union."""
    if identity.scope("members.write").everything:
        return cat.SCHOOL
    return cat.SUB_UNION


def apply_values(member: Member, cleaned: dict[str, Any]) -> None:
    """Set cleaned catalogue values and the derived columns."""
    for code, value in cleaned.items():
        setattr(member, cat.BY_CODE[code].attr, value)
    for attr, value in derived({"name": member.name, "children": member.children}).items():
        setattr(member, attr, value)


def check_unique(session: Session, cleaned: dict[str, Any], member_id: int | None) -> None:
    """409 naming each unique field (工号, 证件号码, 会员证号) already used by another member."""
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


def created_values(cleaned: dict[str, Any]) -> dict[str, Any]:
    """What a new record's audit row (its history's first entry) shows: the values it was given."""
    return {k: v for k, v in cleaned.items() if v not in (None, "", [])}


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
        check_unique(session, cleaned, None)
    member = Member()
    apply_values(member, cleaned)
    session.add(member)
    session.flush()
    audit.record(session, identity, action, object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 new=created_values(cleaned))
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
        check_unique(session, changed, member.id)
    before = values_of(member)
    apply_values(member, changed)
    session.flush()  # the version check happens here: UPDATE … WHERE id = ? AND version = ?
    audit.record(session, identity, action, object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 old={k: before[k] for k in changed}, new=changed)
    return member


_TABLE = Member.__table__


# A JSON bind that writes Python None as SQL NULL (the column type writes JSON 'null'), so that
# an absent list field is stored exactly as the ORM stores an attribute it never set.
_JSON_NULL = JSON(none_as_null=True)


_JSON_ATTRS = frozenset(c.name for c in _TABLE.columns if isinstance(c.type, JSON))


def _bind(attr: str, name: str | None = None) -> Any:
    return bindparam(name or attr, type_=_JSON_NULL if attr in _JSON_ATTRS else _TABLE.c[attr].type)


@dataclass
class Change:
    """One validated change for :func:`update_many`: the record's id and the version it was
    read at, its sub-union, the values before (``old``) and the changed values (``new``), and
    the sheet row it came from (named when the write fails)."""

    row: int
    member_id: int
    version: int
    sub_union_id: int
    old: dict[str, Any]
    new: dict[str, Any]


def insert_many(session: Session, identity: Identity, records: list[dict[str, Any]], *,
                action: str = "member.create") -> list[int]:
    """Insert records already cleaned by :func:`prepare_create` and checked for uniqueness,
    with one audit row each (the same ``new`` values :func:`create` records). Returns their
    ids, in order.

    Why not :func:`create` in a loop: an ORM flush per record (and one per audit row) made a
    10,000-row import spend ~14 s writing. Here the rows go in one multi-row INSERT per
    thousand, their ids come back through RETURNING where the database has it (MariaDB ≥ 10.5,
    SQLite ≥ 3.35); MySQL 8 gets one INSERT per record (still no ORM flush).
    """
    if not records:
        return []
    now = utcnow()
    rows = []
    for cleaned in records:
        row = {cat.BY_CODE[code].attr: value for code, value in cleaned.items()}
        row.update(derived({"children": None, **cleaned}), version=1, created_at=now, updated_at=now)
        rows.append(row)
    # One executemany needs one set of columns: those any record sets (the rest stay NULL, as
    # the ORM leaves an attribute it never set). A sheet of a few columns binds only those.
    attrs = sorted({attr for row in rows for attr, value in row.items() if value is not None})
    for row in rows:
        for attr in attrs:
            row.setdefault(attr, None)
    stmt = insert(_TABLE).values({attr: _bind(attr) for attr in attrs if attr in _JSON_ATTRS})
    ids: list[int] = []
    if session.get_bind().dialect.insert_executemany_returning_sort_by_parameter_order:
        returning = stmt.returning(_TABLE.c.id, sort_by_parameter_order=True)
        for start in range(0, len(rows), BULK_ROWS):
            ids.extend(session.scalars(returning, rows[start:start + BULK_ROWS]).all())
    else:
        for row in rows:
            ids.append(session.execute(stmt, row).inserted_primary_key[0])
    audit.record_many(session, identity, action, [
        {"object_type": "member", "object_id": member_id, "sub_union_id": cleaned.get("sub_union"),
         "new": created_values(cleaned)}
        for member_id, cleaned in zip(ids, records, strict=True)
    ])
    return ids


def update_many(session: Session, identity: Identity, changes: list[Change], *,
                action: str = "member.update") -> None:
    """Apply changes already validated by :func:`prepare_update` (only what really changes)
    and checked for uniqueness, each guarded by the version it was read at, with one audit
    row each (old → new, as :func:`update` records).

    One Core UPDATE per record (each sets its own columns; one statement per set of columns),
    with no ORM flush or reload; executed one by one, because the driver would anyway, and so
    that the rowcount tells exactly which record failed its version check (changed by someone
    else since it was read): :class:`Conflict` naming the sheet row.
    """
    if not changes:
        return
    now = utcnow()
    statements: dict[tuple[str, ...], Any] = {}
    for change in changes:
        row = {cat.BY_CODE[code].attr: value for code, value in change.new.items()}
        row.update(derived(change.new))
        attrs = tuple(sorted(row))
        stmt = statements.get(attrs)
        if stmt is None:
            stmt = statements[attrs] = (
                sql_update(_TABLE)
                .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.version == bindparam("b_version"))
                .values({**{attr: _bind(attr, f"v_{attr}") for attr in attrs}, "version": _TABLE.c.version + 1,
                         "updated_at": bindparam("b_now")}))
        params = {f"v_{attr}": value for attr, value in row.items()}
        params.update(b_id=change.member_id, b_version=change.version, b_now=now)
        if session.execute(stmt, params).rowcount != 1:
            raise Conflict(f"第 {change.row} 行：该会员信息已被他人修改，请重新试导入后再导入", code="stale_version")
    audit.record_many(session, identity, action, [
        {"object_type": "member", "object_id": c.member_id, "sub_union_id": c.new.get("sub_union", c.sub_union_id),
         "old": c.old, "new": c.new}
        for c in changes
    ])


def ensure_self_edit(identity: Identity) -> None:
    require(identity, "self.write")
    if identity.member_id is None:
        raise Forbidden("当前账号尚未关联会员信息")
