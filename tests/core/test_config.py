"""Settings are checked once at start: a bad one fails with one line naming its UNION_* variable,
both from create_app and from the `union` command (exit 2, no traceback)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.app import create_app
from server.config import ConfigError
from server.core import db as db_mod
from server.core import queue as queue_mod

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    """No UNION_* setting from the caller's shell leaks in; the process-wide database and queue
    are restored after a test that built an app of its own."""
    for key in [k for k in os.environ if k.startswith("UNION_") and not k.startswith("UNION_TEST_")]:
        monkeypatch.delenv(key)
    saved = (db_mod._slot.peek(), queue_mod._slot.peek())
    yield monkeypatch
    db_mod.set_current(saved[0])
    queue_mod.set_current(saved[1])


BAD_SETTINGS = [
    ({"DATABASE_URL": "postgresql://x/y"}, "UNION_DATABASE_URL"),
    ({"DATABASE_URL": "mysql+pymysql:///union"}, "UNION_DATABASE_URL"),
    ({"TOKEN_TTL_HOURS": "abc"}, "UNION_TOKEN_TTL_HOURS"),
    ({"TOKEN_TTL_HOURS": "0"}, "UNION_TOKEN_TTL_HOURS"),
    ({"LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR": "-1"}, "UNION_LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR"),
    ({"MAX_CONTENT_LENGTH": "20MB"}, "UNION_MAX_CONTENT_LENGTH"),
    ({"REDIS_URL": "http://x"}, "UNION_REDIS_URL"),
    ({"ENV": "staging"}, "UNION_ENV"),
    ({"ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/0"}, "UNION_SECRET_KEY"),
    ({"ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "short"}, "UNION_SECRET_KEY"),
    ({"ENV": "production", "SECRET_KEY": "s" * 40}, "UNION_REDIS_URL"),
    ({"LOGIN_PAIR_LOCK_SECONDS": "86401"}, "UNION_LOGIN_PAIR_LOCK_SECONDS"),
    ({"LOGIN_KNOWN_ADDRESS_DAYS": "0"}, "UNION_LOGIN_KNOWN_ADDRESS_DAYS"),
    # removed by issue 12: set, they would be ignored without a word
    ({"LOGIN_MAX_FAILURES_PER_ADDRESS": "20"}, "UNION_LOGIN_MAX_FAILURES_PER_ADDRESS"),
    ({"LOGIN_FAILURE_WINDOW_SECONDS": "900"}, "UNION_LOGIN_FAILURE_WINDOW_SECONDS"),
]


@pytest.mark.parametrize("settings, variable", BAD_SETTINGS, ids=[v + ":" + ",".join(s.values()) for s, v in BAD_SETTINGS])
def test_bad_setting_raises_config_error_naming_the_variable(clean_env, tmp_path, settings, variable):
    instance = tmp_path / "instance"
    with pytest.raises(ConfigError) as info:
        create_app({"INSTANCE_PATH": str(instance), **settings})
    message = str(info.value)
    assert variable in message
    assert "\n" not in message
    assert not (instance / "union.db").exists()


@pytest.mark.parametrize("settings, variable", BAD_SETTINGS[:3] + BAD_SETTINGS[6:7])
def test_bad_setting_from_environment_is_named_too(clean_env, tmp_path, settings, variable):
    """Operators set UNION_* variables, not a Python mapping: the same check applies."""
    for key, value in settings.items():
        clean_env.setenv(f"UNION_{key}", value)
    clean_env.setenv("UNION_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match=variable):
        create_app()


def test_environment_settings_are_read_and_converted(clean_env, tmp_path):
    """UNION_* variables arrive as text and are converted; the caller's mapping wins over them."""
    clean_env.setenv("UNION_TOKEN_TTL_HOURS", "3")
    clean_env.setenv("UNION_LOGIN_PAIR_MAX_FAILURES", "7")
    clean_env.setenv("UNION_LOGIN_KNOWN_ADDRESS_DAYS", "14")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "LOGIN_PAIR_MAX_FAILURES": 9})
    try:
        assert app.config["TOKEN_TTL_HOURS"] == 3
        assert app.config["LOGIN_PAIR_MAX_FAILURES"] == 9
        limits = app.extensions["union"].throttle.limits
        assert (limits.pair_failures, limits.known_days, limits.account_per_hour) == (9, 14, 20)
    finally:
        app.extensions["union"].db.engine.dispose()


def test_embedded_default_keeps_its_secret_in_the_instance_folder(clean_env, tmp_path):
    """Without any setting the app runs on SQLite in instance/ with a generated secret that
    survives a restart and is readable by its owner only."""
    instance = tmp_path / "instance"
    first = create_app({"INSTANCE_PATH": str(instance)})
    second = create_app({"INSTANCE_PATH": str(instance)})
    try:
        assert first.config["DATABASE_URL"] == f"sqlite:///{instance / 'union.db'}"
        assert len(first.config["SECRET_KEY"]) >= 32
        assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
        mode = stat.S_IMODE((instance / "secret_key").stat().st_mode)
        assert mode == 0o600
        assert first.extensions["union"].queue.inline
    finally:
        first.extensions["union"].db.engine.dispose()
        second.extensions["union"].db.engine.dispose()


def _run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("UNION_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env={**base, "UNION_INSTANCE_PATH": str(tmp_path / "instance"), **env},
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("variable, value", [
    ("UNION_DATABASE_URL", "postgresql://x/y"),
    ("UNION_TOKEN_TTL_HOURS", "abc"),
    ("UNION_REDIS_URL", "http://x"),
])
def test_cli_with_bad_setting_exits_2_with_one_line(tmp_path, variable, value):
    """An operator sees exactly which variable to fix, not a Python traceback."""
    result = _run_cli(tmp_path, "init-db", **{variable: value})
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "instance" / "union.db").exists()


def test_cli_init_db_on_the_embedded_default_creates_the_database(tmp_path):
    """The control case: with nothing configured, init-db succeeds in the instance folder."""
    result = _run_cli(tmp_path, "init-db")
    assert result.returncode == 0, result.stderr
    assert "数据库表已就绪" in result.stdout
    assert (tmp_path / "instance" / "union.db").exists()
