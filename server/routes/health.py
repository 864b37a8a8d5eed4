"""Is the service up: the database and (in production) Redis answer. For load balancers and
monitoring; no sign-in, no data."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.routes.common import Blueprint
from server.routes.context import runtime

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="运行状态")


class HealthOut(Schema):
    ok = fields.Boolean(required=True)
    status = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "database / queue：ok、down 或 inline（内置模式同步执行）"})


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthOut)
    @blp.alt_response(503, schema=HealthOut, description="数据库或 Redis 不可用")
    @blp.public
    def get(self):
        """运行状态（负载均衡与监控用，无需登录）"""
        rt = runtime()
        status = {"database": "ok", "queue": "inline" if rt.queue.inline else "ok"}
        try:
            rt.db.session().execute(text("SELECT 1"))
        except OperationalError:
            status["database"] = "down"
        if not rt.queue.inline:
            try:
                rt.queue.redis.ping()
            except Exception:  # noqa: BLE001
                status["queue"] = "down"
        ok = "down" not in status.values()
        return {"status": status, "ok": ok}, 200 if ok else 503

blueprints = [blp]
