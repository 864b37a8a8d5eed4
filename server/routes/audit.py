"""The audit log, for the school union."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from server.auth import require
from server.domain import audit
from server.routes.common import LocalDateTime, PageArgs, db_session, page_of, page_schema
from server.timeutil import to_utc_naive

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit-log", description="审计日志（校级角色）")


class AuditOut(Schema):
    id = fields.Integer()
    at = LocalDateTime()
    actor_user_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    sub_union_id = fields.Integer(allow_none=True)
    old = fields.Dict(allow_none=True)
    new = fields.Dict(allow_none=True)
    address = fields.String(allow_none=True)


class AuditArgs(PageArgs):
    action = fields.String(load_default=None)
    object_type = fields.String(load_default=None)
    object_id = fields.String(load_default=None)
    actor_user_id = fields.Integer(load_default=None)
    since = fields.DateTime(load_default=None, metadata={"description": "起始时间（北京时间）"})
    until = fields.DateTime(load_default=None, metadata={"description": "截止时间（北京时间，不含）"})


@blp.route("")
class AuditLog(MethodView):
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, page_schema(AuditOut, "AuditPage"))
    def get(self, args):
        """审计日志：谁、何时、做了什么、旧值 → 新值、来源地址"""
        require("audit.read")
        q = audit.AuditQuery(
            action=args["action"], object_type=args["object_type"], object_id=args["object_id"],
            actor_user_id=args["actor_user_id"],
            since=to_utc_naive(args["since"]) if args["since"] else None,
            until=to_utc_naive(args["until"]) if args["until"] else None,
        )
        total, rows = audit.search(db_session(), q, args["page"], args["page_size"])
        return page_of(total, rows, args)
