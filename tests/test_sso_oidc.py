"""OIDC single sign-on against a real OpenID Provider (the npm package oidc-provider, pinned by
tests/peers/oidc/package-lock.json) on loopback: authorization code + PKCE, state, nonce,
audience."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select

from server.models import AuditLog, ExternalIdentity
from tests.peers.apps import free_port, make_app, serve

PEER_DIR = Path(__file__).resolve().parent / "peers" / "oidc"
SUBJECT = "20190002"
CLAIMS = {"name": "王晓燕", "department": "外国语学院", "email": "wangxy@example.edu.cn"}
SECRET = "oidc-test-secret-0123456789"
OTHER_SECRET = "other-app-secret-0123456789"

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the OIDC peer (oidc-provider) needs Node.js")


def _npm_ci() -> None:
    if (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the OIDC peer (oidc-provider)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, timeout=300)


class TokenProxy:
    """Forwards to the provider; rewrites discovery so the token request passes through here,
    and when ``substitute`` is set, swaps the ID token in the answer (a token-substitution attack)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.substitute: str | None = None
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
                body = resp.content
                if self.path == "/token" and proxy.substitute and resp.status_code == 200:
                    token = resp.json()
                    token["id_token"] = proxy.substitute
                    body = json.dumps(token).encode()
                self._reply(resp, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory):  # noqa: ANN001, ANN201
    _npm_ci()
    app_port, port = free_port(), free_port()
    callback = f"http://127.0.0.1:{app_port}/sso/oidc/callback"
    cfg = {
        "clients": [
            {"client_id": "union-portal", "client_secret": SECRET, "redirect_uris": [callback]},
            {"client_id": "other-app", "client_secret": OTHER_SECRET, "redirect_uris": [callback]},
        ],
        "accounts": {SUBJECT: CLAIMS},
    }
    log_path = tmp_path_factory.mktemp("oidc") / "oidc.log"
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen([NODE, "server.mjs", str(port), json.dumps(cfg)], cwd=PEER_DIR,
                            stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("oidc-provider did not start: " + log_path.read_text()[-2000:])
        time.sleep(0.2)
    proxy = TokenProxy(issuer)
    yield {"issuer": issuer, "app_port": app_port, "callback": callback, "proxy": proxy}
    proxy.close()
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def oidc_app(app, app_config, provider):  # noqa: ANN001, ANN201
    port = provider["app_port"]
    application = make_app(
        app_config, PUBLIC_URL=f"http://127.0.0.1:{port}",
        OIDC_METADATA_URL=provider["proxy"].url + "/.well-known/openid-configuration",
        OIDC_CLIENT_ID="union-portal", OIDC_CLIENT_SECRET=SECRET, OIDC_SCOPE="openid profile email",
        OIDC_ATTRIBUTE_MAP=json.dumps({"name": "name", "department": "department", "email": "email"}),
    )
    with serve(application, port) as base:
        yield {"app": application, "base": base}


def _through_provider(http: requests.Session, url: str, stop_at: str) -> str:
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
            fields.update(login=SUBJECT, password="any")
        r = http.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=10)
        location = urljoin(url, r.headers["Location"])
        if location.startswith(stop_at):
            return location
        url = location
    raise AssertionError("too many steps at the provider")


def _start(oidc_app, next_path="/portal/", before=None) -> tuple[requests.Session, str]:  # noqa: ANN001
    http = requests.Session()
    r = http.get(oidc_app["base"] + "/sso/oidc/login", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [oidc_app["base"] + "/sso/oidc/callback"]
    if before:
        before(query)
    callback = _through_provider(http, r.headers["Location"], oidc_app["base"] + "/sso/oidc/callback")
    return http, callback


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


def test_tampered_state_is_refused(oidc_app, db, world):  # noqa: ANN001
    http, callback = _start(oidc_app)
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
    r = http.get(f"{oidc_app['base']}/sso/oidc/callback?{urlencode(query)}", allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.json()["code"].startswith("oidc_"), r.text
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
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", params={"error": "access_denied", "state": "x"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "oidc_denied"
    r = requests.get(oidc_app["base"] + "/sso/oidc/callback", allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "oidc_bad_callback"


def test_unreachable_provider_is_503(app, app_config, db):  # noqa: ANN001
    application = make_app(app_config, OIDC_METADATA_URL=f"http://127.0.0.1:{free_port()}/.well-known/x",
                           OIDC_CLIENT_ID="c", SSO_TIMEOUT_SECONDS="2")
    r = application.test_client().get("/sso/oidc/login")
    assert r.status_code == 503 and r.json["code"] == "oidc_unavailable"
