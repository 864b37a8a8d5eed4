"""Roles, permissions and scopes (DESIGN.md "Who may do what"), and who is asking.

Everything that decides whether a person may touch an object is asked here, so that routes,
jobs and later areas ask one place. ``Identity`` is the domain's view of the caller; the web
layer builds it from a token or a portal session.

Roles are core's: their codes, labels, scopes and which role inherits from which
(:data:`ROLE_LADDER`). Permissions are the areas': each area's ``permissions.py`` declares what
it defines and the lowest roles it is granted to, and :func:`register` (called by
``server.app.create_app`` with every area's declarations, from the AREAS list) composes the
effective table :data:`ROLES`. Core imports no area.

Object-level roles (an activity's organisers, a poll's tellers, a proposal's reviewers) are rows
of ``object_grants`` (:class:`server.core.models.ObjectGrant`): an area names the object type and
the roles, :meth:`Identity.may` and :func:`object_roles` read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select

from server.core.errors import Forbidden, NotFound, Unauthorized
from server.core.models import ObjectGrant

SCHOOL = "school"
SUB_UNION = "sub_union"
SELF = "self"

S = TypeVar("S", bound=Select)


# ---- roles and their composition --------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """A role as core knows it: everything but its permissions. ``inherits``: the role whose
    permissions it holds as well (and so on up the ladder)."""

    code: str
    label: str
    scope: str  # SCHOOL | SUB_UNION | SELF
    inherits: str | None = None


# In the order the role table is shown. super_admin = school_chair + accounts and settings;
# a chair = its level's operator + the approvals of that level.
ROLE_LADDER: tuple[Role, ...] = (
    Role("super_admin", "超级管理员", SCHOOL, inherits="school_chair"),
    Role("school_chair", "校工会主席", SCHOOL, inherits="school_operator"),
    Role("school_operator", "校工会操作员", SCHOOL),
    Role("subunion_chair", "分工会主席", SUB_UNION, inherits="subunion_operator"),
    Role("subunion_operator", "分工会操作员", SUB_UNION),
    Role("member", "会员", SELF),
)
ROLE_CODES: tuple[str, ...] = tuple(r.code for r in ROLE_LADDER)
_LADDER = {r.code: r for r in ROLE_LADDER}

# The staff roles at the foot of each ladder: what both operators hold, every chair holds too.
STAFF: tuple[str, ...] = ("school_operator", "subunion_operator")


@dataclass(frozen=True)
class Permission:
    """What an area declares: a permission and the roles it is granted to (those inheriting
    from them get it too)."""

    code: str
    label: str
    granted_to: tuple[str, ...]


@dataclass(frozen=True)
class RoleDef:
    code: str
    label: str
    scope: str  # SCHOOL | SUB_UNION | SELF
    permissions: frozenset[str]


# The composed table, filled by :func:`register`: role code → its effective permissions.
ROLES: dict[str, RoleDef] = {}
PERMISSIONS: dict[str, Permission] = {}


def compose(declarations: Iterable[Permission]) -> dict[str, RoleDef]:
    """The effective role table for these declarations: each role's own grants plus, up its
    ``inherits`` chain, those of the roles below it. A permission declared twice or granted to
    a role that does not exist is a programming error."""
    declared: dict[str, Permission] = {}
    for p in declarations:
        if p.code in declared:
            raise ValueError(f"permission {p.code!r} declared twice")
        unknown = set(p.granted_to) - _LADDER.keys()
        if unknown:
            raise ValueError(f"permission {p.code!r} granted to unknown roles {sorted(unknown)}")
        declared[p.code] = p

    def effective(code: str) -> frozenset[str]:
        own = {p.code for p in declared.values() if code in p.granted_to}
        parent = _LADDER[code].inherits
        return frozenset(own | (effective(parent) if parent else set()))

    return {r.code: RoleDef(r.code, r.label, r.scope, effective(r.code)) for r in ROLE_LADDER}


def register(declarations: Iterable[Permission]) -> None:
    """Compose :data:`ROLES` from every area's declarations (idempotent: ``create_app`` calls
    it each time, with the same declarations)."""
    declarations = list(declarations)
    table = compose(declarations)
    ROLES.update(table)
    PERMISSIONS.update({p.code: p for p in declarations})
    for stale in PERMISSIONS.keys() - {p.code for p in declarations}:
        del PERMISSIONS[stale]


def role(code: str) -> RoleDef:
    if not ROLES:
        raise RuntimeError("roles not composed: call server.core.access.register() (create_app does)")
    return ROLES[code]


# ---- who is asking, and how far their permissions reach -----------------------------------------


@dataclass(frozen=True)
class Binding:
    role: str
    sub_union_id: int | None = None

    @property
    def definition(self) -> RoleDef:
        return role(self.role)


@dataclass(frozen=True)
class Scope:
    """Which sub-unions a permission reaches: all of them, or a set of ids (maybe empty)."""

    everything: bool
    sub_union_ids: frozenset[int] = frozenset()

    def covers(self, sub_union_id: int | None) -> bool:
        return self.everything or (sub_union_id is not None and sub_union_id in self.sub_union_ids)

    def condition(self, *columns: Any) -> ColumnElement[bool] | None:
        """The WHERE clause "one of ``columns`` names a sub-union in scope", or None for the
        whole school. An empty scope matches nothing (``IN (-1)``: no sub-union has that id)."""
        if self.everything:
            return None
        ids = sorted(self.sub_union_ids) or [-1]
        clauses = [column.in_(ids) for column in columns]
        return clauses[0] if len(clauses) == 1 else or_(*clauses)

    def filter(self, stmt: S, *columns: Any) -> S:
        """``stmt`` limited to the rows whose sub-union (any of ``columns``, e.g. a transfer's
        from and to) lies in this scope: the one sub-union filter of every list query."""
        clause = self.condition(*columns)
        return stmt if clause is None else stmt.where(clause)


@dataclass(frozen=True)
class Identity:
    user_id: int
    username: str
    display_name: str
    bindings: tuple[Binding, ...] = ()
    member_id: int | None = None
    address: str | None = None
    token_id: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def has(self, permission: str) -> bool:
        return any(permission in b.definition.permissions for b in self.bindings)

    def scope(self, permission: str) -> Scope:
        ids: set[int] = set()
        for b in self.bindings:
            if permission not in b.definition.permissions:
                continue
            if b.definition.scope == SCHOOL:
                return Scope(everything=True)
            if b.definition.scope == SUB_UNION and b.sub_union_id is not None:
                ids.add(b.sub_union_id)
        return Scope(everything=False, sub_union_ids=frozenset(ids))

    def reaches(self, permission: str, sub_union_id: int | None) -> bool:
        """Whether ``permission`` reaches an object of ``sub_union_id`` (None: a school-level
        object, which only a school-wide binding reaches)."""
        return self.scope(permission).covers(sub_union_id)

    def may(self, permission: str, obj: Any = None, *, roles: Iterable[str] = (),
            grants: Iterable[str] | None = None) -> bool:
        """Whether the caller may use ``permission`` on ``obj``: when its role binding reaches
        the object's sub-union (``obj.sub_union_id``; no object: anywhere), or when they hold
        one of the object-level ``roles`` on it. ``grants``: the caller's object roles on ``obj``,
        read by :func:`object_roles` (the domain reads them; this stays a pure function)."""
        if obj is None:
            if self.has(permission):
                return True
        elif self.reaches(permission, getattr(obj, "sub_union_id", None)):
            return True
        return bool(set(roles) & set(grants or ()))

    @property
    def is_school_level(self) -> bool:
        return any(b.definition.scope == SCHOOL for b in self.bindings)


def object_roles(session: Any, identity: Identity | None, object_type: str, object_id: int) -> frozenset[str]:
    """The object-level roles ``identity`` holds on one object (``object_grants`` rows)."""
    if identity is None:
        return frozenset()
    return frozenset(session.scalars(select(ObjectGrant.role).where(
        ObjectGrant.object_type == object_type, ObjectGrant.object_id == object_id,
        ObjectGrant.user_id == identity.user_id)))


# ---- the checks -----------------------------------------------------------------------------------

SIGNED_IN = "signed_in"  # a declaration: any identity, no permission needed


@dataclass(frozen=True)
class AnyOf:
    """A declaration: at least one of these permissions (a step several roles take in turn)."""

    permissions: tuple[str, ...]

    def __str__(self) -> str:
        return " | ".join(self.permissions)


def any_of(*permissions: str) -> AnyOf:
    return AnyOf(tuple(permissions))


Requirement = str | AnyOf


def _known(permission: str) -> None:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")


def check(identity: Identity | None, requirements: Iterable[Requirement]) -> Identity:
    """The coarse check a route declares: 401 without identity, 403 unless the caller holds
    every requirement (a permission, or :func:`any_of` several); :data:`SIGNED_IN` asks for an
    identity only. Decided before any object is looked at, so a nonexistent id answers alike."""
    if identity is None:
        raise Unauthorized("请先登录")
    for requirement in requirements:
        if requirement == SIGNED_IN:
            continue
        alternatives = requirement.permissions if isinstance(requirement, AnyOf) else (requirement,)
        for p in alternatives:
            _known(p)
        if not any(identity.has(p) for p in alternatives):
            raise Forbidden("当前账号无权执行此操作")
    return identity


def require(identity: Identity | None, permission: str, sub_union_id: int | None = None, *,
            scoped: bool = False) -> Scope:
    """The domain's own guard (jobs call the domain directly): 401 without identity, 403
    without the permission, 404 when the object (its sub-union given with ``scoped=True``) lies
    outside the caller's scope.

    Returns the caller's scope for the permission, for list queries to filter by.
    """
    check(identity, (permission,))
    scope = identity.scope(permission)
    if scoped and not scope.covers(sub_union_id):
        # 404, not 403: an id from elsewhere must not even reveal that it exists.
        raise NotFound("记录不存在")
    return scope


def validate_binding(role: str, sub_union_id: int | None) -> str | None:
    """Why a (role, sub-union) pair cannot be granted, or None when it can."""
    if role not in _LADDER:
        return f"未知角色 {role}"
    r = _LADDER[role]
    if r.scope == SUB_UNION and sub_union_id is None:
        return f"角色「{r.label}」必须指定所属分工会"
    if r.scope != SUB_UNION and sub_union_id is not None:
        return f"角色「{r.label}」不属于某个分工会，不能指定分工会"
    return None
