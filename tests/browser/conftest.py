"""The staff portal in a real browser: Debian's Chromium driven by pytest-playwright against the
real app (``union serve --demo`` on the embedded default, in a subprocess) with a real CAS server
(django-cas-server, tests/peers/cas) beside it.

Locally the tests skip with a reason when Chromium, the portal build or Playwright is missing;
with ``UNION_REQUIRE_BROWSER=1`` (set by .ci/run) they fail instead, and a full pass writes
``.test-browser-passed``, which .ci/run checks. They run in the embedded pass only: the browser
sees the same API on either backend, and the MariaDB pass already covers the API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from server.portal import DIST
from tests.peers.apps import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("UNION_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("UNION_REQUIRE_BROWSER") == "1"
SENTINEL = ROOT / ".test-browser-passed"
CAS_PEER = ROOT / "tests" / "peers" / "cas" / "run.py"
# A 计算机学院分工会 operator whose account the super admin prepared (no password) before her first
# sign-in through CAS; the 工号 is her CAS user name.
CAS_USER, CAS_PASSWORD, CAS_NAME = "20260001", "cas-pass-1", "赵雪"
DEMO_PASSWORD = "demo123"
VIEWPORT = {"width": 1366, "height": 768}


def _missing() -> str | None:
    if os.environ.get("UNION_TEST_DATABASE_URL") and os.environ.get("UNION_TEST_REDIS_URL"):
        return "browser tests run in the embedded pass only"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-wqy-zenhei)"
    if not (DIST / "index.html").is_file():
        return "the portal is not built (make portal; needs node and npm)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


MISSING = _missing()
EMBEDDED_ONLY = MISSING == "browser tests run in the embedded pass only"


@pytest.fixture(scope="session", autouse=True)
def _browser_available():  # noqa: ANN202
    """First of this folder's fixtures: skip with the reason, or fail when CI requires the browser."""
    if MISSING is not None:
        if REQUIRED and not EMBEDDED_ONLY:
            pytest.fail(f"UNION_REQUIRE_BROWSER=1 but {MISSING}")
        pytest.skip(MISSING)


_outcomes: dict[str, int] = {"passed": 0, "other": 0}


def pytest_runtest_logreport(report):  # noqa: ANN001, ANN201
    if "tests/browser/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" and report.passed:
        _outcomes["passed"] += 1
    elif report.failed or report.skipped:
        _outcomes["other"] += 1


def pytest_sessionfinish(session, exitstatus):  # noqa: ANN001, ANN201
    if _outcomes["passed"] and not _outcomes["other"] and exitstatus == 0:
        SENTINEL.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + f" {_outcomes['passed']} passed\n")


# ---- pytest-playwright: Debian's Chromium, Chinese, 1366×768 -----------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):  # noqa: ANN001, ANN201
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox", "--disable-gpu"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, portal):  # noqa: ANN001, ANN201
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai", "viewport": VIEWPORT,
            "base_url": portal["base"]}


# ---- the real app and the CAS server -----------------------------------------------------------


@pytest.fixture(scope="session")
def portal(tmp_path_factory):  # noqa: ANN001, ANN201
    """``union serve --demo`` on a free port of 127.0.0.1, its CAS server configured."""
    work = tmp_path_factory.mktemp("portal")
    app_port, cas_port = free_port(), free_port()
    cas_log, app_log = work / "cas.log", work / "app.log"
    cas_cfg = {"user": CAS_USER, "password": CAS_PASSWORD, "attributes": {"xm": CAS_NAME},
               "service_pattern": rf"^http://127\.0\.0\.1:{app_port}/.*$"}
    procs = []
    with open(cas_log, "w") as cas_out, open(app_log, "w") as app_out:
        cas = subprocess.Popen([sys.executable, str(CAS_PEER), str(cas_port), str(work), json.dumps(cas_cfg)],
                               stdout=cas_out, stderr=subprocess.STDOUT)
        procs.append(cas)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNION_")}
        env.update(
            UNION_INSTANCE_PATH=str(work / "instance"),
            UNION_CAS_SERVER_URL=f"http://127.0.0.1:{cas_port}/cas/",
            UNION_PUBLIC_URL=f"http://127.0.0.1:{app_port}",
            UNION_CAS_ATTRIBUTE_MAP=json.dumps({"name": "xm"}),
            UNION_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
            # Exports of more rows than this run as a job (the 统计 page's progress and 我的导出).
            UNION_EXPORT_SYNC_MAX_ROWS="1500",
        )
        union = shutil.which("union", path=str(Path(sys.executable).parent)) or "union"
        app = subprocess.Popen([union, "serve", "--demo", "--host", "127.0.0.1", "--port", str(app_port)],
                               stdout=app_out, stderr=subprocess.STDOUT, env=env, cwd=work)
        procs.append(app)
        try:
            wait_until_up(f"http://127.0.0.1:{cas_port}/cas/login", cas, cas_log, "CAS server", seconds=90)
            wait_until_up(f"http://127.0.0.1:{app_port}/api/v1/health", app, app_log, "union serve --demo", seconds=90)
            yield {"base": f"http://127.0.0.1:{app_port}", "cas": f"http://127.0.0.1:{cas_port}/cas/",
                   "db": work / "instance" / "union.db"}
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


@pytest.fixture(scope="session")
def api(portal):  # noqa: ANN001, ANN201
    """A bearer-token client of the same server, to set the scene and to act as someone else."""

    def client(username: str = "admin") -> requests.Session:
        http = requests.Session()
        r = http.post(portal["base"] + "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD},
                      timeout=10)
        r.raise_for_status()
        http.headers["Authorization"] = "Bearer " + r.json()["token"]
        http.base = portal["base"]  # type: ignore[attr-defined]
        return http

    return client


def sign_in(page, username: str, next_path: str = "/portal/", password: str = DEMO_PASSWORD) -> None:  # noqa: ANN001
    page.goto(next_path)
    page.get_by_placeholder("用户名").fill(username)
    page.get_by_placeholder("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_test_id("who").wait_for()


@pytest.fixture(autouse=True)
def _quick_timeouts(page):  # noqa: ANN001, ANN202
    page.set_default_timeout(10_000)  # a local page answers in well under a second; fail fast
