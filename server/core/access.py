"""Roles, permissions and scopes exactly as DESIGN.md's table, and who is asking.

Everything that decides whether a person may touch an object lives here so that routes,
jobs and later modules ask one place. ``Identity`` is the domain's view of the caller; the web
layer builds it from a token or a portal session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.core.errors import Forbidden, NotFound, Unauthorized

SCHOOL = "school"
SUB_UNION = "sub_union"
SELF = "self"


@dataclass(frozen=True)
class RoleDef:
    code: str
    label: str
    scope: str  # SCHOOL | SUB_UNION | SELF
    permissions: frozenset[str]


# Permissions, by area. A later module adds its own and grants them below.
MEMBER_DATA = frozenset(
    {
        "members.read",
        "members.write",
        "members.import",
        "members.export",
        "members.history",
        "stats.read",
        "sub_unions.read",
        "notices.send",
    }
)

ROLES: dict[str, RoleDef] = {
    r.code: r
    for r in (
        RoleDef(
            "super_admin",
            "超级管理员",
            SCHOOL,
            MEMBER_DATA
            | {
                "members.read_sensitive",
                "applications.approve",
                "applications.read",
                "transfers.approve",
                "status_changes.approve",
                "status_changes.request",
                "sub_unions.manage",
                "audit.read",
                "accounts.manage",
                "settings.manage",
            },
        ),
        RoleDef(
            "school_chair",
            "校工会主席",
            SCHOOL,
            MEMBER_DATA
            | {
                "members.read_sensitive",
                "applications.approve",
                "applications.read",
                "transfers.approve",
                "status_changes.approve",
                "status_changes.request",
                "sub_unions.manage",
                "audit.read",
            },
        ),
        RoleDef(
            "school_operator",
            "校工会操作员",
            SCHOOL,
            MEMBER_DATA | {"members.read_sensitive", "audit.read", "applications.read", "status_changes.request"},
        ),
        RoleDef(
            "subunion_chair",
            "分工会主席",
            SUB_UNION,
            MEMBER_DATA
            | {"members.read_sensitive", "applications.confirm", "applications.read", "transfers.approve_out",
               "transfers.accept", "status_changes.request"},
        ),
        RoleDef(
            "subunion_operator",
            "分工会操作员",
            SUB_UNION,
            MEMBER_DATA | {"applications.confirm", "applications.read", "status_changes.request"},
        ),
        RoleDef("member", "会员", SELF, frozenset({"self.read", "self.write"})),
    )
}

ALL_PERMISSIONS = frozenset().union(*(r.permissions for r in ROLES.values()))


@dataclass(frozen=True)
class Binding:
    role: str
    sub_union_id: int | None = None

    @property
    def definition(self) -> RoleDef:
        return ROLES[self.role]


@dataclass(frozen=True)
class Scope:
    """Which sub-unions a permission reaches: all of them, or a set of ids (maybe empty)."""

    everything: bool
    sub_union_ids: frozenset[int] = frozenset()

    def covers(self, sub_union_id: int | None) -> bool:
        return self.everything or (sub_union_id is not None and sub_union_id in self.sub_union_ids)


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

    @property
    def is_school_level(self) -> bool:
        return any(b.definition.scope == SCHOOL for b in self.bindings)


def require(identity: Identity | None, permission: str, sub_union_id: int | None = None, *,
            scoped: bool = False) -> Scope:
    """The one permission check: 401 without identity, 403 without the permission, 404 when
    the object (its sub-union given with ``scoped=True``) lies outside the caller's scope.

    Returns the caller's scope for the permission, for list queries to filter by.
    """
    if identity is None:
        raise Unauthorized("请先登录")
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if not identity.has(permission):
        raise Forbidden("当前账号无权执行此操作")
    scope = identity.scope(permission)
    if scoped and not scope.covers(sub_union_id):
        # 404, not 403: an id from elsewhere must not even reveal that it exists.
        raise NotFound("记录不存在")
    return scope


def validate_binding(role: str, sub_union_id: int | None) -> str | None:
    """Why a (role, sub-union) pair cannot be granted, or None when it can."""
    if role not in ROLES:
        return f"未知角色 {role}"
    scope = ROLES[role].scope
    if scope == SUB_UNION and sub_union_id is None:
        return f"角色「{ROLES[role].label}」必须指定所属分工会"
    if scope != SUB_UNION and sub_union_id is not None:
        return f"角色「{ROLES[role].label}」不属于某个分工会，不能指定分工会"
    return None
