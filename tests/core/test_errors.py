"""Every error leaves as JSON with a status, a stable code and a Chinese message; bad input
never produces a 500, and an unexpected failure produces a JSON 500 that leaks nothing."""

from __future__ import annotations

import os

import pytest
from flask import request
from sqlalchemy import func, select

from server.app import create_app
from server.core import db as db_mod
from server.core import queue as queue_mod
from server.core.models import AuditLog
from server.domain.org.models import SubUnion
from server.routes.context import db_session
from tests.support.api_asserts import assert_error
from tests.support.world import FAST_HASH, requires_mariadb

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """A separate app on its own SQLite file (any backend), for settings and routes the shared
    test app must not have. The process-wide current database and queue are restored after."""
    for key in [k for k in os.environ if k.startswith("UNION_") and not k.startswith("UNION_TEST_")]:
        monkeypatch.delenv(key)
    saved = (db_mod._slot.peek(), queue_mod._slot.peek())
    made = []

    def make(**overrides):  # noqa: ANN003, ANN202
        cfg = {
            "ENV": "test", "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "REDIS_URL": None,
            "SECRET_KEY": "k" * 40, "PASSWORD_HASH_METHOD": FAST_HASH, **overrides,
        }
        application = create_app(cfg)
        application.extensions["union"].db.create_all()
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["union"].db.engine.dispose()
    db_mod.set_current(saved[0])
    queue_mod.set_current(saved[1])


# ---- routing errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/sub-unions/abc", "/favicon.ico", "/docs/x"])
def test_unknown_path_is_json_404(world, anon, path):
    """Even a browser asking for HTML gets the JSON error."""
    assert_error(anon.get(path, headers=HTML), 404, "not_found", message="请求的资源不存在")


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/api/v1/sub-unions", {"GET", "POST"}),
    ("DELETE", "/api/v1/auth/login", {"POST"}),
    ("POST", "/api/v1/auth/me", {"GET"}),
    ("PUT", "/api/v1/users/1", {"GET", "PATCH"}),
])
def test_wrong_method_is_json_405_with_allow(world, clients, method, path, allowed):
    """The Allow header tells the client which methods the path does take."""
    resp = clients["admin"].open(method, path, headers=HTML)
    assert_error(resp, 405, "method_not_allowed", message="不支持该请求方法")
    got = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert allowed <= got and method not in got


def test_body_over_max_content_length_is_json_413(make_app):
    """An oversized upload is refused before it is read, with the limit in the message."""
    app = make_app(MAX_CONTENT_LENGTH=1024 * 1024)
    body = b'{"username": "' + b"a" * (1024 * 1024) + b'", "password": "x"}'
    resp = app.test_client().post("/api/v1/auth/login", data=body, content_type="application/json")
    assert_error(resp, 413, "payload_too_large", message="上传内容过大，不能超过 1 MB")
    with app.extensions["union"].db.factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
    # Just under the limit is read normally (and fails validation on its merits).
    small = app.test_client().post("/api/v1/auth/login", json={"username": "a" * 100, "password": "x"})
    assert_error(small, 422, "validation_error", fields=("username",))


def test_unsupported_media_type_is_json_415(make_app):
    """Flask's own 415 (a route reading JSON from a text/plain body) goes through the same
    error rendering; the API's own routes answer 422 for such bodies instead."""
    app = make_app()

    @app.post("/api/v1/echo")
    def echo():  # noqa: ANN202
        return request.get_json()

    resp = app.test_client().post("/api/v1/echo", data="hello", content_type="text/plain")
    assert_error(resp, 415, "unsupported_media_type", message="不支持的内容类型")


def test_validation_error_is_json_422_naming_fields(world, clients):
    resp = clients["chair"].post("/api/v1/sub-unions", json={"name": 5, "code": "X"}, headers=HTML)
    body = assert_error(resp, 422, "validation_error", fields=("name",))
    assert body["message"].startswith("提交的数据有误")
    assert "name" in body["message"]


def test_unauthenticated_and_forbidden_are_json(world, clients):
    assert_error(clients["anonymous"].get("/api/v1/users", headers=HTML), 401, "unauthorized", message="请先登录")
    assert_error(clients["member"].get("/api/v1/users", headers=HTML), 403, "forbidden",
                 message="当前账号无权执行此操作")


# ---- unexpected failures -----------------------------------------------------------------------


def test_unexpected_exception_is_json_500_and_rolls_back(make_app, caplog):
    """A bug answers a generic JSON 500 (details only in the log) and its half-done work is
    rolled back, not committed."""
    app = make_app()

    @app.post("/api/v1/boom")
    def boom():  # noqa: ANN202
        session = db_session()
        session.add(SubUnion(name="半途分工会", code="HALF"))
        session.flush()
        raise RuntimeError("secret internal detail")

    resp = app.test_client().post("/api/v1/boom", headers=HTML)
    body = assert_error(resp, 500, "internal_error", message="服务器内部错误，请稍后再试")
    assert "secret internal detail" not in resp.get_data(as_text=True)
    assert set(body) == {"status", "code", "message"}
    assert "secret internal detail" in caplog.text
    with app.extensions["union"].db.factory() as session:
        assert session.scalar(select(func.count()).select_from(SubUnion)) == 0


# ---- bad input never answers 500 -----------------------------------------------------------------


def test_deeply_nested_json_is_400_not_500(world, anon):
    """A body nested deeper than the JSON parser can recurse is still just bad JSON."""
    resp = anon.post("/api/v1/auth/login", data="[" * 100_000, content_type="application/json")
    assert_error(resp, 400, "bad_json")


@pytest.mark.parametrize("path", ["/api/v1/users/99999999999999999999999", "/api/v1/sub-unions/99999999999999999999999"])
def test_id_beyond_any_integer_column_is_404(world, clients, path):
    assert_error(clients["admin"].get(path), 404, "not_found")


@pytest.mark.parametrize("payload, field", [
    ({"member_id": 10**30}, "member_id"),
    ({"roles": [{"role": "subunion_chair", "sub_union_id": 10**30}]}, "roles[0].sub_union_id"),
])
def test_id_beyond_any_integer_column_in_body_is_422(db, world, clients, payload, field):
    resp = clients["admin"].post("/api/v1/users", json={"username": "big.id", "display_name": "大数", **payload})
    assert_error(resp, 422, "validation_error", fields=(field,))


@pytest.mark.parametrize("query, field", [
    ("page=99999999999999999999999", "page"),
    ("actor_user_id=99999999999999999999999", "actor_user_id"),
    ("since=0001-01-01T00:00:00", "since"),
    ("until=9999-12-31T23:59:59-10:00", "until"),
    ("since=not-a-date", "since"),
])
def test_audit_query_out_of_range_is_422(world, clients, query, field):
    assert_error(clients["chair"].get(f"/api/v1/audit-log?{query}"), 422, "validation_error", fields=(field,))


def test_huge_page_number_on_a_list_is_422(world, clients):
    assert_error(clients["admin"].get("/api/v1/users?page=99999999999999999999999"), 422, "validation_error",
                 fields=("page",))


@pytest.mark.parametrize("path", [
    "/api/v1/members?sub_union_id=99999999999999999999999",
    "/api/v1/applications?sub_union_id=99999999999999999999999",
    "/api/v1/transfers?member_id=99999999999999999999999",
])
def test_id_beyond_any_integer_column_in_a_list_filter_is_422(world, clients, path):
    assert_error(clients["staff"].get(path), 422, "validation_error", fields=(path.split("?")[1].split("=")[0],))


@pytest.mark.committing  # parallel connections must see committed rows
@requires_mariadb
def test_pool_rolls_back_only_a_transaction_left_open(db, rt, monkeypatch):  # noqa: ANN001
    """A connection back in the pool after a COMMIT gets no ROLLBACK (a wasted round trip on
    every request); one given back mid-transaction is still rolled back."""
    import pymysql

    rollbacks = []
    real_rollback = pymysql.connections.Connection.rollback
    monkeypatch.setattr(pymysql.connections.Connection, "rollback",
                        lambda self: rollbacks.append(self) or real_rollback(self))
    engine = rt.db.engine
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(SubUnion))
        conn.commit()
    session = rt.db.factory()
    session.execute(select(func.count()).select_from(SubUnion))
    session.commit()
    session.close()
    assert rollbacks == []

    raw = engine.raw_connection()  # no SQLAlchemy transaction: only the server knows it is open
    cursor = raw.cursor()
    cursor.execute("INSERT INTO sub_unions (name, code, sort_order, is_retirees, created_at, updated_at) "
                   "VALUES ('半途', 'HALF', 0, 0, NOW(), NOW())")
    cursor.close()
    raw.close()
    assert len(rollbacks) == 1
    assert db.scalar(select(func.count()).select_from(SubUnion).where(SubUnion.code == "HALF")) == 0


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/api/v1/exports?page=0", 422, "page"),
    ("/api/v1/exports?page_size=abc", 422, "page_size"),
    ("/api/v1/exports/99999999999999999999999", 404, None),
    ("/api/v1/members/imports/99999999999999999999999", 404, None),
])
def test_job_routes_refuse_bad_paths_and_pages(world, clients, path, status, field):
    resp = clients["staff"].get(path)
    if field:
        assert_error(resp, status, "validation_error", fields=(field,))
    else:
        assert_error(resp, status, "not_found")
