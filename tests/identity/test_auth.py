"""Sign-in, sign-out, who-am-I, token lifetime and the login rate limits."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from server.core.models import AuditLog
from server.core.timeutil import utcnow
from server.domain.accounts.models import ApiToken, RoleBinding, User
from tests.support.api_asserts import assert_error, reread
from tests.support.world import FAST_HASH

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PASSWORD = "secret123"  # every account in `world`
BAD_CREDENTIALS = "用户名或密码错误"


def login(client, username: str, password: str = PASSWORD, address: str | None = None):  # noqa: ANN001, ANN201
    extra = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    return client.post(LOGIN, json={"username": username, "password": password}, **extra)


def me(app, token: str):  # noqa: ANN001, ANN201
    return app.test_client().get(ME, headers={"Authorization": f"Bearer {token}"})


def audit_rows(db, action: str) -> list[AuditLog]:  # noqa: ANN001
    reread(db)
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def token_count(db, user_id: int) -> int:  # noqa: ANN001
    reread(db)
    return db.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id))


# ---- signing in -------------------------------------------------------------------------


def test_login_returns_token_local_expiry_and_user(app, db, world, anon):
    """The client needs a token, when it expires (Beijing time, with offset) and who it is."""
    before = datetime.now(UTC)
    resp = login(anon, "chair")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == {"id": world.users["chair"], "username": "chair", "display_name": "chair",
                            "member_id": None}
    assert body["expires_at"].endswith("+08:00")
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(hours=app.config["TOKEN_TTL_HOURS"])
    assert before + ttl - timedelta(seconds=5) <= expires <= datetime.now(UTC) + ttl + timedelta(seconds=5)

    assert me(app, body["token"]).get_json()["user"]["username"] == "chair"
    rows = audit_rows(db, "auth.login")
    assert [(r.actor_user_id, r.object_id, r.address) for r in rows] == [
        (world.users["chair"], str(world.users["chair"]), "127.0.0.1")
    ]
    assert db.get(User, world.users["chair"]).last_login_at is not None


def test_me_shows_each_role_with_scope_and_sub_union_name(app, world, clients):
    """The portal shows which sub-union an account acts for, by name."""
    body = clients["sub_chair"].get(ME).get_json()
    assert body["roles"] == [{
        "role": "subunion_chair", "label": "分工会主席", "scope": "sub_union",
        "sub_union_id": world.own_sub, "sub_union_name": "计算机学院分工会",
    }]
    assert body["member_id"] is None
    assert "applications.confirm" in body["permissions"]
    assert "accounts.manage" not in body["permissions"]

    chair = clients["chair"].get(ME).get_json()
    assert chair["roles"] == [{"role": "school_chair", "label": "校工会主席", "scope": "school",
                               "sub_union_id": None, "sub_union_name": None}]


def test_me_for_member_account_carries_member_id(world, clients):
    """The mini-program finds the member's own record through member_id."""
    body = clients["member"].get(ME).get_json()
    assert body["member_id"] == world.member_id
    assert body["user"]["member_id"] == world.member_id
    assert body["roles"] == [{"role": "member", "label": "会员", "scope": "self",
                              "sub_union_id": None, "sub_union_name": None}]
    assert body["permissions"] == ["self.read", "self.write"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic Y2hhaXI6c2VjcmV0MTIz", "Bearer not-a-token"])
def test_me_without_a_valid_token_is_401(world, anon, header):
    """No header, a malformed one, another scheme or an unknown token: all just 'please sign in'."""
    headers = {"Authorization": header} if header is not None else {}
    assert_error(anon.get(ME, headers=headers), 401, "unauthorized", message="请先登录")


# ---- failures and the audit trail ---------------------------------------------------------


@pytest.mark.parametrize("username, password", [("chair", "wrong-pass1"), ("nobody", PASSWORD)])
def test_bad_credentials_are_refused_alike_and_audited(db, world, anon, username, password):
    """A wrong password and an unknown user answer the same (no account enumeration), and the
    attempt is kept in the audit log even though the request itself failed."""
    resp = login(anon, username, password)
    assert_error(resp, 401, "bad_credentials", message=BAD_CREDENTIALS)
    assert resp.get_json().get("fields") is None

    rows = audit_rows(db, "auth.login_failed")
    assert len(rows) == 1
    row = rows[0]
    assert row.actor_name == username and row.actor_user_id is None
    assert row.object_id == (str(world.users["chair"]) if username == "chair" else None)
    assert row.address == "127.0.0.1"
    assert row.new == {"username": username}
    assert password not in json.dumps([row.old, row.new], ensure_ascii=False)
    assert token_count(db, world.users["chair"]) == 1  # only the one `world` issued
    assert audit_rows(db, "auth.login") == []


def test_inactive_account_cannot_sign_in(db, world, anon):
    """A deactivated account is refused with the same answer as a wrong password."""
    db.get(User, world.users["staff"]).is_active = False
    db.commit()
    assert_error(login(anon, "staff"), 401, "bad_credentials", message=BAD_CREDENTIALS)
    assert token_count(db, world.users["staff"]) == 1
    assert len(audit_rows(db, "auth.login_failed")) == 1


def test_inactive_account_token_stops_working(app, db, world, clients):
    """A token issued before deactivation must not keep the account alive."""
    assert clients["staff"].get(ME).status_code == 200
    db.get(User, world.users["staff"]).is_active = False
    db.commit()
    assert_error(clients["staff"].get(ME), 401, "unauthorized")


def test_role_changes_apply_to_the_next_request_with_the_same_token(db, world, clients):
    """The identity is read afresh on every request: nothing is cached in a web process."""
    assert clients["sub_staff"].get("/api/v1/members").json["total"] == 1
    db.add(RoleBinding(user_id=world.users["sub_staff"], role="subunion_operator", sub_union_id=world.other_sub))
    db.commit()
    assert clients["sub_staff"].get("/api/v1/members").json["total"] == 2
    db.execute(delete(RoleBinding).where(RoleBinding.user_id == world.users["sub_staff"]))
    db.commit()
    assert_error(clients["sub_staff"].get("/api/v1/members"), 403, "forbidden")
    assert clients["sub_staff"].get(ME).get_json()["roles"] == []


# ---- rate limiting: see tests/identity/test_login_throttle.py ------------------------------------------


def test_rejected_input_does_not_count_as_a_failure(world, anon):
    """Malformed requests are not sign-in attempts and must not lock the account."""
    for _ in range(6):
        assert anon.post(LOGIN, json={"username": "chair"}).status_code == 422
    assert login(anon, "chair").status_code == 200


# ---- signing out and token lifetime ----------------------------------------------------------


def test_logout_revokes_only_the_current_token_and_is_audited(app, db, world, anon):
    """After logout the token is dead at once; the account's other sessions live on."""
    first = login(anon, "chair").get_json()["token"]
    second = login(anon, "chair").get_json()["token"]
    client = anon.client
    resp = client.post(LOGOUT, headers={"Authorization": f"Bearer {first}"})
    assert resp.status_code == 204

    assert_error(me(app, first), 401, "unauthorized")
    assert me(app, second).status_code == 200
    rows = audit_rows(db, "auth.logout")
    assert [(r.actor_user_id, r.object_id) for r in rows] == [(world.users["chair"], str(world.users["chair"]))]
    revoked = db.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(first.encode()).hexdigest()))
    assert revoked.revoked_at is not None


def test_logout_without_token_is_401(world, anon, db):
    assert_error(anon.post(LOGOUT), 401, "unauthorized")
    assert audit_rows(db, "auth.logout") == []


def test_expired_token_is_refused(db, world, clients):
    """A token past its expiry answers 401 although it was never revoked."""
    assert clients["chair"].get(ME).status_code == 200
    row = db.scalar(select(ApiToken).where(ApiToken.user_id == world.users["chair"]))
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    assert_error(clients["chair"].get(ME), 401, "unauthorized", message="请先登录")


def test_database_keeps_only_the_sha256_of_a_token(db, world, anon):
    """A copy of the tables must not let anyone sign in."""
    token = login(anon, "chair").get_json()["token"]
    reread(db)
    rows = db.scalars(select(ApiToken).where(ApiToken.user_id == world.users["chair"])).all()
    hashes = [r.token_hash for r in rows]
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    for r in rows:
        assert token not in " ".join(str(getattr(r, c.key)) for c in ApiToken.__table__.columns)
    for a in db.scalars(select(AuditLog)):
        assert token not in json.dumps([a.old, a.new])


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload, bad_fields", [
    ({}, ("username", "password")),
    ({"username": "chair"}, ("password",)),
    ({"password": PASSWORD}, ("username",)),
    ({"username": 123, "password": PASSWORD}, ("username",)),
    ({"username": "chair", "password": [PASSWORD]}, ("password",)),
    ({"username": None, "password": PASSWORD}, ("username",)),
    ({"username": "", "password": PASSWORD}, ("username",)),
    ({"username": "u" * 65, "password": PASSWORD}, ("username",)),
    ({"username": "chair", "password": "p" * 129}, ("password",)),
    ({"username": "chair", "password": PASSWORD, "remember": True}, ("remember",)),
    ([], ("_schema",)),
    ("chair", ("_schema",)),
])
def test_login_bad_input_is_422_naming_the_field(db, world, anon, payload, bad_fields):
    """Every malformed login names what is wrong, in Chinese, and writes nothing."""
    body = assert_error(anon.post(LOGIN, json=payload), 422, "validation_error", fields=bad_fields)
    assert set(body["fields"]) == set(bad_fields)
    assert audit_rows(db, "auth.login_failed") == [] and audit_rows(db, "auth.login") == []
    assert token_count(db, world.users["chair"]) == 1


@pytest.mark.parametrize("raw", [b'{"username": "chair", "password": ', b'{"username": "\xff\xfe"}', b"nonsense"])
def test_login_body_that_is_not_json_is_400_bad_json(world, anon, raw):
    """A body declared as JSON that does not parse gets its own code, not a 500."""
    assert_error(anon.post(LOGIN, data=raw, content_type="application/json"), 400, "bad_json",
                 message="请求体不是有效的 JSON")


def test_login_form_encoded_body_is_not_read(world, anon):
    """Only JSON is read: a form post is told the fields are missing (and is not a sign-in)."""
    resp = anon.post(LOGIN, data={"username": "chair", "password": PASSWORD})
    assert_error(resp, 422, "validation_error", fields=("username", "password"))


def test_username_is_case_insensitive_on_every_backend(clients, anon):  # noqa: ANN001
    """MariaDB compares usernames without case and SQLite with it; accounts must not differ."""
    r = anon.post("/api/v1/auth/login", json={"username": "  CHAIR ", "password": "secret123"})
    assert r.status_code == 200 and r.json["user"]["username"] == "chair"
    created = clients["admin"].post("/api/v1/users", json={"username": "NewBie", "display_name": "新人"})
    assert created.status_code == 201 and created.json["username"] == "newbie"
    dup = clients["admin"].post("/api/v1/users", json={"username": "NEWBIE", "display_name": "新人"})
    assert dup.status_code == 409


@pytest.mark.parametrize("username", ["nobody", "sso_only"])
def test_a_miss_checks_a_hash_of_the_configured_method(app, db, world, anon, monkeypatch, username):  # noqa: ANN001
    """An unknown username, or an account without a password, costs one check against a hash made
    the way real passwords are (the configured method), so timing tells no username apart."""
    from server.domain.accounts import users as accounts_mod

    accounts_mod.create_user(db, None, username="sso_only", display_name="仅统一认证", hash_method=FAST_HASH)
    db.commit()
    checked: list[str] = []
    real = accounts_mod.check_password_hash
    monkeypatch.setattr(accounts_mod, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", "scrypt")
    r = anon.post("/api/v1/auth/login", json={"username": username, "password": "wrong-pass1"})
    assert r.status_code == 401
    assert len(checked) == 1 and checked[0].startswith("scrypt:")
