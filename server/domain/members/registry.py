"""The member registry: reading member records within the caller's scope (changing them is
:mod:`server.domain.members.writes`, their history :mod:`server.domain.members.history`).

Every read goes through :func:`conditions` (lists, counts) or :func:`get_in_scope` (one record), so a sub-union account
never sees, counts or loads another sub-union's member (an id from elsewhere is 404).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from server.core import audit
from server.core.access import Identity, Scope, require
from server.core.db import plain_rows
from server.core.errors import NotFound
from server.domain.members import catalogue as cat
from server.domain.members import policy
from server.domain.members.models import Member
from server.domain.members.pinyin import initials
from server.domain.org.models import SubUnion

ALL_CODES = frozenset(f.code for f in cat.CATALOGUE)
SORTABLE = {"id", "name", "staff_no", "birth_date", "union_join_date", "member_no", "updated_at", "school_join_date"}


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
    return policy.may_read_sensitive(identity, member)


def record_sensitive_read(session: Session, identity: Identity, member: Member, purpose: str) -> None:
    present = [c for c in sorted(cat.SENSITIVE) if getattr(member, cat.BY_CODE[c].attr)]
    if present and identity.member_id != member.id:
        audit.record(session, identity, "member.read_sensitive", object_type="member", object_id=member.id,
                     sub_union_id=member.sub_union_id, new={"fields": present, "purpose": purpose})


def masked_fields(shown: dict[str, Any], in_clear: bool) -> list[str]:
    """The sensitive fields that ``shown`` holds masked: those with a value, unless in clear."""
    return [] if in_clear else sorted(c for c in cat.SENSITIVE if shown.get(c))


@dataclass(frozen=True)
class Seen:
    """A member record as one reader sees it: its values (catalogue code → value), sensitive
    ones in clear only for a reader who may see them."""

    member: Member
    values: dict[str, Any]
    in_clear: bool

    @property
    def masked_fields(self) -> list[str]:
        return masked_fields(self.values, self.in_clear)

    @property
    def version(self) -> int:
        return self.member.version


def seen_by(session: Session, identity: Identity, member: Member, *, purpose: str | None = None) -> Seen:
    """``member`` as ``identity`` may see it. With a ``purpose`` (a detail page, a printed
    form) the reading is one that must be accounted for: sensitive values shown in clear to
    anyone but the member are written to the audit log (``member.read_sensitive``)."""
    in_clear = can_read_sensitive(identity, member)
    if in_clear and purpose:
        record_sensitive_read(session, identity, member, purpose)
    return Seen(member, masked(values_of(member), in_clear), in_clear)


# ---- reading -----------------------------------------------------------------------------


def scoped_select(scope: Scope) -> Select:
    return select(Member).where(*conditions(scope, MemberQuery()))


def get_in_scope(session: Session, identity: Identity | None, member_id: int, permission: str) -> Member:
    """401/403 as for any route; 404 when the member does not exist or lies outside scope."""
    require(identity, permission)
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("会员不存在")
    if not policy.visible(identity, member, permission):
        raise NotFound("记录不存在")  # the words core's scoped check has always used
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


# ---- derived columns -------------------------------------------------------------------


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
