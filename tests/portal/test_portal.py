"""The staff portal's server side: the build served at /portal/, / for browsers and for JSON
clients, and the portal's local sign-in (POST /sso/local/login). The portal itself is tested in
a browser (tests/browser)."""

from __future__ import annotations

import pytest

from server import portal as portal_mod

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture
def fake_build(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=app></div>", encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "favicon.ico").write_bytes(b"\0")
    monkeypatch.setattr(portal_mod, "DIST", tmp_path)
    return tmp_path


def test_root_sends_browsers_to_the_portal_and_keeps_json_for_clients(app):  # noqa: ANN001
    client = app.test_client()
    page = client.get("/", headers={"Accept": HTML})
    assert page.status_code == 302 and page.headers["Location"] == "/portal/"
    for accept in ("application/json", "*/*", None):
        answer = client.get("/", headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200
        assert answer.json == {"name": "工会智慧平台", "docs": "/docs", "openapi": "/api/v1/openapi.json"}
        assert "Accept" in answer.headers["Vary"]


def test_portal_serves_the_build_with_deep_links_and_long_cached_assets(app, fake_build):  # noqa: ANN001
    client = app.test_client()
    assert client.get("/portal").status_code == 308
    for path in ("/portal/", "/portal/members/123", "/portal/review/applications?status=submitted"):
        page = client.get(path)
        assert page.status_code == 200 and b'<div id=app>' in page.data, path
        assert page.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    asset = client.get("/portal/assets/index-abc123.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
    assert "max-age=31536000" in asset.headers["Cache-Control"]
    assert client.get("/portal/assets/gone-000.js").status_code == 404  # never index.html for a script
    assert client.get("/portal/favicon.ico").status_code == 200
    assert b"create_app" not in client.get("/portal/..%2f__init__.py").data


def test_portal_without_a_build_says_how_to_build_it(app, tmp_path, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(portal_mod, "DIST", tmp_path / "none")
    page = app.test_client().get("/portal/members/1")
    assert page.status_code == 503
    assert "make portal" in page.get_data(as_text=True) and "门户尚未构建" in page.get_data(as_text=True)


# ---- POST /sso/local/login ----------------------------------------------------------------------


def test_local_login_starts_a_portal_session_with_csrf(app, world):  # noqa: ANN001
    client = app.test_client()
    r = client.post("/sso/local/login", json={"username": "Staff", "password": "secret123", "next": "/portal/members"})
    assert r.status_code == 200, r.json
    assert r.json["ok"] is True and r.json["next"] == "/portal/members"
    token = r.json["csrf_token"]
    assert client.get_cookie("union_csrf").value == token
    me = client.get("/api/v1/auth/me").json
    assert me["user"]["username"] == "staff" and "members.read" in me["permissions"]
    # Cookie-authenticated writes need the CSRF header; with it the session works as SSO's does.
    assert client.post("/api/v1/stats/summary", json={"group_by": ["sub_union"]}).status_code == 403
    assert client.post("/api/v1/stats/summary", json={"group_by": ["sub_union"]},
                       headers={"X-CSRF-Token": token}).status_code == 200
    out = client.post("/sso/logout", headers={"X-CSRF-Token": token})
    assert out.status_code == 200 and out.json["cas_logout_url"] is None
    assert client.get("/api/v1/auth/me").status_code == 401


def test_local_login_form_post_redirects_and_refuses_bad_next(app, world):  # noqa: ANN001
    client = app.test_client()
    r = client.post("/sso/local/login", data={"username": "chair", "password": "secret123", "next": "//evil.example"})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert client.get("/api/v1/auth/me").json["user"]["username"] == "chair"


def test_local_login_failures_name_the_fields_and_are_throttled(app, world):  # noqa: ANN001
    client = app.test_client()
    missing = client.post("/sso/local/login", json={"username": "", "password": ""})
    assert missing.status_code == 422 and set(missing.json["fields"]) == {"username", "password"}
    answers = [client.post("/sso/local/login", json={"username": "staff", "password": "wrong"}) for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[0].json["message"] == "用户名或密码错误"
    assert answers[-1].headers.get("Retry-After")
    assert client.get("/api/v1/auth/me").status_code == 401


def test_local_login_from_another_site_is_refused(app, world):  # noqa: ANN001
    r = app.test_client().post("/sso/local/login", data={"username": "staff", "password": "secret123"},
                               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json["code"] == "cross_site_login"
