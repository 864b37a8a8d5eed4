"""WeChat mini-program login, binding and the access token, against a local stand-in for
api.weixin.qq.com (wechatpy's base URL pointed at it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.config import ConfigError
from server.core.models import AuditLog
from server.domain.accounts.models import ApiToken
from server.domain.identity.models import WechatAccount
from server.wechat import MiniProgram, WechatError
from tests.peers.apps import make_app
from tests.peers.wechat import WechatPeer
from tests.support.world import BACKEND, OTHER_ID, OWN_ID, REDIS_URL, requires_mariadb

ROOT = Path(__file__).resolve().parents[2]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dev_login(anon, openid: str = "alice"):  # noqa: ANN001, ANN201
    r = anon.post("/api/v1/auth/wechat/login", json={"code": f"dev:{openid}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.json


def bind(anon, token: str, staff_no="20150123", name="陈思远", last6=OWN_ID[-6:]):  # noqa: ANN001, ANN201
    return anon.post("/api/v1/auth/wechat/bind", headers=_bearer(token),
                     json={"staff_no": staff_no, "name": name, "id_last6": last6})


# ---- development login, binding, unbinding (embedded default: no WeChat app) ---------------------


def test_dev_login_bind_and_me_shows_the_member(anon, db, world):  # noqa: ANN001
    first = dev_login(anon)
    assert first["bound"] is False and first.get("member") is None and first["token"]
    me = anon.get("/api/v1/auth/me", headers=_bearer(first["token"])).json
    assert me["member_id"] is None and me["roles"] == []
    bound = bind(anon, first["token"], staff_no="20160456", name="赵敏", last6=OTHER_ID[-6:])
    assert bound.status_code == 200, bound.get_data(as_text=True)
    assert bound.json["bound"] is True and bound.json["member"]["id"] == world.other_member_id
    me = anon.get("/api/v1/auth/me", headers=_bearer(bound.json["token"])).json
    assert me["member_id"] == world.other_member_id and [r["role"] for r in me["roles"]] == ["member"]
    own = anon.get("/api/v1/me/member", headers=_bearer(bound.json["token"]))
    assert own.status_code == 200 and own.json["name"] == "赵敏"
    again = dev_login(anon)
    assert again["bound"] is True and again["member"]["name"] == "赵敏"


def test_binding_a_member_who_has_an_account_signs_in_as_that_account(anon, db, world):  # noqa: ANN001
    login = dev_login(anon)
    bound = bind(anon, login["token"])  # 陈思远 already has the "member" account
    assert bound.status_code == 200, bound.get_data(as_text=True)
    me = anon.get("/api/v1/auth/me", headers=_bearer(bound.json["token"])).json
    assert me["user"]["id"] == world.users["member"] and me["member_id"] == world.member_id
    # The WeChat user's own account is retired with its tokens.
    assert anon.get("/api/v1/auth/me", headers=_bearer(login["token"])).status_code == 401
    assert dev_login(anon)["bound"] is True


def test_one_wechat_user_one_member(anon, db, world):  # noqa: ANN001
    alice = dev_login(anon, "alice")
    bob = dev_login(anon, "bob")
    assert bind(anon, alice["token"]).status_code == 200
    taken = bind(anon, bob["token"])
    assert taken.status_code == 409 and taken.json["code"] == "member_already_bound"
    alice_again = dev_login(anon, "alice")
    second = bind(anon, alice_again["token"], staff_no="20160456", name="赵敏", last6=OTHER_ID[-6:])
    assert second.status_code == 409 and second.json["code"] == "wechat_already_bound"


def test_wrong_details_are_refused_audited_and_rate_limited(anon, db, world):  # noqa: ANN001
    login = dev_login(anon)
    statuses = [bind(anon, login["token"], last6="000000").status_code for _ in range(5)]
    assert statuses == [422] * 5
    limited = bind(anon, login["token"])  # even the right answer waits now
    assert limited.status_code == 429 and limited.json["code"] == "bind_rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    db.expire_all()
    tries = db.scalars(select(AuditLog).where(AuditLog.action == "wechat.bind_attempt")).all()
    assert [t.new["result"] for t in tries] == ["mismatch"] * 5 + ["rate_limited"]
    # Per staff_no as well: another WeChat user is limited for the same 工号.
    other = dev_login(anon, "mallory")
    assert bind(anon, other["token"]).status_code == 429
    # A different 工号 from a fresh WeChat user is not affected.
    fresh = dev_login(anon, "carol")
    assert bind(anon, fresh["token"], staff_no="20160456", name="赵敏", last6=OTHER_ID[-6:]).status_code == 200


def test_mismatch_does_not_say_which_part_is_wrong(anon, db, world):  # noqa: ANN001
    login = dev_login(anon)
    by_name = bind(anon, login["token"], name="陈思")
    by_staff = bind(anon, login["token"], staff_no="99999999")
    assert by_name.json["message"] == by_staff.json["message"] and by_name.json["code"] == "bind_mismatch"


def test_member_unbinds_themself(anon, db, world):  # noqa: ANN001
    login = dev_login(anon)
    token = bind(anon, login["token"], staff_no="20160456", name="赵敏", last6=OTHER_ID[-6:]).json["token"]
    r = anon.delete("/api/v1/auth/wechat/bind", headers=_bearer(token))
    assert r.status_code == 204, r.get_data(as_text=True)
    again = dev_login(anon)
    assert again["bound"] is False
    me = anon.get("/api/v1/auth/me", headers=_bearer(again["token"])).json
    assert me["member_id"] is None and me["roles"] == []
    assert anon.delete("/api/v1/auth/wechat/bind", headers=_bearer(again["token"])).status_code == 404


def test_school_union_unbinds_a_member_and_sub_union_cannot(anon, clients, db, world):  # noqa: ANN001
    login = dev_login(anon)
    token = bind(anon, login["token"]).json["token"]
    path = f"/api/v1/members/{world.member_id}/wechat-binding"
    assert clients["sub_chair"].delete(path).status_code == 403
    assert clients["other_chair"].delete(path).status_code == 404
    assert clients["staff"].delete(path).status_code == 204
    assert anon.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 401  # WeChat tokens ended
    assert clients["member"].get("/api/v1/auth/me").status_code == 200  # the member's other tokens stay
    assert dev_login(anon)["bound"] is False
    db.expire_all()
    assert db.scalar(select(AuditLog).where(AuditLog.action == "wechat.unbind")).actor_name == "staff"


def test_bind_needs_a_wechat_login(clients, db, world):  # noqa: ANN001
    r = clients["chair"].post("/api/v1/auth/wechat/bind", json={"staff_no": "1", "name": "x", "id_last6": "123456"})
    assert r.status_code == 403 and r.json["code"] == "wechat_login_required"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "code"), ({"code": ""}, "code"), ({"code": "x" * 129}, "code"), ({"code": 123}, "code"),
    ({"code": None}, "code"), ({"code": ["dev:a"]}, "code"),
])
def test_bad_login_input_names_the_field(anon, db, body, field):  # noqa: ANN001
    r = anon.post("/api/v1/auth/wechat/login", json=body)
    assert r.status_code == 422 and field in r.json["fields"], r.get_data(as_text=True)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "陈思远", "id_last6": "071236"}, "staff_no"),
    ({"staff_no": 20150123, "name": "陈思远", "id_last6": "071236"}, "staff_no"),
    ({"staff_no": "20150123", "name": "陈思远", "id_last6": "0712"}, "id_last6"),
    ({"staff_no": "20150123", "name": "", "id_last6": "071236"}, "name"),
])
def test_bad_bind_input_names_the_field(anon, db, world, body, field):  # noqa: ANN001
    token = dev_login(anon)["token"]
    r = anon.post("/api/v1/auth/wechat/bind", headers=_bearer(token), json=body)
    assert r.status_code == 422 and field in r.json["fields"], r.get_data(as_text=True)


def test_non_dev_code_without_app_is_refused(anon, db):  # noqa: ANN001
    r = anon.post("/api/v1/auth/wechat/login", json={"code": "081abcDEF"})
    assert r.status_code == 401 and r.json["code"] == "wechat_code_invalid"


def test_dev_login_refused_in_production(app, app_config, db):  # noqa: ANN001
    application = make_app(app_config, ENV="production", ALLOW_NO_SSO="1", SECRET_KEY="p" * 40,
                           REDIS_URL=app_config.get("REDIS_URL") or "redis://127.0.0.1:6379/9")
    r = application.test_client().post("/api/v1/auth/wechat/login", json={"code": "dev:alice"})
    assert r.status_code == 503 and r.json["code"] == "wechat_not_configured"


@pytest.mark.parametrize(("settings", "variable"), [
    ({}, "UNION_WECHAT_APPID"),
    ({"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s"}, "UNION_CAS_SERVER_URL"),
    ({"WECHAT_APPID": "wx1"}, "UNION_WECHAT_SECRET"),
    ({"ALLOW_NO_SSO": "1", "CAS_ATTRIBUTE_MAP": "{not json"}, "UNION_CAS_ATTRIBUTE_MAP"),
    ({"ALLOW_NO_SSO": "1", "CAS_ATTRIBUTE_MAP": '{"shoe_size": "x"}'}, "UNION_CAS_ATTRIBUTE_MAP"),
    ({"ALLOW_NO_SSO": "1", "CAS_VERSION": "4"}, "UNION_CAS_VERSION"),
    ({"ALLOW_NO_SSO": "1", "CAS_SERVER_URL": "cas.example.edu.cn"}, "UNION_CAS_SERVER_URL"),
    ({"WECHAT_APPID": "wx1", "WECHAT_SECRET": "s", "CAS_SERVER_URL": "https://cas.example.edu.cn/"},
     "UNION_PUBLIC_URL"),
])
def test_production_identity_settings_fail_at_start(tmp_path, settings, variable):  # noqa: ANN001
    from server.app import create_app

    base = {"INSTANCE_PATH": str(tmp_path), "ENV": "production", "SECRET_KEY": "s" * 40,
            "REDIS_URL": "redis://127.0.0.1:6379/9", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    with pytest.raises(ConfigError) as info:
        create_app({**base, **settings})
    assert variable in str(info.value) and "\n" not in str(info.value)


# ---- the real client against the stand-in -------------------------------------------------


@pytest.fixture
def peer():  # noqa: ANN201
    with WechatPeer() as p:
        yield p


@pytest.fixture
def wx_app(app, app_config, peer):  # noqa: ANN001, ANN201
    return make_app(app_config, WECHAT_APPID=peer.appid, WECHAT_SECRET=peer.secret, WECHAT_API_BASE_URL=peer.url,
                    WECHAT_TIMEOUT_SECONDS="2")


def test_login_through_code2session(wx_app, peer, db, world):  # noqa: ANN001
    client = wx_app.test_client()
    r = client.post("/api/v1/auth/wechat/login", json={"code": "ok:o-real-1"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["bound"] is False and "session_key" not in r.get_data(as_text=True)
    params = peer.code2session_params[-1]
    assert params["js_code"] == "ok:o-real-1" and "access_token" not in params  # code2session needs none
    assert peer.token_fetches == 0
    db.expire_all()
    account = db.scalar(select(WechatAccount))
    assert account.openid == "o-real-1" and account.unionid == "u-o-real-1"
    assert not any("SECRET-SESSION-KEY" in json.dumps(row.new or {}) for row in db.scalars(select(AuditLog)))
    dev = client.post("/api/v1/auth/wechat/login", json={"code": "dev:alice"})  # no dev login with a real app
    assert dev.status_code == 401


@pytest.mark.parametrize(("errcode", "status", "code"), [
    (40029, 401, "wechat_code_invalid"), (40163, 401, "wechat_code_used"), (45011, 429, "too_many_requests"),
    (40226, 403, "wechat_high_risk"), (-1, 503, "wechat_busy"), (40013, 502, "wechat_error"),
])
def test_wechat_errors_map_to_clear_answers(wx_app, peer, db, errcode, status, code):  # noqa: ANN001
    r = wx_app.test_client().post("/api/v1/auth/wechat/login", json={"code": f"err:{errcode}"})
    assert r.status_code == status and r.json["code"] == code, r.get_data(as_text=True)
    assert r.json["message"]
    if status == 503:
        assert "重试" in r.json["message"]


def test_wechat_unreachable_is_503(app, app_config, db):  # noqa: ANN001
    from tests.peers.apps import free_port

    application = make_app(app_config, WECHAT_APPID="wx", WECHAT_SECRET="s",
                           WECHAT_API_BASE_URL=f"http://127.0.0.1:{free_port()}/", WECHAT_TIMEOUT_SECONDS="1")
    r = application.test_client().post("/api/v1/auth/wechat/login", json={"code": "ok:x"})
    assert r.status_code == 503 and r.json["code"] == "wechat_busy"


def _mini(peer, redis, prefix="wx-test:") -> MiniProgram:  # noqa: ANN001
    return MiniProgram(peer.appid, peer.secret, redis, prefix, base_url=peer.url, timeout=2)


def test_token_cached_and_expiry_mid_call_refreshes_once(peer, rt, db):  # noqa: ANN001
    mini = _mini(peer, rt.redis, rt.throttle.prefix)
    mini.send_subscribe_message("o1", "tpl", {"thing1": {"value": "活动提醒"}})
    mini.send_subscribe_message("o1", "tpl", {"thing1": {"value": "活动提醒"}})
    assert peer.token_fetches == 1 and peer.send_tokens == ["TOKEN-1", "TOKEN-1"]
    peer.expired.add("TOKEN-1")  # WeChat revoked it before our cache said so
    mini.send_subscribe_message("o1", "tpl", {"thing1": {"value": "第三条"}})
    assert peer.send_tokens[-2:] == ["TOKEN-1", "TOKEN-2"] and peer.token_fetches == 2
    assert len(peer.sent) == 3


def test_token_retry_is_bounded(peer, rt, db):  # noqa: ANN001
    peer.reject_all_tokens = True
    mini = _mini(peer, rt.redis, rt.throttle.prefix)
    with pytest.raises(WechatError) as info:
        mini.send_subscribe_message("o1", "tpl", {})
    assert info.value.errcode == 40001
    assert len(peer.send_tokens) == 3 and peer.token_fetches == 3  # 1 + MAX_TOKEN_RETRIES


@pytest.mark.committing  # parallel connections must see committed rows
def test_threads_refreshing_at_once_fetch_once(peer, rt, db):  # noqa: ANN001
    peer.token_delay = 0.5
    tokens: list[str] = []
    minis = [_mini(peer, rt.redis, rt.throttle.prefix) for _ in range(4)]
    threads = [threading.Thread(target=lambda m=m: tokens.append(m.access_token())) for m in minis]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert tokens == ["TOKEN-1"] * 4 and peer.token_fetches == 1


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_two_processes_refreshing_at_once_fetch_once(peer, rt, db):  # noqa: ANN001
    """Real processes on a real Redis: the lock, not a shared Python object, keeps it to one fetch."""
    peer.token_delay = 0.8
    prefix = rt.throttle.prefix + "proc:"
    script = (
        "import sys, redis\n"
        "from server.wechat import MiniProgram\n"
        "r = redis.Redis.from_url(sys.argv[1])\n"
        "m = MiniProgram(sys.argv[2], sys.argv[3], r, sys.argv[4], base_url=sys.argv[5], timeout=5)\n"
        "print(m.access_token())\n"
    )
    args = [sys.executable, "-c", script, REDIS_URL, peer.appid, peer.secret, prefix, peer.url]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ}) for _ in range(2)]
    outs = [p.communicate(timeout=30)[0].decode().strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == ["TOKEN-1", "TOKEN-1"] and peer.token_fetches == 1


def test_backend_marker():
    assert BACKEND in ("sqlite", "mariadb")


def test_wechat_tokens_are_kind_wechat(anon, db, world):  # noqa: ANN001
    dev_login(anon)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.kind == "wechat")) == 1
