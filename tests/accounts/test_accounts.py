"""Account and role management by the super administrator (超级管理员)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from server.core.models import AuditLog
from server.domain.accounts.models import ApiToken, RoleBinding, User
from server.domain.members.models import Member
from tests.support.api_asserts import assert_error, reread

USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
GOOD_PASSWORD = "Passw0rd2024"


def user_count(db) -> int:  # noqa: ANN001
    reread(db)
    return db.scalar(select(func.count()).select_from(User))


def audit_rows(db, action: str, object_id: int | None = None) -> list[AuditLog]:  # noqa: ANN001
    reread(db)
    stmt = select(AuditLog).where(AuditLog.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditLog.object_id == str(object_id))
    return list(db.scalars(stmt.order_by(AuditLog.id)))


def bindings_of(db, user_id: int) -> set[tuple[str, int | None]]:  # noqa: ANN001
    reread(db)
    return {(b.role, b.sub_union_id) for b in db.scalars(select(RoleBinding).where(RoleBinding.user_id == user_id))}


def sign_in(anon, username: str, password: str):  # noqa: ANN001, ANN201
    return anon.post(LOGIN, json={"username": username, "password": password})


# ---- create, list, get ----------------------------------------------------------------------


def test_create_user_with_roles(db, world, clients, anon):
    """A new operator for one sub-union: created, audited, and able to sign in at once."""
    resp = clients["admin"].post(USERS, json={
        "username": "wang.op", "display_name": " 王操作 ", "password": GOOD_PASSWORD,
        "roles": [{"role": "subunion_operator", "sub_union_id": world.own_sub}],
    })
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["username"] == "wang.op" and body["display_name"] == "王操作"
    assert body["is_active"] is True and body["has_password"] is True and body["member_id"] is None
    assert body["roles"] == [{"role": "subunion_operator", "sub_union_id": world.own_sub}]
    assert body["created_at"].endswith("+08:00") and body["last_login_at"] is None
    assert "password" not in body and "password_hash" not in body

    assert bindings_of(db, body["id"]) == {("subunion_operator", world.own_sub)}
    [row] = audit_rows(db, "user.create", body["id"])
    assert row.actor_user_id == world.users["admin"]
    assert row.new["username"] == "wang.op"
    assert row.new["roles"] == [f"subunion_operator@{world.own_sub}"]
    assert GOOD_PASSWORD not in json.dumps(row.new)

    token = sign_in(anon, "wang.op", GOOD_PASSWORD).get_json()["token"]
    me = anon.get(ME, headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["roles"][0]["sub_union_name"] == "计算机学院分工会"


def test_create_user_without_password_cannot_sign_in_locally(db, world, clients, anon):
    """SSO-only accounts have no password; a guess at an empty one must not work."""
    resp = clients["admin"].post(USERS, json={"username": "sso.only", "display_name": "单点"})
    assert resp.status_code == 201
    assert resp.get_json()["has_password"] is False and resp.get_json()["roles"] == []
    assert_error(sign_in(anon, "sso.only", "anything1"), 401, "bad_credentials")


def test_create_user_linked_to_member(db, world, clients):
    """A member account carries its member record, visible in /auth/me."""
    other = Member(name="新会员", staff_no="20990001", sub_union_id=world.own_sub, gender="男",
                   birth_date=date(1991, 2, 3), membership_status="正常", employment_status="在职")
    db.add(other)
    db.commit()
    resp = clients["admin"].post(USERS, json={"username": "newbie", "display_name": "新会员",
                                              "roles": [{"role": "member"}], "member_id": other.id})
    assert resp.status_code == 201
    assert resp.get_json()["member_id"] == other.id


def test_list_users_with_search_role_filter_and_total(world, clients):
    """The account list is searchable by name and role, and reports the full total."""
    admin = clients["admin"]
    everyone = admin.get(USERS).get_json()
    assert everyone["total"] == len(world.users) == 8
    assert [u["id"] for u in everyone["items"]] == sorted(world.users.values())

    chairs = admin.get(f"{USERS}?role=subunion_chair").get_json()
    assert chairs["total"] == 2
    assert {u["username"] for u in chairs["items"]} == {"sub_chair", "other_chair"}

    staff = admin.get(f"{USERS}?q=staff").get_json()
    assert {u["username"] for u in staff["items"]} == {"staff", "sub_staff", "other_staff"}
    both = admin.get(f"{USERS}?q=staff&role=subunion_operator").get_json()
    assert both["total"] == 2

    page = admin.get(f"{USERS}?page=2&page_size=3").get_json()
    assert page["total"] == 8 and page["page"] == 2 and page["page_size"] == 3
    assert [u["id"] for u in page["items"]] == sorted(world.users.values())[3:6]
    assert admin.get(f"{USERS}?q=nobody-like-this").get_json() == {
        "total": 0, "page": 1, "page_size": 20, "items": []}


@pytest.mark.parametrize("query, field", [
    ("role=wizard", "role"), ("page=0", "page"), ("page=abc", "page"),
    ("page_size=201", "page_size"), ("page_size=0", "page_size"),
])
def test_list_users_bad_query_is_422(world, clients, query, field):
    assert_error(clients["admin"].get(f"{USERS}?{query}"), 422, "validation_error", fields=(field,))


def test_get_user_and_unknown_user(world, clients):
    admin = clients["admin"]
    body = admin.get(f"{USERS}/{world.users['sub_chair']}").get_json()
    assert body["roles"] == [{"role": "subunion_chair", "sub_union_id": world.own_sub}]
    assert_error(admin.get(f"{USERS}/999999"), 404, "not_found", message="账号不存在")
    assert_error(admin.patch(f"{USERS}/999999", json={"display_name": "x"}), 404, "not_found")
    assert_error(admin.delete(f"{USERS}/999999/tokens"), 404, "not_found")


# ---- create: bad input -------------------------------------------------------------------------


def _create_cases():
    """(name, payload builder taking the world, field that must be named, status)."""
    base = {"username": "new.user", "display_name": "新账号", "password": GOOD_PASSWORD}

    def with_(**kw):  # noqa: ANN003, ANN202
        return lambda w: {**base, **{k: (v(w) if callable(v) else v) for k, v in kw.items()}}

    return [
        ("subunion role without sub-union", with_(roles=[{"role": "subunion_chair"}]), "roles[0]"),
        ("school role with a sub-union", with_(roles=lambda w: [{"role": "school_operator", "sub_union_id": w.own_sub}]),
         "roles[0]"),
        ("member role with a sub-union", with_(roles=lambda w: [{"role": "member", "sub_union_id": w.own_sub}]),
         "roles[0]"),
        ("second binding is the bad one", with_(roles=[{"role": "school_chair"}, {"role": "subunion_operator"}]),
         "roles[1]"),
        ("unknown role", with_(roles=[{"role": "wizard"}]), "roles[0].role"),
        ("binding without role", with_(roles=lambda w: [{"sub_union_id": w.own_sub}]), "roles[0].role"),
        ("nonexistent sub-union", with_(roles=[{"role": "subunion_chair", "sub_union_id": 999999}]), "roles[0]"),
        ("sub-union id of wrong type", with_(roles=[{"role": "subunion_chair", "sub_union_id": "JSJ"}]),
         "roles[0].sub_union_id"),
        ("roles not a list", with_(roles="super_admin"), "roles"),
        ("binding not an object", with_(roles=["super_admin"]), "roles[0]"),
        ("missing username", lambda w: {"display_name": "新账号"}, "username"),
        ("username with a space", with_(username="new user"), "username"),
        ("username too short", with_(username="x"), "username"),
        ("username too long", with_(username="u" * 65), "username"),
        ("username of wrong type", with_(username=42), "username"),
        ("missing display name", lambda w: {"username": "new.user"}, "display_name"),
        ("blank display name", with_(display_name="   "), "display_name"),
        ("display name too long", with_(display_name="名" * 65), "display_name"),
        ("weak password", with_(password="abc"), "password"),
        ("password without digits", with_(password="abcdefghij"), "password"),
        ("password without letters", with_(password="1234567890"), "password"),
        ("password too long", with_(password="a1" * 65), "password"),
        ("password of wrong type", with_(password=12345678), "password"),
        ("member id of wrong type", with_(member_id="陈思远"), "member_id"),
        ("nonexistent member", with_(member_id=999999), "member_id"),
        ("unknown field", with_(is_admin=True), "is_admin"),
    ]


@pytest.mark.parametrize("build, field", [c[1:] for c in _create_cases()], ids=[c[0] for c in _create_cases()])
def test_create_user_bad_input_is_422_and_writes_nothing(db, world, clients, build, field):
    """Each bad input names its field; no account, binding or audit row is left behind."""
    users_before, audit_before = user_count(db), len(audit_rows(db, "user.create"))
    body = assert_error(clients["admin"].post(USERS, json=build(world)), 422, "validation_error", fields=(field,))
    assert field in body["message"] or body["fields"][field] in body["message"]
    assert user_count(db) == users_before
    assert len(audit_rows(db, "user.create")) == audit_before


def test_create_user_with_non_json_body_is_400(db, world, clients):
    resp = clients["admin"].post(USERS, data='{"username": "x"', content_type="application/json")
    assert_error(resp, 400, "bad_json")
    assert user_count(db) == len(world.users)


def test_duplicate_username_is_409(db, world, clients):
    """A taken username is a conflict naming the field, not a validation error or a 500."""
    resp = clients["admin"].post(USERS, json={"username": "chair", "display_name": "重名", "password": GOOD_PASSWORD})
    body = assert_error(resp, 409, "conflict", fields=("username",))
    assert "chair" in body["message"]
    assert user_count(db) == len(world.users)
    assert db.get(User, world.users["chair"]).display_name == "chair"


def test_member_already_linked_is_409(db, world, clients):
    """One member record belongs to at most one account."""
    resp = clients["admin"].post(USERS, json={"username": "twin", "display_name": "双胞胎",
                                              "roles": [{"role": "member"}], "member_id": world.member_id})
    assert_error(resp, 409, "conflict", fields=("member_id",))
    assert user_count(db) == len(world.users)


# ---- update ------------------------------------------------------------------------------------


def test_patch_display_name_and_roles_is_audited_old_to_new(db, world, clients):
    """Every account change is logged with only what changed, old → new."""
    uid = world.users["sub_staff"]
    resp = clients["admin"].patch(f"{USERS}/{uid}", json={
        "display_name": "刘芳", "roles": [{"role": "school_operator"}]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["roles"] == [{"role": "school_operator", "sub_union_id": None}]
    assert bindings_of(db, uid) == {("school_operator", None)}

    [row] = audit_rows(db, "user.update", uid)
    assert row.actor_user_id == world.users["admin"]
    assert row.old == {"display_name": "sub_staff", "roles": [f"subunion_operator@{world.own_sub}"]}
    assert row.new == {"display_name": "刘芳", "roles": ["school_operator"]}
    # The new role applies to the account's next request without signing in again.
    assert clients["sub_staff"].get(ME).get_json()["roles"][0]["scope"] == "school"


def test_patch_without_changes_writes_no_audit_row(db, world, clients):
    uid = world.users["staff"]
    assert clients["admin"].patch(f"{USERS}/{uid}", json={}).status_code == 200
    assert clients["admin"].patch(f"{USERS}/{uid}", json={"display_name": "staff"}).status_code == 200
    assert audit_rows(db, "user.update", uid) == []


@pytest.mark.parametrize("payload, field", [
    ({"roles": [{"role": "subunion_chair"}]}, "roles[0]"),
    ({"roles": [{"role": "wizard"}]}, "roles[0].role"),
    ({"display_name": ""}, "display_name"),
    ({"display_name": "  "}, "display_name"),
    ({"is_active": "maybe"}, "is_active"),
    ({"member_id": 999999}, "member_id"),
    ({"password": "short1"}, "password"),
    ({"username": "renamed"}, "username"),
])
def test_patch_bad_input_is_422_and_changes_nothing(db, world, clients, payload, field):
    uid = world.users["sub_chair"]
    assert_error(clients["admin"].patch(f"{USERS}/{uid}", json=payload), 422, "validation_error", fields=(field,))
    reread(db)
    user = db.get(User, uid)
    assert (user.username, user.display_name, user.is_active) == ("sub_chair", "sub_chair", True)
    assert bindings_of(db, uid) == {("subunion_chair", world.own_sub)}
    assert audit_rows(db, "user.update") == []
    assert clients["sub_chair"].get(ME).status_code == 200


def test_cannot_remove_own_super_admin_role(db, world, clients):
    """The last way in must not be closed by a slip of the administrator's own hand."""
    uid = world.users["admin"]
    resp = clients["admin"].patch(f"{USERS}/{uid}", json={"roles": [{"role": "school_chair"}]})
    assert_error(resp, 409, "conflict", fields=("roles",))
    assert bindings_of(db, uid) == {("super_admin", None)}
    assert audit_rows(db, "user.update") == []
    # Adding a role while keeping super_admin is fine.
    resp = clients["admin"].patch(f"{USERS}/{uid}", json={"roles": [{"role": "super_admin"}, {"role": "school_chair"}]})
    assert resp.status_code == 200
    assert bindings_of(db, uid) == {("super_admin", None), ("school_chair", None)}


def test_cannot_deactivate_self(db, world, clients):
    uid = world.users["admin"]
    assert_error(clients["admin"].patch(f"{USERS}/{uid}", json={"is_active": False}), 409, "conflict",
                 fields=("is_active",))
    reread(db)
    assert db.get(User, uid).is_active is True
    assert clients["admin"].get(ME).status_code == 200


def test_deactivating_a_user_revokes_their_tokens(db, world, clients, anon):
    """A deactivated account is signed out everywhere at once and cannot sign in again."""
    uid = world.users["staff"]
    assert clients["staff"].get(ME).status_code == 200
    resp = clients["admin"].patch(f"{USERS}/{uid}", json={"is_active": False})
    assert resp.status_code == 200 and resp.get_json()["is_active"] is False

    assert_error(clients["staff"].get(ME), 401, "unauthorized")
    reread(db)
    assert all(t.revoked_at is not None for t in db.scalars(select(ApiToken).where(ApiToken.user_id == uid)))
    [row] = audit_rows(db, "user.update", uid)
    assert (row.old, row.new) == ({"is_active": True}, {"is_active": False})
    assert_error(sign_in(anon, "staff", "secret123"), 401, "bad_credentials")

    assert clients["admin"].patch(f"{USERS}/{uid}", json={"is_active": True}).status_code == 200
    assert sign_in(anon, "staff", "secret123").status_code == 200


def test_password_reset_revokes_tokens_and_new_password_signs_in(db, world, clients, anon):
    """After a reset the old password and every old session stop working; the log shows that
    the password changed but never the password."""
    uid = world.users["staff"]
    resp = clients["admin"].patch(f"{USERS}/{uid}", json={"password": GOOD_PASSWORD})
    assert resp.status_code == 200
    assert_error(clients["staff"].get(ME), 401, "unauthorized")
    assert_error(sign_in(anon, "staff", "secret123"), 401, "bad_credentials")
    assert sign_in(anon, "staff", GOOD_PASSWORD).status_code == 200

    [row] = audit_rows(db, "user.update", uid)
    assert (row.old, row.new) == ({"password": "***"}, {"password": "（已重置）"})
    assert GOOD_PASSWORD not in json.dumps([row.old, row.new], ensure_ascii=False)


def test_rejected_password_reset_keeps_old_password_and_sessions(db, world, clients, anon):
    uid = world.users["staff"]
    assert_error(clients["admin"].patch(f"{USERS}/{uid}", json={"password": "abc"}), 422, "validation_error",
                 fields=("password",))
    assert clients["staff"].get(ME).status_code == 200
    assert sign_in(anon, "staff", "secret123").status_code == 200


def test_delete_tokens_signs_the_user_out_everywhere(db, world, clients, anon):
    uid = world.users["sub_staff"]
    sign_in(anon, "sub_staff", "secret123")  # a second session
    resp = clients["admin"].delete(f"{USERS}/{uid}/tokens")
    assert resp.status_code == 200 and resp.get_json() == {"revoked": 2}
    assert_error(clients["sub_staff"].get(ME), 401, "unauthorized")
    [row] = audit_rows(db, "user.revoke_tokens", uid)
    assert row.actor_user_id == world.users["admin"] and row.new == {"revoked": 2}
    # Revoking is not deactivating: the user may sign in again.
    assert sign_in(anon, "sub_staff", "secret123").status_code == 200
    assert clients["admin"].delete(f"{USERS}/{uid}/tokens").get_json() == {"revoked": 1}


# ---- roles --------------------------------------------------------------------------------------


def test_roles_lists_the_six_roles_with_chinese_labels(world, clients):
    body = clients["admin"].get("/api/v1/roles").get_json()
    assert [(r["code"], r["label"], r["scope"]) for r in body] == [
        ("super_admin", "超级管理员", "school"),
        ("school_chair", "校工会主席", "school"),
        ("school_operator", "校工会操作员", "school"),
        ("subunion_chair", "分工会主席", "sub_union"),
        ("subunion_operator", "分工会操作员", "sub_union"),
        ("member", "会员", "self"),
    ]
    by_code = {r["code"]: set(r["permissions"]) for r in body}
    assert "accounts.manage" in by_code["super_admin"]
    assert "accounts.manage" not in by_code["school_chair"]
    assert by_code["member"] == {"self.read", "self.write"}
