"""Configuration: defaults, then ``UNION_*`` environment variables, then the caller's mapping.

Everything is validated once at start so that a bad setting fails with one line naming it,
instead of surfacing as an obscure error on the first request.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULTS: dict[str, Any] = {
    "ENV": "development",  # development | test | production
    "DATABASE_URL": None,  # None: SQLite file instance/union.db
    "REDIS_URL": None,  # None: fakeredis, jobs run inline
    "QUEUE_NAME": "union",
    "REDIS_PREFIX": "union:",
    "SECRET_KEY": None,  # None outside production: generated once and kept in instance/
    "TOKEN_TTL_HOURS": 12,
    "PASSWORD_HASH_METHOD": "scrypt",
    "LOGIN_FAILURE_WINDOW_SECONDS": 900,
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    "TRUST_PROXY_HOPS": 0,  # set to 1 behind one reverse proxy so X-Forwarded-For is honoured
    "SQL_ECHO": False,
}

_INT_KEYS = (
    "TOKEN_TTL_HOURS",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
    "LOGIN_MAX_FAILURES_PER_ADDRESS",
    "MAX_CONTENT_LENGTH",
    "TRUST_PROXY_HOPS",
)


class ConfigError(Exception):
    """A setting that cannot work; the message is one line naming the UNION_* variable."""


def load(overrides: dict[str, Any] | None, instance_path: str) -> dict[str, Any]:
    """Merge defaults, environment and overrides, then validate and normalise."""
    cfg = dict(DEFAULTS)
    prefix = "UNION_"
    for key, value in os.environ.items():
        if key.startswith(prefix) and not key.startswith("UNION_TEST_"):
            cfg[key[len(prefix):]] = value
    cfg.update(overrides or {})
    _validate(cfg, instance_path)
    return cfg


def _fail(key: str, why: str) -> None:
    raise ConfigError(f"配置项 UNION_{key} 无效：{why}")


def _validate(cfg: dict[str, Any], instance_path: str) -> None:
    if cfg["ENV"] not in ("development", "test", "production"):
        _fail("ENV", f"应为 development、test 或 production，实际为 {cfg['ENV']!r}")
    for key in _INT_KEYS:
        try:
            cfg[key] = int(cfg[key])
        except (TypeError, ValueError):
            _fail(key, f"应为整数，实际为 {cfg[key]!r}")
        if cfg[key] < 0 or (cfg[key] == 0 and key != "TRUST_PROXY_HOPS"):
            _fail(key, f"应为正整数，实际为 {cfg[key]!r}")
    if isinstance(cfg["SQL_ECHO"], str):
        cfg["SQL_ECHO"] = cfg["SQL_ECHO"].lower() in ("1", "true", "yes")

    url = cfg["DATABASE_URL"]
    if not url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'union.db'}"
    else:
        scheme = urlsplit(url).scheme
        if scheme not in ("sqlite", "mysql+pymysql"):
            _fail("DATABASE_URL", f"只支持 mysql+pymysql:// 或 sqlite:///，实际为 {scheme or url!r}")
        if scheme == "mysql+pymysql" and not urlsplit(url).hostname and "unix_socket" not in url:
            _fail("DATABASE_URL", "缺少主机名")
    redis_url = cfg["REDIS_URL"]
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        _fail("REDIS_URL", f"应以 redis://、rediss:// 或 unix:// 开头，实际为 {redis_url!r}")

    if not cfg["SECRET_KEY"]:
        if cfg["ENV"] == "production":
            _fail("SECRET_KEY", "生产环境必须设置（至少 32 个字符的随机串）")
        cfg["SECRET_KEY"] = _instance_secret(instance_path)
    elif cfg["ENV"] == "production" and len(str(cfg["SECRET_KEY"])) < 32:
        _fail("SECRET_KEY", "生产环境至少需要 32 个字符")
    if cfg["ENV"] == "production" and not cfg["REDIS_URL"]:
        _fail("REDIS_URL", "生产环境必须设置（任务队列与登录限流依赖 Redis）")


def _instance_secret(instance_path: str) -> str:
    """A per-installation key for the embedded default, so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
