"""Fixtures: the app on the chosen backend, a clean database per test, a world of sub-unions
and accounts (one per role, in our sub-union and in another), and a client per role.

The backend is the embedded default (SQLite + inline jobs) unless UNION_TEST_DATABASE_URL and
UNION_TEST_REDIS_URL are set, in which case the same tests run on MariaDB/MySQL and Redis
with a real RQ worker process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete

from server.app import create_app
from server.core import db as db_mod
from server.core import queue as queue_mod
from server.core.db import Base, ensure_database
from server.domain.accounts import users as accounts
from server.domain.members.models import Member
from server.domain.org import sub_unions

DB_URL = os.environ.get("UNION_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("UNION_TEST_REDIS_URL")
BACKEND = "mariadb" if DB_URL and REDIS_URL else "sqlite"
RUN_ID = uuid.uuid4().hex[:8]
FAST_HASH = "pbkdf2:sha256:1000"
OWN_ID = "130302198503071236"  # 陈思远, 男, 1985-03-07: a valid GB 11643 number
OTHER_ID = "130302199006151248"  # 赵敏, 女, 1990-06-15

requires_mariadb = pytest.mark.skipif(BACKEND != "mariadb", reason="needs MariaDB + Redis (real parallel connections)")


def pytest_report_header(config):  # noqa: ANN001, ANN201
    return f"union backend: {BACKEND}" + (f" ({DB_URL}, {REDIS_URL})" if BACKEND == "mariadb" else "")


@pytest.fixture(scope="session")
def app_config(tmp_path_factory) -> dict[str, Any]:  # noqa: ANN001
    instance = tmp_path_factory.mktemp("instance")
    cfg: dict[str, Any] = {
        "ENV": "test",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-" + "x" * 32,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "QUEUE_NAME": f"union-test-{RUN_ID}",
        "REDIS_PREFIX": f"union-test:{RUN_ID}:",
    }
    if BACKEND == "mariadb":
        ensure_database(DB_URL)
        cfg.update(DATABASE_URL=DB_URL, REDIS_URL=REDIS_URL)
    else:
        cfg.update(DATABASE_URL=f"sqlite:///{instance / 'test.db'}", REDIS_URL=None)
    return cfg


@pytest.fixture(scope="session")
def app(app_config):  # noqa: ANN001, ANN201
    os.environ.pop("UNION_INSTANCE_PATH", None)
    application = create_app(app_config)
    database = application.extensions["union"].db
    database.drop_all()
    database.create_all()
    yield application
    database.engine.dispose()


@pytest.fixture
def rt(app):  # noqa: ANN001, ANN201
    return app.extensions["union"]


def _clean(runtime) -> None:  # noqa: ANN001
    with runtime.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    if runtime.queue.inline:
        runtime.redis.flushall()
    else:
        prefix = runtime.throttle.prefix
        for key in runtime.redis.scan_iter(f"{prefix}*"):
            runtime.redis.delete(key)


@pytest.fixture
def db(app, rt):  # noqa: ANN001, ANN201
    """A clean database for the test, and a session for setting up and checking data."""
    # Another test may have built an app of its own; jobs must find this one's database.
    db_mod.set_current(rt.db)
    queue_mod.set_current(rt.queue)
    _clean(rt)
    session = rt.db.factory()
    yield session
    session.close()
    rt.db.session.remove()


@dataclass
class World:
    """Two sub-unions (ours and another) plus an empty one, accounts per role, tokens."""

    own_sub: int = 0
    other_sub: int = 0
    empty_sub: int = 0
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    member_id: int = 0
    other_member_id: int = 0


ROLE_ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "admin": ("super_admin", None),
    "chair": ("school_chair", None),
    "staff": ("school_operator", None),
    "sub_chair": ("subunion_chair", "own"),
    "sub_staff": ("subunion_operator", "own"),
    "other_chair": ("subunion_chair", "other"),
    "other_staff": ("subunion_operator", "other"),
    "member": ("member", None),
}
ALL_ROLES = ["anonymous", *ROLE_ACCOUNTS]


@pytest.fixture
def world(db) -> World:  # noqa: ANN001
    w = World()
    own = sub_unions.create(db, None, {"name": "计算机学院分工会", "code": "JSJ"})
    other = sub_unions.create(db, None, {"name": "机关分工会", "code": "JG"})
    empty = sub_unions.create(db, None, {"name": "空分工会", "code": "EMPTY"})
    w.own_sub, w.other_sub, w.empty_sub = own.id, other.id, empty.id
    me = Member(name="陈思远", staff_no="20150123", sub_union_id=own.id, gender="男",
                birth_date=date(1985, 3, 7), id_number=OWN_ID, mobile="13812345678",
                home_address="河北省秦皇岛市海港区河北大街西段438号", membership_status="正常",
                employment_status="在职", name_initials="csy")
    them = Member(name="赵敏", staff_no="20160456", sub_union_id=other.id, gender="女",
                  birth_date=date(1990, 6, 15), id_number=OTHER_ID, mobile="13987654321",
                  membership_status="正常", employment_status="在职", name_initials="zm")
    db.add_all([me, them])
    db.flush()
    w.member_id, w.other_member_id = me.id, them.id
    subs = {"own": own.id, "other": other.id}
    for name, (role, where) in ROLE_ACCOUNTS.items():
        user = accounts.create_user(
            db, None, username=name, display_name=name, password="secret123",
            roles=[{"role": role, "sub_union_id": subs[where] if where else None}],
            member_id=me.id if role == "member" else None, hash_method=FAST_HASH,
        )
        w.users[name] = user.id
        w.tokens[name] = accounts.issue_token(db, user, 1).token
    db.commit()
    return w


class ApiClient:
    """A test client that speaks as one account."""

    def __init__(self, client, token: str | None):  # noqa: ANN001
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def open(self, method: str, path: str, **kwargs: Any):  # noqa: ANN201
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("POST", path, **kw)

    def patch(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("PATCH", path, **kw)

    def put(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("PUT", path, **kw)

    def delete(self, path: str, **kw: Any):  # noqa: ANN201
        return self.open("DELETE", path, **kw)


@pytest.fixture
def clients(app, world) -> dict[str, ApiClient]:  # noqa: ANN001
    out = {"anonymous": ApiClient(app.test_client(), None)}
    for name, token in world.tokens.items():
        out[name] = ApiClient(app.test_client(), token)
    return out


@pytest.fixture
def anon(app) -> ApiClient:  # noqa: ANN001
    return ApiClient(app.test_client(), None)


@pytest.fixture(scope="session")
def worker(app, app_config):  # noqa: ANN001, ANN201
    """A real `union worker` process on the MariaDB + Redis pass; None on the embedded default."""
    if BACKEND != "mariadb":
        yield None
        return
    env = {**os.environ, **{f"UNION_{k}": str(v) for k, v in app_config.items() if v is not None}}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env)
    time.sleep(0.5)
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def workflow_world(world, db) -> World:  # noqa: ANN001
    """Issue 4: one object per workflow state, its id set on ``world`` for the matrix's paths:
    {app_submitted} {app_confirmed} (own sub-union), {transfer_requested} {transfer_out_approved}
    {transfer_school_approved} (own → other, filed by sub_staff), {status_change} (filed by sub_staff)."""
    from server.domain.membership.models import Application, StatusChange, Transfer

    def applicant(name: str, id_number: str, staff_no: str, status: str) -> int:
        user = accounts.create_user(db, None, username=name, display_name=name, roles=[], hash_method=FAST_HASH)
        values = {"name": "林晓", "gender": "女", "birth_date": id_number[6:10] + "-" + id_number[10:12] + "-"
                  + id_number[12:14], "id_number": id_number, "sub_union": w.own_sub, "staff_no": staff_no}
        app = Application(applicant_user_id=user.id, status=status, sub_union_id=w.own_sub, values=values,
                          name="林晓", id_number=id_number, open_user_id=user.id, open_id_number=id_number)
        db.add(app)
        db.flush()
        return app.id

    w = world
    w.app_submitted = applicant("applicant1", "130302199604121225", "20260101", "submitted")
    w.app_confirmed = applicant("applicant2", "130302199604121241", "20260102", "confirmed")
    for i, status in enumerate(("requested", "out_approved", "school_approved")):
        m = Member(name="转会人", staff_no=f"T{i}", sub_union_id=w.own_sub, gender="男", birth_date=date(1980, 1, 1),
                   membership_status="正常", employment_status="在职", name_initials="zhr")
        db.add(m)
        db.flush()
        t = Transfer(member_id=m.id, from_sub_union_id=w.own_sub, to_sub_union_id=w.other_sub, reason="调动",
                     status=status, open_member_id=m.id, requested_by=w.users["sub_staff"])
        db.add(t)
        db.flush()
        setattr(w, f"transfer_{status}", t.id)
    m = Member(name="退休人", staff_no="S1", sub_union_id=w.own_sub, gender="女", birth_date=date(1966, 1, 1),
               membership_status="正常", employment_status="在职", name_initials="txr")
    db.add(m)
    db.flush()
    sc = StatusChange(member_id=m.id, sub_union_id=w.own_sub, kind="退休", effective_date=date(2026, 1, 1),
                      reason="到龄退休", status="requested", open_member_id=m.id, requested_by=w.users["sub_staff"])
    db.add(sc)
    db.flush()
    w.status_change = sc.id
    db.commit()
    return w
