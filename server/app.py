"""create_app(config): the only place that wires things together."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime
from types import ModuleType
from typing import Any

import orjson
from flask import Flask, Response, g, jsonify, redirect
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.exc import IntegrityError

from server import config as config_mod
from server.core import access
from server.core import db as db_mod
from server.core import queue as queue_mod
from server.domain.accounts.login_throttle import LoginThrottle, ThrottleLimits
from server.routes import errors
from server.routes.common import UnionApi

log = logging.getLogger(__name__)

# Every business area, in the order its operations appear in the API document. An area is
# ``server/domain/<area>/`` (its ``models.py`` and ``permissions.py`` when it has them) and
# ``server/routes/<area>`` (``blueprints``, and ``init_app(app)`` when it needs one); adding an
# area is adding its name here. See DESIGN.md "Layout".
AREAS: tuple[str, ...] = ("identity", "accounts", "org", "members", "audit", "statistics", "membership")


def area_modules(package: str, names: tuple[str, ...], *, optional: bool = False) -> list[ModuleType]:
    """``package.<name>`` for each area name; with ``optional``, only those that exist."""
    found = []
    for name in names:
        dotted = f"{package}.{name}"
        if optional and importlib.util.find_spec(dotted) is None:
            continue
        found.append(importlib.import_module(dotted))
    return found


def load_models() -> None:
    """Import every area's ``models.py`` so that ``Base.metadata`` knows all tables (create_all,
    schema.sql, migrations). The infrastructure's own tables come with :mod:`server.core.models`."""
    importlib.import_module("server.core.models")
    for area in AREAS:
        area_modules(f"server.domain.{area}", ("models",), optional=True)


def area_permissions() -> list:
    """Every area's declared permissions (``server/domain/<area>/permissions.py``), in AREAS order."""
    return [p for module in area_modules("server.domain", tuple(f"{a}.permissions" for a in AREAS), optional=True)
            for p in module.PERMISSIONS]


def load_permissions() -> None:
    """Compose the role table from the areas' declarations (core imports no area, so the app
    hands them in)."""
    access.register(area_permissions())


class IsoJSONProvider(DefaultJSONProvider):
    """Chinese as is, keys in order, dates as ISO 8601 (Flask's default is an HTTP date).

    Compact answers are encoded by orjson, which writes the same JSON for everything we answer
    (dates and datetimes as ISO 8601, keys in order, UTF-8 as is). The standard encoder spent
    0.4 ms on a page of 50 members, more than a tenth of the list request's own Python time;
    orjson takes 0.03 ms. What orjson refuses (a lone surrogate, an integer beyond 64 bits)
    and the indented form of debug mode go through the standard encoder.
    """

    ensure_ascii = False
    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, (date, datetime)):
            return o.isoformat()
        return DefaultJSONProvider.default(o)

    def _fast(self, obj: Any) -> bytes | None:
        try:
            return orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            return None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs and (encoded := self._fast(obj)) is not None:
            return encoded.decode()
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        encoded = self._fast(obj)
        if encoded is None:  # \u-escaped: a lone surrogate then cannot fail the answer's UTF-8 encoding
            encoded = super().dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()
        return self._app.response_class(encoded + b"\n", mimetype=self.mimetype)


@dataclass
class Runtime:
    """What the process holds besides Flask itself; the web tier keeps no other state."""

    db: db_mod.Database
    queue: queue_mod.JobQueue
    throttle: LoginThrottle

    @property
    def redis(self) -> Any:
        return self.queue.redis


def create_app(config: dict[str, Any] | None = None) -> Flask:
    instance_path = os.path.abspath(
        os.environ.get("UNION_INSTANCE_PATH") or (config or {}).get("INSTANCE_PATH") or "instance"
    )
    cfg = config_mod.load(config, instance_path)
    load_models()
    load_permissions()
    app = Flask(__name__, instance_path=instance_path)
    app.config.update(cfg)
    app.config.update(
        API_TITLE="工会智慧平台 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="api/v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=cfg.get("SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"),
        API_SPEC_OPTIONS={
            "info": {"description": "高校工会会员数据库与服务。所有时间为北京时间；错误返回 JSON：status、code、message、fields。"},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.json = IsoJSONProvider(app)
    if cfg["TRUST_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg["TRUST_PROXY_HOPS"], x_proto=1, x_host=1)

    database = db_mod.Database(cfg["DATABASE_URL"], echo=cfg["SQL_ECHO"])
    queue = queue_mod.JobQueue(cfg["REDIS_URL"], cfg["QUEUE_NAME"])
    db_mod.set_current(database)
    queue_mod.set_current(queue)
    throttle = LoginThrottle(queue.redis, cfg["REDIS_PREFIX"], ThrottleLimits(
        account_per_hour=cfg["LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR"],
        pair_failures=cfg["LOGIN_PAIR_MAX_FAILURES"],
        pair_window=cfg["LOGIN_PAIR_WINDOW_SECONDS"],
        pair_lock=cfg["LOGIN_PAIR_LOCK_SECONDS"],
        address_usernames=cfg["LOGIN_ADDRESS_MAX_FAILING_USERNAMES"],
        known_days=cfg["LOGIN_KNOWN_ADDRESS_DAYS"],
    ))
    app.extensions["union"] = Runtime(database, queue, throttle)

    from server.routes.common import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route is added
    api = UnionApi(app)
    for module in area_modules("server.routes", ("health", *AREAS)):
        for blueprint in module.blueprints:
            api.register_blueprint(blueprint)
        if hasattr(module, "init_app"):
            module.init_app(app)
    errors.register(app)
    _unit_of_work_per_request(app, database)

    from server import portal

    portal.init_app(app)  # issue 14: the staff portal at /portal/

    @app.get("/")
    def index():
        response = (redirect("/portal/", code=302) if portal.wants_page()
                    else jsonify(name="工会智慧平台", docs="/docs", openapi="/api/v1/openapi.json"))
        response.vary.add("Accept")
        return response

    return app


def _unit_of_work_per_request(app: Flask, database: db_mod.Database) -> None:
    """One transaction per request: committed when the answer is a success (or a failure that
    must keep its audit row), rolled back otherwise. An answer registered with
    :func:`server.routes.context.answer_after_commit` replaces the view's once the commit (and
    the work registered to follow it) is done."""

    @app.after_request
    def _commit(response):
        if not database.session.registry.has():
            return response
        session = database.session()
        committed = False
        try:
            if response.status_code < 400 or g.get("keep_changes"):
                session.commit()
                committed = True
            else:
                session.rollback()
        except IntegrityError:
            session.rollback()
            log.warning("integrity error at commit", exc_info=True)
            return errors.error_response(409, "conflict", "数据已被他人修改或与已有记录重复，请刷新后重试")
        except Exception:
            session.rollback()
            log.exception("commit failed")
            return errors.error_response(500, "internal_error", "服务器内部错误，请稍后再试")
        answer = g.pop("answer_after_commit", None)
        return answer() if committed and answer is not None else response

    @app.teardown_appcontext
    def _remove(_exc):  # noqa: ANN001
        database.session.remove()
