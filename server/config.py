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
    # sign-in throttling (issue 12, server/domain/login_throttle.py): every limit falls on the
    # failing username and network, never on the owner at a network they signed in from
    "LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR": 20,  # per username, all networks together
    "LOGIN_PAIR_MAX_FAILURES": 5,  # per (username, network) within the window: then that pair is locked
    "LOGIN_PAIR_WINDOW_SECONDS": 900,
    "LOGIN_PAIR_LOCK_SECONDS": 900,  # the first lock; each further one within a day lasts twice as long
    "LOGIN_ADDRESS_MAX_FAILING_USERNAMES": 10,  # once reached, a failure from that network locks its pair at once
    "LOGIN_KNOWN_ADDRESS_DAYS": 30,  # networks the account signed in from stay open when its budget is spent
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    "TRUST_PROXY_HOPS": 0,  # set to 1 behind one reverse proxy so X-Forwarded-For is honoured
    "SQL_ECHO": False,
    # exports hold personal data: files older than this are deleted (the audit row stays)
    "EXPORT_RETENTION_DAYS": 7,
    # member imports of more rows than this run as a job (202, then GET /api/v1/members/imports/{id})
    "IMPORT_SYNC_MAX_ROWS": 2000,
    # --- identity (issue 6): campus SSO, WeChat mini-program, portal sessions ---
    "PUBLIC_URL": None,  # https://union.example.edu.cn — the base of SSO callback URLs
    "PORTAL_SESSION_HOURS": 8,
    "SSO_TIMEOUT_SECONDS": 10,  # every HTTP call to CAS or the OIDC provider
    "CAS_SERVER_URL": None,  # https://cas.example.edu.cn/cas/ — None: no CAS
    "CAS_VERSION": "3",  # 3: /p3/serviceValidate with attributes; 2: /serviceValidate
    "CAS_ATTRIBUTE_MAP": "{}",  # JSON: {"name": "xm", "department": "dwmc", "category": "rylb"}
    "CAS_MAX_RESPONSE_BYTES": 256 * 1024,
    "OIDC_METADATA_URL": None,  # https://idp.example.edu.cn/.well-known/openid-configuration
    "OIDC_CLIENT_ID": None,
    "OIDC_CLIENT_SECRET": None,
    "OIDC_SCOPE": "openid profile",
    "OIDC_ATTRIBUTE_MAP": "{}",  # JSON: {"staff_no": "sub", "name": "name", …}
    "WECHAT_APPID": None,  # None: development login with codes "dev:<openid>" (never in production)
    "WECHAT_SECRET": None,
    "WECHAT_API_BASE_URL": "https://api.weixin.qq.com/",
    "WECHAT_TIMEOUT_SECONDS": 5,
    "WECHAT_BIND_MAX_TRIES_PER_HOUR": 5,
    "ALLOW_NO_SSO": False,  # production without WeChat and SSO settings: only with this opt-out
}

_INT_KEYS = (
    "TOKEN_TTL_HOURS",
    "LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR",
    "LOGIN_PAIR_MAX_FAILURES",
    "LOGIN_PAIR_WINDOW_SECONDS",
    "LOGIN_PAIR_LOCK_SECONDS",
    "LOGIN_ADDRESS_MAX_FAILING_USERNAMES",
    "LOGIN_KNOWN_ADDRESS_DAYS",
    "MAX_CONTENT_LENGTH",
    "TRUST_PROXY_HOPS",
    "EXPORT_RETENTION_DAYS",
    "IMPORT_SYNC_MAX_ROWS",
    "PORTAL_SESSION_HOURS",
    "SSO_TIMEOUT_SECONDS",
    "CAS_MAX_RESPONSE_BYTES",
    "WECHAT_TIMEOUT_SECONDS",
    "WECHAT_BIND_MAX_TRIES_PER_HOUR",
)

# Settings that no longer exist: set, they would be silently ignored, so start refuses them.
REMOVED = {
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": "UNION_LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR（每账号每小时）",
    "LOGIN_MAX_FAILURES_PER_ADDRESS": "UNION_LOGIN_PAIR_MAX_FAILURES 与 UNION_LOGIN_ADDRESS_MAX_FAILING_USERNAMES",
    "LOGIN_FAILURE_WINDOW_SECONDS": "UNION_LOGIN_PAIR_WINDOW_SECONDS",
}


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
    for key, instead in REMOVED.items():
        if key in cfg:
            _fail(key, f"已取消，请改用 {instead}（见 README 配置表）")
    for key in _INT_KEYS:
        try:
            cfg[key] = int(cfg[key])
        except (TypeError, ValueError):
            _fail(key, f"应为整数，实际为 {cfg[key]!r}")
        if cfg[key] < 0 or (cfg[key] == 0 and key != "TRUST_PROXY_HOPS"):
            _fail(key, f"应为正整数，实际为 {cfg[key]!r}")
    for key in ("LOGIN_PAIR_WINDOW_SECONDS", "LOGIN_PAIR_LOCK_SECONDS"):
        if cfg[key] > 86400:
            _fail(key, f"不能超过 86400（一天），实际为 {cfg[key]}")
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
    _validate_identity(cfg)


IDENTITY_MAP_KEYS = ("staff_no", "name", "department", "category", "email", "mobile")


def _validate_identity(cfg: dict[str, Any]) -> None:
    """SSO and WeChat settings (issue 6); production must not silently fall back to dev login."""
    import json

    if isinstance(cfg["ALLOW_NO_SSO"], str):
        cfg["ALLOW_NO_SSO"] = cfg["ALLOW_NO_SSO"].lower() in ("1", "true", "yes")
    for key in ("PUBLIC_URL", "CAS_SERVER_URL", "OIDC_METADATA_URL", "WECHAT_API_BASE_URL"):
        value = cfg[key]
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            _fail(key, f"应为 http:// 或 https:// 开头的完整地址，实际为 {value!r}")
    if cfg["PUBLIC_URL"]:
        cfg["PUBLIC_URL"] = cfg["PUBLIC_URL"].rstrip("/")
    if cfg["CAS_SERVER_URL"] and not cfg["CAS_SERVER_URL"].endswith("/"):
        cfg["CAS_SERVER_URL"] += "/"  # python-cas joins "login" onto it
    if not cfg["WECHAT_API_BASE_URL"].endswith("/"):
        cfg["WECHAT_API_BASE_URL"] += "/"
    cfg["CAS_VERSION"] = str(cfg["CAS_VERSION"])
    if cfg["CAS_VERSION"] not in ("2", "3"):
        _fail("CAS_VERSION", f"应为 2 或 3，实际为 {cfg['CAS_VERSION']!r}")
    for key in ("CAS_ATTRIBUTE_MAP", "OIDC_ATTRIBUTE_MAP"):
        raw = cfg[key]
        try:
            mapping = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            _fail(key, f"应为 JSON 对象，实际为 {raw!r}")
        if not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values()):
            _fail(key, "应为 JSON 对象，值为属性名（字符串）")
        unknown = sorted(set(mapping) - set(IDENTITY_MAP_KEYS))
        if unknown:
            _fail(key, f"未知的键 {', '.join(unknown)}；可用：{', '.join(IDENTITY_MAP_KEYS)}")
        cfg[key] = mapping
    if cfg["OIDC_METADATA_URL"] and not cfg["OIDC_CLIENT_ID"]:
        _fail("OIDC_CLIENT_ID", "设置了 UNION_OIDC_METADATA_URL 时必须设置")
    if bool(cfg["WECHAT_APPID"]) != bool(cfg["WECHAT_SECRET"]):
        _fail("WECHAT_SECRET" if cfg["WECHAT_APPID"] else "WECHAT_APPID", "WECHAT_APPID 与 WECHAT_SECRET 须同时设置")
    if cfg["ENV"] == "production" and not cfg["ALLOW_NO_SSO"]:
        if not cfg["WECHAT_APPID"]:
            _fail("WECHAT_APPID", "生产环境必须配置微信小程序（或设置 UNION_ALLOW_NO_SSO=1 明确放弃）")
        if not (cfg["CAS_SERVER_URL"] or cfg["OIDC_METADATA_URL"]):
            _fail("CAS_SERVER_URL", "生产环境必须配置 CAS 或 OIDC 统一身份认证（或设置 UNION_ALLOW_NO_SSO=1 明确放弃）")
    if cfg["ENV"] == "production" and (cfg["CAS_SERVER_URL"] or cfg["OIDC_METADATA_URL"]) and not cfg["PUBLIC_URL"]:
        _fail("PUBLIC_URL", "生产环境配置了统一身份认证时必须设置本站对外地址（回调地址以它为准）")


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
