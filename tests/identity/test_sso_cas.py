"""CAS single sign-on against a real CAS server (django-cas-server) on loopback, plus a fake
server that answers hostile XML. Our app is served on a real port too, because the CAS server
itself POSTs the Single Logout request to it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from server.core.models import AuditLog
from server.domain.accounts.models import User
from server.domain.identity.models import ExternalIdentity, PortalSession
from server.domain.members.models import Member
from server.sso.cas import CasClient, CasError, parse_logout_request
from server.sso.redirects import safe_next
from tests.peers.apps import LoopbackHttp, free_port, make_app, serve, wait_until_up

PEER = Path(__file__).resolve().parents[1] / "peers" / "cas" / "run.py"
CAS_USER, CAS_PASSWORD = "20190001", "cas-pass-1"
CAS_ATTRIBUTES = {"xm": "李文博", "dw": "计算机学院", "rylb": "专任教师", "mail": "liwb@example.edu.cn"}
ATTRIBUTE_MAP = {"name": "xm", "department": "dw", "category": "rylb", "email": "mail"}
# A CAS server whose user is a login name, with the 工号 (a letter in it) in an attribute.
NETID, NETID_STAFF_NO = "liwenbo", "T2019001"


@contextmanager
def _cas_peer(tmp_path_factory, user: str, attributes: dict):  # noqa: ANN001, ANN202
    """A django-cas-server knowing one user, and the port our app must be served on (the
    service pattern names it)."""
    app_port, cas_port = free_port(), free_port()
    workdir = tmp_path_factory.mktemp("cas")
    cfg = {"user": user, "password": CAS_PASSWORD, "attributes": attributes,
           "service_pattern": rf"^http://127\.0\.0\.1:{app_port}/.*$"}
    log = open(workdir / "cas.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(PEER), str(cas_port), str(workdir), json.dumps(cfg)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{cas_port}/cas/"
    wait_until_up(url + "login", proc, workdir / "cas.log", "CAS server")
    try:
        yield {"url": url, "app_port": app_port, "user": user}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def cas_server(tmp_path_factory):  # noqa: ANN001, ANN201
    with _cas_peer(tmp_path_factory, CAS_USER, CAS_ATTRIBUTES) as server:
        yield server


@pytest.fixture(scope="module")
def cas_app(app, app_config, cas_server):  # noqa: ANN001, ANN201
    port = cas_server["app_port"]
    application = make_app(app_config, CAS_SERVER_URL=cas_server["url"], PUBLIC_URL=f"http://127.0.0.1:{port}",
                           CAS_ATTRIBUTE_MAP=json.dumps(ATTRIBUTE_MAP))
    with serve(application, port) as base:
        yield {"app": application, "base": base, "cas": cas_server["url"], "user": cas_server["user"]}


@pytest.fixture(scope="module")
def netid_cas_app(app, app_config, tmp_path_factory):  # noqa: ANN001, ANN201
    """CAS whose ``cas:user`` is not the 工号: UNION_CAS_ATTRIBUTE_MAP takes staff_no from ``gh``."""
    with _cas_peer(tmp_path_factory, NETID, {**CAS_ATTRIBUTES, "gh": NETID_STAFF_NO}) as server:
        port = server["app_port"]
        application = make_app(app_config, CAS_SERVER_URL=server["url"], PUBLIC_URL=f"http://127.0.0.1:{port}",
                               CAS_ATTRIBUTE_MAP=json.dumps({**ATTRIBUTE_MAP, "staff_no": "gh"}))
        with serve(application, port) as base:
            yield {"app": application, "base": base, "cas": server["url"], "user": NETID}


def _cas_login(http: requests.Session, user: str, login_page: requests.Response) -> requests.Response:
    """Fill in django-cas-server's login form the way a browser would."""
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', login_page.text))
    form.update(username=user, password=CAS_PASSWORD)
    return http.post(login_page.url, data=form, allow_redirects=False, timeout=10)


def _login(cas_app, next_path: str = "/portal/") -> tuple[requests.Session, str, requests.Response]:  # noqa: ANN001
    """Start at our /sso/cas/login, follow every redirect by hand; returns the ticket URL too."""
    http = requests.Session()
    r = http.get(cas_app["base"] + "/sso/cas/login", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == cas_app["cas"] + "login?" + "service=" + requests.utils.quote(
        cas_app["base"] + "/sso/cas/callback", safe="")
    page = http.get(r.headers["Location"], timeout=10)
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text
    r = _cas_login(http, cas_app["user"], page)
    assert r.status_code == 302, r.text[:500]
    ticket_url = r.headers["Location"]
    assert ticket_url.startswith(cas_app["base"] + "/sso/cas/callback?ticket=ST-")
    landed = http.get(ticket_url, allow_redirects=False, timeout=10)
    return http, ticket_url, landed


def test_full_login_creates_account_with_mapped_attributes_and_no_staff_roles(cas_app, db, world):  # noqa: ANN001
    http, _, landed = _login(cas_app, "/portal/members?page=2")
    assert landed.status_code == 302, landed.text
    assert landed.headers["Location"] == "/portal/members?page=2"
    assert "union_csrf" in http.cookies and "union_session" in http.cookies
    me = http.get(cas_app["base"] + "/api/v1/auth/me", timeout=10)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["user"]["username"] == CAS_USER  # 工号 kept as a string
    assert body["user"]["display_name"] == "李文博"
    assert body["roles"] == [] and body["member_id"] is None  # no member record, no roles
    db.expire_all()
    ext = db.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == CAS_USER))
    assert ext.provider == "cas"
    assert ext.attributes == {"staff_no": CAS_USER, "name": "李文博", "department": "计算机学院",
                              "category": "专任教师", "email": "liwb@example.edu.cn"}
    assert db.scalar(select(AuditLog).where(AuditLog.action == "auth.sso_login")) is not None


def test_staff_lands_in_session_with_roles_granted_by_super_admin(cas_app, db, world, clients):  # noqa: ANN001
    _login(cas_app)
    db.expire_all()
    user = db.scalar(select(User).where(User.username == CAS_USER))
    granted = clients["admin"].patch(f"/api/v1/users/{user.id}",
                                     json={"roles": [{"role": "subunion_chair", "sub_union_id": world.own_sub}]})
    assert granted.status_code == 200, granted.get_data(as_text=True)
    http, _, landed = _login(cas_app)
    assert landed.status_code == 302
    me = http.get(cas_app["base"] + "/api/v1/auth/me", timeout=10).json()
    assert [(r["role"], r["sub_union_id"]) for r in me["roles"]] == [("subunion_chair", world.own_sub)]
    members = http.get(cas_app["base"] + "/api/v1/members", timeout=10)
    assert members.status_code == 200 and members.json()["total"] == 1  # only their sub-union


def test_member_record_matched_by_staff_no_gets_member_role(cas_app, db, world):  # noqa: ANN001
    db.add(Member(name="李文博", staff_no=CAS_USER, sub_union_id=world.own_sub, gender="男", birth_date=date(1988, 1, 2),
                  membership_status="正常", employment_status="在职", name_initials="lwb"))
    db.commit()
    http, _, _ = _login(cas_app)
    me = http.get(cas_app["base"] + "/api/v1/auth/me", timeout=10).json()
    assert [r["role"] for r in me["roles"]] == ["member"]
    own = http.get(cas_app["base"] + "/api/v1/me/member", timeout=10)
    assert own.status_code == 200 and own.json()["staff_no"] == CAS_USER


def test_staff_no_from_an_attribute_names_the_new_account(netid_cas_app, db, world):  # noqa: ANN001
    http, _, landed = _login(netid_cas_app)
    assert landed.status_code == 302, landed.text
    me = http.get(netid_cas_app["base"] + "/api/v1/auth/me", timeout=10).json()
    assert me["user"]["username"] == NETID_STAFF_NO.lower()  # the 工号, not the CAS login name
    assert me["roles"] == []
    db.expire_all()
    ext = db.scalar(select(ExternalIdentity).where(ExternalIdentity.provider == "cas"))
    assert ext.subject == NETID and ext.attributes["staff_no"] == NETID_STAFF_NO
    assert db.scalar(select(User).where(User.username == NETID)) is None


def test_staff_no_from_an_attribute_claims_the_prepared_account_and_member(netid_cas_app, db, world, clients):  # noqa: ANN001
    member = Member(name="李文博", staff_no=NETID_STAFF_NO, sub_union_id=world.own_sub, gender="男",
                    birth_date=date(1988, 1, 2), membership_status="正常", employment_status="在职",
                    name_initials="lwb")
    db.add(member)
    db.commit()
    prepared = clients["admin"].post("/api/v1/users", json={
        "username": NETID_STAFF_NO, "display_name": "李文博",
        "roles": [{"role": "subunion_chair", "sub_union_id": world.own_sub}]})
    assert prepared.status_code == 201, prepared.get_data(as_text=True)
    for _ in range(2):  # the second login lands in the same account through the CAS user
        http, _, landed = _login(netid_cas_app)
        assert landed.status_code == 302, landed.text
        me = http.get(netid_cas_app["base"] + "/api/v1/auth/me", timeout=10).json()
        assert me["user"]["id"] == prepared.json["id"] and me["member_id"] == member.id
        assert {(r["role"], r["sub_union_id"]) for r in me["roles"]} == {
            ("subunion_chair", world.own_sub), ("member", None)}
    db.expire_all()
    assert [e.subject for e in db.scalars(select(ExternalIdentity))] == [NETID]


def test_replayed_ticket_is_refused(cas_app, db, world):  # noqa: ANN001
    _, ticket_url, landed = _login(cas_app)
    assert landed.status_code == 302
    again = requests.get(ticket_url, allow_redirects=False, timeout=10)
    assert again.status_code == 401
    assert again.json()["code"] == "cas_ticket_replayed"


def test_unknown_ticket_answers_the_cas_error_code(cas_app, db, world):  # noqa: ANN001
    r = requests.get(cas_app["base"] + "/sso/cas/callback", params={"ticket": "ST-forged-0000"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 401
    assert r.json()["code"] == "cas_invalid_ticket" and "INVALID_TICKET" in r.json()["message"]
    missing = requests.get(cas_app["base"] + "/sso/cas/callback", allow_redirects=False, timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "cas_ticket_missing"


def test_a_browser_gets_a_readable_page_for_a_failed_login(cas_app, db, world):  # noqa: ANN001
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    r = requests.get(cas_app["base"] + "/sso/cas/callback", params={"ticket": "ST-<script>x</script>"},
                     headers=browser, allow_redirects=False, timeout=10)
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    assert "登录未完成" in page and "cas_invalid_ticket" in page and "INVALID_TICKET" in page
    assert "<script>" not in page  # the ticket echoed by CAS is escaped, not executed
    # the JSON API keeps JSON even for a browser
    api = requests.get(cas_app["base"] + "/api/v1/auth/me", headers=browser, timeout=10)
    assert api.status_code == 401 and api.json()["code"] == "unauthorized"


def test_ticket_for_another_service_is_refused(cas_app, db, world):  # noqa: ANN001
    http, _, _ = _login(cas_app)
    # Already signed in at CAS: asking for another service answers a ticket at once.
    other = cas_app["base"] + "/elsewhere"
    r = http.get(cas_app["cas"] + "login", params={"service": other}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "ticket=ST-" in r.headers["Location"]
    ticket = parse_qs(urlsplit(r.headers["Location"]).query)["ticket"][0]
    refused = requests.get(cas_app["base"] + "/sso/cas/callback", params={"ticket": ticket},
                           allow_redirects=False, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["code"] == "cas_invalid_service"


def test_single_logout_ends_the_session(cas_app, db, world):  # noqa: ANN001
    http, _, _ = _login(cas_app)
    assert http.get(cas_app["base"] + "/api/v1/auth/me", timeout=10).status_code == 200
    out = http.get(cas_app["cas"] + "logout", timeout=10)  # the CAS server POSTs logoutRequest to us
    assert out.status_code == 200
    deadline = time.monotonic() + 10
    while http.get(cas_app["base"] + "/api/v1/auth/me", timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "SLO did not end the portal session"
        time.sleep(0.2)
    db.expire_all()
    assert db.scalar(select(PortalSession)).revoked_at is not None
    assert db.scalar(select(AuditLog).where(AuditLog.action == "auth.sso_logout")) is not None


def test_portal_session_needs_csrf_token_for_unsafe_requests(cas_app, db, world):  # noqa: ANN001
    http, _, _ = _login(cas_app)
    base = cas_app["base"]
    refused = http.post(base + "/sso/token", timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    wrong = http.post(base + "/sso/token", headers={"X-CSRF-Token": "nope"}, timeout=10)
    assert wrong.status_code == 403
    csrf = http.cookies["union_csrf"]
    issued = http.post(base + "/sso/token", headers={"X-CSRF-Token": csrf}, timeout=10)
    assert issued.status_code == 200, issued.text
    bearer = requests.get(base + "/api/v1/auth/me", headers={"Authorization": "Bearer " + issued.json()["token"]},
                          timeout=10)
    assert bearer.status_code == 200 and bearer.json()["user"]["username"] == CAS_USER
    # A GET needs no token; sign-out ends the session for good.
    assert http.post(base + "/sso/logout", timeout=10).status_code == 403
    out = http.post(base + "/sso/logout", headers={"X-CSRF-Token": csrf}, timeout=10)
    assert out.status_code == 200 and out.json()["cas_logout_url"].startswith(cas_app["cas"] + "logout")
    assert http.get(base + "/api/v1/auth/me", timeout=10).status_code == 401


def test_stolen_cookie_of_ended_session_is_useless(cas_app, db, world):  # noqa: ANN001
    http, _, _ = _login(cas_app)
    cookies = http.cookies.copy()
    csrf = http.cookies["union_csrf"]
    http.post(cas_app["base"] + "/sso/logout", headers={"X-CSRF-Token": csrf}, timeout=10)
    replay = requests.get(cas_app["base"] + "/api/v1/auth/me", cookies=cookies, timeout=10)
    assert replay.status_code == 401


def test_api_logout_ends_a_cookie_session_too(cas_app, db, world):  # noqa: ANN001
    """POST /api/v1/auth/logout from the portal must end the portal session, not only audit it."""
    http, _, _ = _login(cas_app)
    cookies = http.cookies.copy()
    out = http.post(cas_app["base"] + "/api/v1/auth/logout", headers={"X-CSRF-Token": http.cookies["union_csrf"]},
                    timeout=10)
    assert out.status_code == 204
    assert requests.get(cas_app["base"] + "/api/v1/auth/me", cookies=cookies, timeout=10).status_code == 401


# ---- open redirects ---------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example", "https://evil.example", "http://evil.example/x", "/\\evil.example", "\\\\evil.example",
    "/%2Fevil.example", "%2F%2Fevil.example", "/%5Cevil.example", "/%252F%252Fevil.example",
    "javascript:alert(1)", "evil.example", "/\tevil", "/%09/evil.example", " //evil.example", "///evil.example",
    "/%2f%2fevil.example", "https:/evil.example", "/" + "a" * 3000,
]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_next_refuses_other_sites(value):  # noqa: ANN001
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", ["/", "/portal/", "/portal/members?page=2&q=%E9%99%88", "/a/b#c"])
def test_next_keeps_own_paths(value):  # noqa: ANN001
    assert safe_next(value) == value


@pytest.mark.parametrize("value", ["//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example"])
def test_full_login_with_hostile_next_lands_on_home(cas_app, db, world, value):  # noqa: ANN001
    _, _, landed = _login(cas_app, value)
    assert landed.status_code == 302 and landed.headers["Location"] == "/"


# ---- hostile CAS answers -------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
<cas:user>&lol3;</cas:user></cas:authenticationSuccess></cas:serviceResponse>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
<cas:user>&xxe;</cas:user></cas:authenticationSuccess></cas:serviceResponse>"""
SUCCESS = """<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
<cas:user>20190001</cas:user><cas:attributes><cas:xm>李文博</cas:xm></cas:attributes>
</cas:authenticationSuccess></cas:serviceResponse>"""
HUGE = "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">" + "<x>" + "A" * (4 * 1024 * 1024) + "</x>"


class FakeCas(LoopbackHttp):
    """Answers /p3/serviceValidate with whatever body the test chose."""

    def __init__(self):
        self.body = SUCCESS
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # noqa: ANN002
                pass

            def do_GET(self):  # noqa: N802
                time.sleep(fake.delay)
                data = fake.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.start_serving(Handler, "/cas/")



@pytest.fixture(scope="module")
def fake_cas():  # noqa: ANN201
    fake = FakeCas()
    yield fake
    fake.close()


@pytest.mark.parametrize(("body", "code"), [
    (BILLION_LAUGHS, "INVALID_RESPONSE"), (EXTERNAL_ENTITY, "INVALID_RESPONSE"), (HUGE, "INVALID_RESPONSE"),
    ("not xml at all", "INVALID_RESPONSE"), ("<html><body>login</body></html>", "INVALID_RESPONSE"),
    ("""<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess>
     </cas:authenticationSuccess></cas:serviceResponse>""", "INVALID_RESPONSE"),
])
def test_hostile_validation_responses_are_refused(fake_cas, body, code):  # noqa: ANN001
    fake_cas.body = body
    client = CasClient(fake_cas.url, "http://127.0.0.1/sso/cas/callback", "3", timeout=5, max_bytes=256 * 1024)
    with pytest.raises(CasError) as info:
        client.validate("ST-1")
    assert info.value.code == code


def test_slow_cas_server_times_out(fake_cas):  # noqa: ANN001
    fake_cas.body, fake_cas.delay = SUCCESS, 3
    try:
        client = CasClient(fake_cas.url, "http://127.0.0.1/sso/cas/callback", "3", timeout=1)
        started = time.monotonic()
        with pytest.raises(CasError) as info:
            client.validate("ST-1")
        assert info.value.code == "CAS_UNAVAILABLE" and time.monotonic() - started < 2.5
    finally:
        fake_cas.delay = 0


def test_cas2_and_attributes_parse(fake_cas):  # noqa: ANN001
    fake_cas.body = SUCCESS
    result = CasClient(fake_cas.url, "http://127.0.0.1/cb", "2").validate("ST-1")
    assert result.user == "20190001" and result.attributes == {"xm": "李文博"}


def test_hostile_answer_through_the_app_is_a_clean_error(app, app_config, fake_cas, db, world):  # noqa: ANN001
    application = make_app(app_config, CAS_SERVER_URL=fake_cas.url, PUBLIC_URL="http://127.0.0.1:9")
    client = application.test_client()
    for body in (BILLION_LAUGHS, HUGE, EXTERNAL_ENTITY):
        fake_cas.body = body
        r = client.get("/sso/cas/callback?ticket=ST-" + str(len(body)) + str(time.monotonic_ns()))
        assert r.status_code == 401 and r.json["code"] == "cas_invalid_response", r.get_data(as_text=True)
    fake_cas.body = SUCCESS
    ok = client.get("/sso/cas/callback?ticket=ST-good-1")
    assert ok.status_code == 302 and ok.headers["Location"] == "/"


def test_logout_request_parsing_is_defused():
    good = ('<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="1" Version="2.0">'
            '<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x</saml:NameID>'
            '<samlp:SessionIndex>ST-abc</samlp:SessionIndex></samlp:LogoutRequest>')
    assert parse_logout_request(good, 65536) == "ST-abc"
    assert parse_logout_request(BILLION_LAUGHS, 65536) is None
    assert parse_logout_request(good, 10) is None
    assert parse_logout_request("", 65536) is None


def test_bad_single_logout_post_is_refused(cas_app, db, world):  # noqa: ANN001
    r = requests.post(cas_app["base"] + "/sso/cas/callback", data={"logoutRequest": BILLION_LAUGHS}, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "cas_bad_logout_request"


def test_cas_not_configured_answers_404(app, anon):  # noqa: ANN001
    r = anon.get("/sso/cas/login")
    assert r.status_code == 404 and r.json["code"] == "sso_not_configured"
    providers = anon.get("/sso/providers").json
    assert providers == {"cas": False, "oidc": False, "local": True}
