"""OIDC single sign-on against a real OpenID Provider (the npm package oidc-provider, pinned by
tests/peers/oidc/package-lock.json) on loopback: authorization code + PKCE, state, nonce,
audience."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select

from server.core.models import AuditLog
from server.domain.accounts.models import User
from server.domain.identity.models import ExternalIdentity
from server.domain.members.models import Member
from tests.peers.apps import LoopbackHttp, free_port, make_app, serve, wait_until_up

PEER_DIR = Path(__file__).resolve().parents[1] / "peers" / "oidc"
SUBJECT = "20190002"
CLAIMS = {"name": "王晓燕", "department": "外国语学院", "email": "wangxy@example.edu.cn"}
SECRET = "oidc-test-secret-0123456789"
OTHER_SECRET = "other-app-secret-0123456789"
# An independent provider: the person types a login name, the `sub` is the provider's own user
# id, and the 工号 (with a letter in it) comes in a claim of its own.
OPAQUE_LOGIN = "wangxy"
OPAQUE_SUB = "8d0c5e0a-3f5e-4c61-9a57-2b1f7e93c4d1"
OPAQUE_STAFF_NO = "T2019002"
OPAQUE_CLAIMS = {"sub": OPAQUE_SUB, "staff_no": OPAQUE_STAFF_NO, "name": "王晓燕", "department": "外国语学院"}
ACCOUNTS = {SUBJECT: CLAIMS, OPAQUE_LOGIN: OPAQUE_CLAIMS}

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the OIDC peer (oidc-provider) needs Node.js")


def _npm_ci() -> None:
    if (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the OIDC peer (oidc-provider)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300)


class TokenProxy(LoopbackHttp):
    """Forwards to the provider; rewrites discovery so the token request passes through here,
    and when ``substitute`` is set, swaps the ID token in the answer (a token-substitution attack)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.substitute: str | None = None
        self.replay = False  # send each token request twice and answer the second reply
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                pass

            def _reply(self, resp: requests.Response, body: bytes) -> None:
                self.send_response(resp.status_code)
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                resp = requests.get(proxy.upstream + self.path, timeout=10)
                body = resp.content
                if self.path.startswith("/.well-known/openid-configuration"):
                    meta = resp.json()
                    meta["token_endpoint"] = proxy.url + "/token"
                    body = json.dumps(meta).encode()
                self._reply(resp, body)

            def do_POST(self):  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                resp = requests.post(proxy.upstream + self.path, data=data, headers=headers, timeout=10)
                if self.path == "/token" and proxy.replay:  # the code is spent: the provider's own refusal
                    resp = requests.post(proxy.upstream + self.path, data=data, headers=headers, timeout=10)
                body = resp.content
                if self.path == "/token" and proxy.substitute and resp.status_code == 200:
                    token = resp.json()
                    token["id_token"] = proxy.substitute
                    body = json.dumps(token).encode()
                self._reply(resp, body)

        self.start_serving(Handler, "")



@pytest.fixture(scope="module")
def provider(tmp_path_factory):  # noqa: ANN001, ANN201
    _npm_ci()
    app_port, opaque_port, port = free_port(), free_port(), free_port()
    callback = f"http://127.0.0.1:{app_port}/sso/oidc/callback"
    workdir = tmp_path_factory.mktemp("oidc")
    accounts_file = workdir / "accounts.json"
    accounts_file.write_text(json.dumps(ACCOUNTS), encoding="utf-8")
    cfg = {
        "clients": [
            {"client_id": "union-portal", "client_secret": SECRET, "redirect_uris": [callback],
             "post_logout_redirect_uris": [f"http://127.0.0.1:{app_port}/portal/"]},
            {"client_id": "other-app", "client_secret": OTHER_SECRET, "redirect_uris": [callback]},
            {"client_id": "union-portal-opaque", "client_secret": SECRET, "subject_type": "pairwise",
             "redirect_uris": [f"http://127.0.0.1:{opaque_port}/sso/oidc/callback"]},
        ],
        "accounts_file": str(accounts_file),
    }
    log_path = workdir / "oidc.log"
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen([NODE, "server.mjs", str(port), json.dumps(cfg)], cwd=PEER_DIR,
                            stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    wait_until_up(issuer + "/.well-known/openid-configuration", proc, log_path, "oidc-provider", seconds=30)
    proxy = TokenProxy(issuer)
    yield {"issuer": issuer, "app_port": app_port, "opaque_port": opaque_port, "callback": callback,
           "proxy": proxy, "accounts_file": accounts_file}
    proxy.close()
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _client_of(app_config, provider, port: int, client_id: str, attribute_map: dict):  # noqa: ANN001, ANN202
    """Our app served on ``port`` as the provider's client ``client_id``."""
    application = make_app(
        app_config, PUBLIC_URL=f"http://127.0.0.1:{port}",
        OIDC_METADATA_URL=provider["proxy"].url + "/.well-known/openid-configuration",
        OIDC_CLIENT_ID=client_id, OIDC_CLIENT_SECRET=SECRET, OIDC_SCOPE="openid profile email",
        OIDC_ATTRIBUTE_MAP=json.dumps(attribute_map),
    )
    with serve(application, port) as base:
        yield {"app": application, "base": base}


@pytest.fixture(scope="module")
def oidc_app(app, app_config, provider):  # noqa: ANN001, ANN201
    yield from _client_of(app_config, provider, provider["app_port"], "union-portal",
                          {"name": "name", "department": "department", "email": "email"})


@pytest.fixture(scope="module")
def opaque_app(app, app_config, provider):  # noqa: ANN001, ANN201
    """Our app against the same provider as a client that sees the provider's own user id as
    ``sub``, with the 工号 in the ``staff_no`` claim (UNION_OIDC_ATTRIBUTE_MAP)."""
    yield from _client_of(app_config, provider, provider["opaque_port"], "union-portal-opaque",
                          {"staff_no": "staff_no", "name": "name", "department": "department"})


@pytest.fixture
def people(provider):  # noqa: ANN001, ANN201
    """Change what the provider says about its people (read at every lookup); restored after."""
    def write(**accounts: dict) -> None:
        provider["accounts_file"].write_text(json.dumps({**ACCOUNTS, **accounts}), encoding="utf-8")

    yield write
    write()


def _through_provider(http: requests.Session, url: str, stop_at: str, login: str = SUBJECT) -> str:
    """Follow redirects and fill devInteractions' login and consent forms until a redirect to
    ``stop_at``; returns that URL (the callback with code and state)."""
    for _ in range(20):
        r = http.get(url, allow_redirects=False, timeout=10)
        while r.status_code in (302, 303):
            location = urljoin(url, r.headers["Location"])
            if location.startswith(stop_at):
                return location
            url = location
            r = http.get(url, allow_redirects=False, timeout=10)
        assert r.status_code == 200, r.text[:500]
        action = re.search(r'<form[^>]*action="([^"]+)"', r.text).group(1)
        fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', r.text))
        if 'name="login"' in r.text:
            fields.update(login=login, password="any")
        r = http.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=10)
        location = urljoin(url, r.headers["Location"])
        if location.startswith(stop_at):
            return location
        url = location
    raise AssertionError("too many steps at the provider")


def _start(oidc_app, next_path="/portal/", before=None, login=SUBJECT) -> tuple[requests.Session, str]:  # noqa: ANN001
    http = requests.Session()
    r = http.get(oidc_app["base"] + "/sso/oidc/login", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [oidc_app["base"] + "/sso/oidc/callback"]
    if before:
        before(query)
    callback = _through_provider(http, r.headers["Location"], oidc_app["base"] + "/sso/oidc/callback", login)
    return http, callback


def _sign_in(oidc_app, login: str) -> tuple[requests.Session, requests.Response]:  # noqa: ANN001
    """A whole login as ``login`` at the provider; the answer of our callback."""
    http, callback = _start(oidc_app, login=login)
    return http, http.get(callback, allow_redirects=False, timeout=10)


def _me(oidc_app, http: requests.Session) -> dict:  # noqa: ANN001
    me = http.get(oidc_app["base"] + "/api/v1/auth/me", timeout=10)
    assert me.status_code == 200, me.text
    return me.json()


def test_full_code_pkce_login(oidc_app, db, world):  # noqa: ANN001
    http, callback = _start(oidc_app, "/portal/home")
    landed = http.get(callback, allow_redirects=False, timeout=10)
    assert landed.status_code == 302, landed.text
    assert landed.headers["Location"] == "/portal/home"
    me = http.get(oidc_app["base"] + "/api/v1/auth/me", timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == SUBJECT and me.json()["user"]["display_name"] == "王晓燕"
    assert me.json()["roles"] == []
    db.expire_all()
    ext = db.scalar(select(ExternalIdentity).where(ExternalIdentity.provider == "oidc"))
    assert ext.subject == SUBJECT
    assert ext.attributes == {"staff_no": SUBJECT, "name": "王晓燕", "department": "外国语学院",
                              "email": "wangxy@example.edu.cn"}
    assert db.scalar(select(AuditLog).where(AuditLog.action == "auth.sso_login")).new["provider"] == "oidc"
    # The code is good once.
    again = http.get(callback, allow_redirects=False, timeout=10)
    assert again.status_code == 401


def test_sign_out_ends_the_session_here_and_sends_the_browser_to_the_providers_logout(oidc_app, provider, db, world):  # noqa: ANN001, E501
    http, callback = _start(oidc_app)
    assert http.get(callback, allow_redirects=False, timeout=10).status_code == 302
    out = http.post(oidc_app["base"] + "/sso/logout", headers={"X-CSRF-Token": http.cookies["union_csrf"]}, timeout=10)
    assert out.status_code == 200, out.text
    assert http.get(oidc_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 401
    url = out.json()["logout_url"]
    metadata = requests.get(provider["issuer"] + "/.well-known/openid-configuration", timeout=10).json()
    assert url.startswith(metadata["end_session_endpoint"] + "?")
    query = parse_qs(urlsplit(url).query)
    assert query == {"client_id": ["union-portal"], "post_logout_redirect_uri": [oidc_app["base"] + "/portal/"]}
    assert out.json()["cas_logout_url"] is None
    # The provider accepts it: its own sign-out page, not an error about the client or the address.
    page = http.get(url, timeout=10)
    assert page.status_code == 200 and "error" not in page.url


def test_tampered_state_is_refused(oidc_app, db, world):  # noqa: ANN001
    http, callback = _start(oidc_app)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
    r = http.get(f"{oidc_app['base']}/sso/oidc/callback?{urlencode(query)}", allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "oidc_mismatching_state", r.text
    assert r.json()["message"] == ("OIDC 认证失败（mismatching_state）：登录请求已过期，或不是在本浏览器中从本站发起的，"
                                   "请回到本站重新登录。")
    assert http.get(oidc_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 401


def test_callback_from_another_browser_is_refused(oidc_app, db, world):  # noqa: ANN001
    _, callback = _start(oidc_app)
    r = requests.get(callback, allow_redirects=False, timeout=10)  # no session: no state, no verifier
    assert r.status_code == 401 and r.json()["code"].startswith("oidc_")


def _id_token_for_other_client(provider, nonce: str) -> str:  # noqa: ANN001
    """A genuine ID token from the same provider, issued to another client (with the nonce our
    app expects, so only the audience is wrong)."""
    meta = requests.get(provider["issuer"] + "/.well-known/openid-configuration", timeout=10).json()
    client = OAuth2Session("other-app", OTHER_SECRET, scope="openid", redirect_uri=provider["callback"],
                           code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                             nonce=nonce)
    callback = _through_provider(requests.Session(), url, provider["callback"])
    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    return token["id_token"]


def test_id_token_for_another_audience_is_refused(oidc_app, provider, db, world, caplog):  # noqa: ANN001
    def arm(query: dict) -> None:
        provider["proxy"].substitute = _id_token_for_other_client(provider, query["nonce"][0])

    try:
        http, callback = _start(oidc_app, before=arm)
        r = http.get(callback, allow_redirects=False, timeout=10)
    finally:
        provider["proxy"].substitute = None
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "oidc_invalid_claim" and "aud" in r.json()["message"], r.json()["message"]
    assert http.get(
        oidc_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 401


def test_provider_error_is_a_clean_answer(oidc_app, db):  # noqa: ANN001
    # The provider's error_description is not shown: anyone can write one into a link to us.
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", allow_redirects=False, timeout=10, params={
        "error": "access_denied", "error_description": "access_denied: 请致电 400-000-0000 解锁", "state": "x"})
    assert r.status_code == 401 and r.json()["code"] == "oidc_denied"
    assert r.json()["message"] == "OIDC 认证失败（access_denied）：统一身份认证没有授权本次登录（可能已取消或拒绝授权），请重新登录。"
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", params={"error": "login_required"},
                     allow_redirects=False, timeout=10)
    assert r.json()["message"] == "OIDC 认证失败（login_required）：统一身份认证的登录已失效，请重新登录。"
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", params={"error": "temporarily_unavailable_x"},
                     allow_redirects=False, timeout=10)
    assert r.json()["message"] == "OIDC 认证失败（temporarily_unavailable_x）：请重新登录；如仍失败，请联系管理员。"
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", params={"error": "odd<b>请汇款</b>"},
                     allow_redirects=False, timeout=10)
    assert r.json()["message"] == "OIDC 认证失败（unknown_error）：请重新登录；如仍失败，请联系管理员。"
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "oidc_bad_callback"


def test_unreachable_provider_is_503(app, app_config, db):  # noqa: ANN001
    application = make_app(app_config, OIDC_METADATA_URL=f"http://127.0.0.1:{free_port()}/.well-known/x",
                           OIDC_CLIENT_ID="c", SSO_TIMEOUT_SECONDS="2")
    r = application.test_client().get("/sso/oidc/login")
    assert r.status_code == 503 and r.json["code"] == "oidc_unavailable"


# ---- a provider whose sub is opaque: the account is named and found by the 工号 claim ------------


def _member(db, staff_no: str, name: str, sub_union_id: int) -> Member:  # noqa: ANN001
    member = Member(name=name, staff_no=staff_no, sub_union_id=sub_union_id, gender="女",
                    birth_date=date(1990, 5, 4), membership_status="正常", employment_status="在职",
                    name_initials="wxy")
    db.add(member)
    db.commit()
    return member


def _roles(me: dict) -> set[tuple[str, int | None]]:
    return {(r["role"], r["sub_union_id"]) for r in me["roles"]}


def test_opaque_subject_gets_an_account_named_after_the_staff_no(opaque_app, db, world):  # noqa: ANN001
    http, landed = _sign_in(opaque_app, OPAQUE_LOGIN)
    assert landed.status_code == 302, landed.text
    me = _me(opaque_app, http)
    assert me["user"]["username"] == OPAQUE_STAFF_NO.lower()  # not oidc_<hash>, not the provider's id
    assert me["user"]["display_name"] == "王晓燕" and me["roles"] == []
    db.expire_all()
    ext = db.scalar(select(ExternalIdentity).where(ExternalIdentity.provider == "oidc"))
    assert ext.subject == OPAQUE_SUB and ext.attributes["staff_no"] == OPAQUE_STAFF_NO
    row = db.scalar(select(AuditLog).where(AuditLog.action == "auth.sso_login"))
    assert row.new["found_by"] == "created" and row.new["staff_no"] == OPAQUE_STAFF_NO


def test_account_prepared_under_the_staff_no_is_claimed_with_its_staff_role(opaque_app, db, world, clients):  # noqa: ANN001
    member = _member(db, OPAQUE_STAFF_NO, "王晓燕", world.own_sub)
    prepared = clients["admin"].post("/api/v1/users", json={
        "username": OPAQUE_STAFF_NO, "display_name": "王晓燕",
        "roles": [{"role": "subunion_operator", "sub_union_id": world.own_sub}]})
    assert prepared.status_code == 201, prepared.get_data(as_text=True)
    http, landed = _sign_in(opaque_app, OPAQUE_LOGIN)
    assert landed.status_code == 302, landed.text
    me = _me(opaque_app, http)
    assert me["user"]["id"] == prepared.json["id"] and me["user"]["username"] == OPAQUE_STAFF_NO.lower()
    assert _roles(me) == {("subunion_operator", world.own_sub), ("member", None)}
    assert me["member_id"] == member.id
    # The role works in the portal session: the sub-union's members, and only those.
    members = http.get(opaque_app["base"] + "/api/v1/members", timeout=10)
    assert members.status_code == 200, members.text
    assert {m["staff_no"] for m in members.json()["items"]} == {"20150123", OPAQUE_STAFF_NO}
    assert db.scalar(select(User).where(User.username.like("oidc_%"))) is None


def test_the_subject_stays_the_link_when_the_staff_no_claim_changes(opaque_app, db, world, people):  # noqa: ANN001
    mine = _member(db, OPAQUE_STAFF_NO, "王晓燕", world.own_sub)
    someone_else = _member(db, "T2020099", "周文", world.other_sub)
    first, _ = _sign_in(opaque_app, OPAQUE_LOGIN)
    account = _me(opaque_app, first)["user"]["id"]
    again, _ = _sign_in(opaque_app, OPAQUE_LOGIN)
    assert _me(opaque_app, again)["user"]["id"] == account
    # The provider now says another 工号 (someone else's member record) for the same sub.
    people(**{OPAQUE_LOGIN: {**OPAQUE_CLAIMS, "staff_no": "T2020099"}})
    changed, landed = _sign_in(opaque_app, OPAQUE_LOGIN)
    assert landed.status_code == 302, landed.text
    me = _me(opaque_app, changed)
    assert me["user"]["id"] == account and me["member_id"] == mine.id  # not moved to someone else's record
    own = changed.get(opaque_app["base"] + "/api/v1/me/member", timeout=10)
    assert own.status_code == 200 and own.json()["staff_no"] == OPAQUE_STAFF_NO
    db.expire_all()
    assert db.scalar(select(User).where(User.member_id == someone_else.id)) is None
    assert db.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == OPAQUE_SUB)).user_id == account
    rows = db.scalars(select(AuditLog).where(AuditLog.action == "auth.sso_staff_no_changed")).all()
    assert [(r.old["staff_no"], r.new["staff_no"], r.object_id) for r in rows] == [
        (OPAQUE_STAFF_NO, "T2020099", str(account))]


def test_prepared_account_claimed_by_another_subject_is_not_taken_over(opaque_app, db, world, clients, people):  # noqa: ANN001
    prepared = clients["admin"].post("/api/v1/users", json={
        "username": OPAQUE_STAFF_NO, "display_name": "王晓燕",
        "roles": [{"role": "subunion_operator", "sub_union_id": world.own_sub}]})
    assert prepared.status_code == 201
    # Another person at the same provider, whose claim carries the same 工号, signed in first.
    people(earlier={"sub": "3b1f0d6e-0000-4000-8000-000000000001", "staff_no": OPAQUE_STAFF_NO, "name": "王某"})
    earlier, _ = _sign_in(opaque_app, "earlier")
    assert _me(opaque_app, earlier)["user"]["id"] == prepared.json["id"]
    http, refused = _sign_in(opaque_app, OPAQUE_LOGIN)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "sso_account_claimed"
    assert refused.json()["message"] == (
        f"工号 {OPAQUE_STAFF_NO} 的账号已由另一个统一身份认证账号使用，不能再次认领，请联系校工会")
    assert http.get(opaque_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 401
    db.expire_all()
    assert db.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == OPAQUE_SUB)) is None
    assert db.scalar(select(User).where(User.username.like("oidc_%"))) is None
    row = db.scalar(select(AuditLog).where(AuditLog.action == "auth.sso_login_refused"))
    assert row.object_id == str(prepared.json["id"]) and row.new["subject"] == OPAQUE_SUB


def test_a_spent_authorization_code_says_what_to_do(oidc_app, provider, db, world):  # noqa: ANN001
    http, callback = _start(oidc_app)
    provider["proxy"].replay = True  # the provider sees the code twice and refuses the second use
    try:
        r = http.get(callback, allow_redirects=False, timeout=10)
    finally:
        provider["proxy"].replay = False
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "oidc_invalid_grant"
    assert r.json()["message"] == "OIDC 认证失败（invalid_grant）：登录凭证已失效或已被使用，请重新登录。"
    assert http.get(oidc_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 401
