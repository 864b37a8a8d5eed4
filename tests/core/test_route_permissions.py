"""Every route declares who may call it, the roles are composed from the areas' declarations
exactly as the table they replaced, and object-level roles work without a new mechanism."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.core import access
from server.core.access import SCHOOL, SELF, SUB_UNION, Binding, Identity, Permission
from server.routes.common import Blueprint, declared_access

# --- the role table ----------------------------------------------------------------------------

_MEMBER_DATA = {"members.read", "members.write", "members.import", "members.export", "members.history",
                "stats.read", "sub_unions.read", "notices.send"}
# A literal copy of the ROLES table as it stood before the areas declared their permissions.
ROLE_TABLE_BEFORE = {
    "super_admin": ("超级管理员", SCHOOL, _MEMBER_DATA | {
        "members.read_sensitive", "applications.approve", "applications.read", "transfers.approve",
        "status_changes.approve", "status_changes.request", "sub_unions.manage", "audit.read",
        "accounts.manage", "settings.manage"}),
    "school_chair": ("校工会主席", SCHOOL, _MEMBER_DATA | {
        "members.read_sensitive", "applications.approve", "applications.read", "transfers.approve",
        "status_changes.approve", "status_changes.request", "sub_unions.manage", "audit.read"}),
    "school_operator": ("校工会操作员", SCHOOL, _MEMBER_DATA | {
        "members.read_sensitive", "audit.read", "applications.read", "status_changes.request"}),
    "subunion_chair": ("分工会主席", SUB_UNION, _MEMBER_DATA | {
        "members.read_sensitive", "applications.confirm", "applications.read", "transfers.approve_out",
        "transfers.accept", "status_changes.request"}),
    "subunion_operator": ("分工会操作员", SUB_UNION, _MEMBER_DATA | {
        "applications.confirm", "applications.read", "status_changes.request"}),
    "member": ("会员", SELF, {"self.read", "self.write"}),
}


def test_composed_roles_equal_the_table_they_replaced(app):  # noqa: ANN001
    composed = {code: (r.label, r.scope, set(r.permissions)) for code, r in access.ROLES.items()}
    assert composed == ROLE_TABLE_BEFORE
    assert list(access.ROLES) == list(ROLE_TABLE_BEFORE)  # the order /roles lists them in


def test_every_permission_is_declared_by_one_area(app):  # noqa: ANN001
    from server.app import area_permissions

    codes = [p.code for p in area_permissions()]
    assert len(codes) == len(set(codes))
    assert set(codes) == set().union(*(perms for _l, _s, perms in ROLE_TABLE_BEFORE.values()))


def test_composition_inherits_up_the_ladder():
    table = access.compose([Permission("x.read", "读", ("subunion_operator",)),
                            Permission("x.manage", "管", ("school_chair",))])
    assert table["subunion_chair"].permissions == {"x.read"}
    assert table["super_admin"].permissions == {"x.manage"}
    assert table["school_operator"].permissions == frozenset()
    with pytest.raises(ValueError, match="twice"):
        access.compose([Permission("x.read", "读", ()), Permission("x.read", "读", ())])
    with pytest.raises(ValueError, match="unknown roles"):
        access.compose([Permission("x.read", "读", ("nobody",))])


# --- every route declares its permission -----------------------------------------------------

# Outside the API: the CAS/OIDC protocol endpoints and the portal's session (plain Flask views
# that check their own portal session), the built front-ends and the API's own documents.
NOT_API = ("/sso/", "/portal", "/m/", "/docs", "/static/", "/api/v1/openapi.json")


def route_declarations(app) -> dict[str, str | None]:  # noqa: ANN001
    """``METHOD /path`` → what the operation declared (None: nothing)."""
    table: dict[str, str | None] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule == "/" or rule.rule.startswith(NOT_API):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            func = getattr(view_class, method.lower(), None) if view_class else view
            table[f"{method} {rule.rule}"] = declared_access(func)
    return table


def test_every_route_declares_its_permission(app):  # noqa: ANN001
    table = route_declarations(app)
    assert len(table) > 60
    missing = sorted(route for route, declared in table.items() if declared is None)
    assert not missing, f"routes without @blp.requires(…) or @blp.public: {missing}"
    known = set(access.PERMISSIONS) | {access.SIGNED_IN, Blueprint.PUBLIC}
    for route, declared in table.items():
        for part in declared.replace("(", "").replace(")", "").replace("|", "+").split("+"):
            assert part.strip() in known, (route, declared)
    public = sorted(route for route, declared in table.items() if declared == Blueprint.PUBLIC)
    assert public == ["GET /api/v1/health", "POST /api/v1/auth/login", "POST /api/v1/auth/wechat/login"]


def test_the_document_shows_each_declaration(app):  # noqa: ANN001
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            declared = op.get("x-permission")
            assert declared, (method, path)
            statuses = set(op["responses"])
            if declared == Blueprint.PUBLIC:
                assert op.get("security") == [], (method, path)
            else:
                assert "security" not in op and {"401", "403"} <= statuses, (method, path)


def test_requires_goes_directly_above_the_handler():
    blp = Blueprint("probe", __name__)
    with pytest.raises(TypeError, match="directly above"):
        blp.requires("members.read")(blp.doc(summary="x")(lambda: None))
    with pytest.raises(TypeError):
        blp.requires()


# --- scope.filter ----------------------------------------------------------------------------------


def test_scope_filter(db, world):  # noqa: ANN001
    from server.domain.org.models import SubUnion

    stmt = select(SubUnion.id)
    everything = set(db.scalars(access.Scope(everything=True).filter(stmt, SubUnion.id)))
    assert {world.own_sub, world.other_sub} <= everything
    assert set(db.scalars(access.Scope(False, frozenset({world.own_sub})).filter(stmt, SubUnion.id))) == {world.own_sub}
    assert set(db.scalars(access.Scope(False).filter(stmt, SubUnion.id))) == set()  # an empty scope: nothing
    either = access.Scope(False, frozenset({world.other_sub})).filter(stmt, SubUnion.id, SubUnion.id + 0)
    assert set(db.scalars(either)) == {world.other_sub}


# --- object-level roles ---------------------------------------------------------------------------


class Outing:
    """A fake area's object: an outing of one sub-union, with organisers and check-in staff."""

    object_type = "outing"

    def __init__(self, id: int, sub_union_id: int):  # noqa: A002
        self.id, self.sub_union_id = id, sub_union_id


def may_check_in(session, identity: Identity, outing: Outing) -> bool:  # noqa: ANN001
    """The fake area's policy: its sub-union's staff (members.write), or who holds the object's
    organiser or check-in role."""
    held = access.object_roles(session, identity, Outing.object_type, outing.id)
    return identity.may("members.write", outing, roles=("organiser", "check_in"), grants=held)


def test_object_grants_extend_a_scope_to_one_object(db, world):  # noqa: ANN001
    from server.core.models import ObjectGrant

    outing = Outing(7, world.other_sub)
    member = Identity(user_id=world.users["member"], username="member", display_name="会员",
                      bindings=(Binding("member"),))
    other_staff = Identity(user_id=world.users["other_staff"], username="x", display_name="x",
                           bindings=(Binding("subunion_operator", world.other_sub),))
    own_staff = Identity(user_id=world.users["sub_staff"], username="y", display_name="y",
                         bindings=(Binding("subunion_operator", world.own_sub),))
    assert may_check_in(db, other_staff, outing)  # by role binding: the outing's sub-union
    assert not may_check_in(db, own_staff, outing)
    assert not may_check_in(db, member, outing)

    db.add(ObjectGrant(object_type="outing", object_id=7, user_id=world.users["member"], role="check_in"))
    db.add(ObjectGrant(object_type="outing", object_id=8, user_id=world.users["sub_staff"], role="organiser"))
    db.add(ObjectGrant(object_type="poll", object_id=7, user_id=world.users["sub_staff"], role="organiser"))
    db.flush()
    assert may_check_in(db, member, outing)  # by an object grant on this very outing
    assert not may_check_in(db, own_staff, outing)  # grants on outing 8 and on poll 7 are not this one
    assert access.object_roles(db, member, "outing", 7) == {"check_in"}
    assert access.object_roles(db, None, "outing", 7) == frozenset()
    assert not member.may("members.write", outing, roles=("organiser",), grants={"check_in"})
