"""The member registry: reading and changing member records within the caller's scope.

Every read goes through :func:`conditions` (lists, counts) or :func:`get_in_scope` (one record), so a sub-union account
never sees, counts or loads another sub-union's member (an id from elsewhere is 404). Every
change is validated against the catalogue, checked against the version the caller saw, and
written to the audit log with old → new values, which is also the member's history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Integer, Select, bindparam, func, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from server.core import audit
from server.core.access import Identity, Scope, require
from server.core.db import BULK_ROWS, plain_rows
from server.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.core.models import AuditLog
from server.core.timeutil import utcnow
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.members.pinyin import initials
from server.domain.members.validation import clean, labelled
from server.domain.org.models import SubUnion

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


# A search condition by name, written once with named bind parameters: ``b(name)`` is the
# parameter. :func:`filter_values` decides which apply and with what values; :func:`conditions`
# binds those values in, the list view's cached statements leave them to execution.
_LIKE = "\\"
_CONDITIONS: dict[str, Callable[[Callable[..., BindParameter[Any]]], ColumnElement[bool]]] = {
    "scope": lambda b: Member.sub_union_id.in_(b("scope_ids", expanding=True)),
    "sub_union": lambda b: Member.sub_union_id == b("sub_union_id"),
    "membership_status": lambda b: Member.membership_status == b("membership_status"),
    "employment_status": lambda b: Member.employment_status == b("employment_status"),
    "q_letters": lambda b: or_(Member.name_initials.like(b("q_initials"), escape=_LIKE),
                               Member.staff_no.like(b("q_prefix"), escape=_LIKE)),
    "q_number": lambda b: or_(Member.staff_no.like(b("q_prefix"), escape=_LIKE),
                              Member.member_no.like(b("q_prefix"), escape=_LIKE)),
    "q_name": lambda b: Member.name.like(b("q_name"), escape=_LIKE),
}


def filter_values(scope: Scope, query: MemberQuery) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(the conditions of a member search, always including the caller's scope; their
    parameters)."""
    names: list[str] = []
    params: dict[str, Any] = {}
    if not scope.everything:
        names.append("scope")
        params["scope_ids"] = sorted(scope.sub_union_ids) or [-1]
    if query.sub_union_id is not None:
        names.append("sub_union")
        params["sub_union_id"] = query.sub_union_id
    for attr in ("membership_status", "employment_status"):
        if getattr(query, attr):
            names.append(attr)
            params[attr] = getattr(query, attr)
    if query.q and (q := query.q.strip()):
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if q.isascii() and q.isalpha():
            names.append("q_letters")
            params.update(q_initials=f"{like.lower()}%", q_prefix=f"{like}%")
        elif q.isascii() and q.isalnum():
            names.append("q_number")
            params["q_prefix"] = f"{like}%"
        else:
            names.append("q_name")
            params["q_name"] = f"%{like}%"
    return tuple(names), params


def conditions(scope: Scope, query: MemberQuery) -> list:
    """The WHERE clauses of a member search, always including the caller's scope, values bound."""
    names, params = filter_values(scope, query)
    # unique: these conditions go into larger statements (the query language's), where a
    # named parameter could meet another of the same name.
    return [_CONDITIONS[n](lambda key, **kw: bindparam(key, params[key], unique=True, **kw)) for n in names]


def _order(query: MemberQuery) -> list:
    key = query.sort.lstrip("-")
    column = getattr(Member, key)
    order = [column.desc() if query.sort.startswith("-") else column.asc()]
    if key != "id":
        order.append(Member.id.asc())
    return order


def search(session: Session, scope: Scope, query: MemberQuery, page: int,
           page_size: int) -> tuple[int, list[Member]]:
    """(total, one page of whole members); a list view wants :func:`list_page`."""
    conds = conditions(scope, query)
    total = session.scalar(select(func.count(Member.id)).where(*conds)) or 0
    stmt = select(Member).where(*conds).order_by(*_order(query)).offset((page - 1) * page_size).limit(page_size)
    return total, list(session.scalars(stmt).all())


def list_statements(scope: Scope, query: MemberQuery, page: int, page_size: int,
                    codes: tuple[str, ...]) -> tuple[Select, Select, dict[str, Any]]:
    """(count, page, parameters) of a list view: the page selects plain columns — id, the
    sub-union's name (joined, not looked up afterwards) and ``codes`` in that order.

    The two statements are built once per shape (which conditions, sort, columns) and then
    only executed with new parameters. A request builds them cold, after waiting on the
    database, and building plus SQLAlchemy's cache key for a new statement cost the list
    about a fifth of its time. Every parameter is required: a statement run without the
    caller's scope ids fails rather than run with someone else's.
    """
    names, params = filter_values(scope, query)
    count_stmt, page_stmt = _list_template(names, query.sort, codes)
    return count_stmt, page_stmt, params | page_params(page, page_size)


def required(key: str, **kw: Any) -> BindParameter[Any]:
    """A named parameter a statement cannot run without."""
    return bindparam(key, required=True, **kw)


def paged(stmt: Select) -> Select:
    """``stmt`` with OFFSET and LIMIT left to execution: see :func:`page_params`."""
    return stmt.offset(required("offset", type_=Integer)).limit(required("limit", type_=Integer))


def page_params(page: int, page_size: int) -> dict[str, int]:
    return {"offset": (page - 1) * page_size, "limit": page_size}


def template_conditions(names: tuple[str, ...]) -> list:
    """The conditions ``names`` (from :func:`filter_values`) with their parameters left to
    execution, for statements built once and run many times."""
    return [_CONDITIONS[n](required) for n in names]


@lru_cache(maxsize=256)
def _list_template(names: tuple[str, ...], sort: str, codes: tuple[str, ...]) -> tuple[Select, Select]:
    conds = template_conditions(names)
    count_stmt = select(func.count(Member.id)).where(*conds)
    page_stmt = (
        select(Member.id, SubUnion.name, *(getattr(Member, cat.BY_CODE[c].attr) for c in codes))
        .outerjoin(SubUnion, SubUnion.id == Member.sub_union_id)
        .where(*conds).order_by(*_order(MemberQuery(sort=sort)))
    )
    return count_stmt, paged(page_stmt)


def list_page(session: Session, scope: Scope, query: MemberQuery, page: int, page_size: int,
              codes: tuple[str, ...]) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of list rows): ``codes`` → value, masked whatever the caller's role (a
    list never shows sensitive values in clear), then ``id`` and ``sub_union_name``.

    Rows are plain tuples, not ``Member`` objects: a list shows a few columns of up to 200
    records and changes none, and building ORM objects for them cost more than the queries.
    """
    count_stmt, page_stmt, params = list_statements(scope, query, page, page_size, codes)
    total = plain_rows(session, count_stmt, params).scalar() or 0
    if not total:
        return 0, []
    sensitive = [c for c in codes if c in cat.SENSITIVE]
    items = []
    for member_id, sub_union_name, *values in plain_rows(session, page_stmt, params):
        item = dict(zip(codes, values, strict=True))
        for code in sensitive:  # as masked(…, False) does, without copying every row twice
            item[code] = mask_value(code, item[code])
        item["id"], item["sub_union_name"] = member_id, sub_union_name
        items.append(item)
    return total, items


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


def derived(values: dict[str, Any]) -> dict[str, Any]:
    """The columns kept for search and statistics (拼音首字母, number of children), for the
    catalogue values among ``values`` they come from: the one rule for every way a record is
    written (ORM, bulk insert, bulk update)."""
    out: dict[str, Any] = {}
    if "name" in values:
        out["name_initials"] = initials(values["name"])
    if "children" in values:
        out["children_count"] = len(values["children"] or [])
    return out


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


# ---- writing many at once (the Excel importer) ---------------------------------------------

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
