"""Fixtures: the app on the chosen backend, the world (sub-unions, accounts per role, members)
built once per session, each test inside a transaction rolled back at its end, and a client
per role.

The backend is the embedded default (SQLite + inline jobs) unless UNION_TEST_DATABASE_URL and
UNION_TEST_REDIS_URL are set, in which case the same tests run on MariaDB/MySQL and Redis
with a real RQ worker process.

Isolation. A test that uses the app runs inside one transaction rolled back at its end
(``tests/support/transaction.py``): what it and its requests wrote is gone, the world stays.
A test that asks for ``db`` without ``world`` sees an empty database, as before (the world is
deleted inside its transaction). A test whose writes must really be committed — another process
or connection must see them (the real RQ worker on MariaDB, parallel connections, a served app
in another thread, a CLI subprocess) — is marked ``committing``; it runs on committed data and
afterwards the whole database is emptied and the world written again, as every test used to.
Redis keys under the test prefix are flushed before every test.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import delete

from server.app import create_app
from server.core import db as db_mod
from server.core import queue as queue_mod
from server.core.db import Base, ensure_database
from tests.support.clients import ApiClient
from tests.support.transaction import Transaction
from tests.support.world import BACKEND, DB_URL, FAST_HASH, REDIS_URL, World, build_world

RUN_ID = uuid.uuid4().hex[:8]


def pytest_configure(config):  # noqa: ANN001, ANN201
    config.addinivalue_line("markers", "committing: the test's writes are really committed (another "
                            "process or connection must see them); the database is rebuilt after it")


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


def _clean_tables(conn) -> None:  # noqa: ANN001
    for table in reversed(Base.metadata.sorted_tables):
        conn.execute(delete(table))


def _clean_redis(runtime) -> None:  # noqa: ANN001
    if runtime.queue.inline:
        runtime.redis.flushall()
    else:
        prefix = runtime.throttle.prefix
        for key in runtime.redis.scan_iter(f"{prefix}*"):
            runtime.redis.delete(key)


def _rebuild(runtime, world: World) -> None:  # noqa: ANN001
    """Empty every table and write the world again (its ids change on MariaDB)."""
    with runtime.db.engine.begin() as conn:
        _clean_tables(conn)
    session = runtime.db.factory()
    try:
        world.__dict__.update(build_world(session).__dict__)
    finally:
        session.close()


@pytest.fixture(scope="session")
def session_world(app) -> World:  # noqa: ANN001
    """The world, committed once for the session; every test starts from it."""
    runtime = app.extensions["union"]
    world = World()
    _rebuild(runtime, world)
    return world


def _committing(request) -> bool:  # noqa: ANN001
    """Committed for real: marked so, or a real worker process must read what the test wrote."""
    if request.node.get_closest_marker("committing"):
        return True
    return BACKEND == "mariadb" and "worker" in request.fixturenames


@pytest.fixture(autouse=True)
def _isolation(request):  # noqa: ANN001, ANN202
    """Every test that uses the app: a transaction rolled back at its end (or, for a committing
    test, the world rebuilt after it) and this run's Redis keys flushed before it."""
    if "app" not in request.fixturenames:
        yield None
        return
    app = request.getfixturevalue("app")
    runtime = app.extensions["union"]
    world = request.getfixturevalue("session_world")
    # Another test may have built an app of its own; jobs must find this one's database.
    db_mod.set_current(runtime.db)
    queue_mod.set_current(runtime.queue)
    _clean_redis(runtime)
    wants_world = "world" in request.fixturenames
    if _committing(request):
        if "db" in request.fixturenames and not wants_world:
            with runtime.db.engine.begin() as conn:
                _clean_tables(conn)
        try:
            yield None
        finally:
            runtime.db.session.remove()
            _rebuild(runtime, world)
        return
    tx = Transaction(runtime.db)
    try:
        if "db" in request.fixturenames and not wants_world:
            _clean_tables(tx.conn)  # the test asked for a clean database: empty, until the rollback
        yield tx
    finally:
        tx.rollback()


@pytest.fixture
def db(app, rt, _isolation):  # noqa: ANN001, ANN201
    """A clean database for the test (with the world when it asks for ``world``), and a session
    for setting up and checking data."""
    session = _isolation.session() if _isolation is not None else rt.db.factory()
    yield session
    session.close()
    rt.db.session.remove()


@pytest.fixture
def world(db, session_world) -> World:  # noqa: ANN001
    """The session's world; a copy, so that attributes a test sets stay its own."""
    return copy.deepcopy(session_world)


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


@pytest.fixture
def workflow_world(world, db) -> World:  # noqa: ANN001
    """Issue 4: one object per workflow state, its id set on ``world`` for the matrix's paths:
    {app_submitted} {app_confirmed} (own sub-union), {transfer_requested} {transfer_out_approved}
    {transfer_school_approved} (own → other, filed by sub_staff), {status_change} (filed by sub_staff)."""
    from tests.membership.factories import workflow_objects

    workflow_objects(db, world)
    db.commit()
    return world
