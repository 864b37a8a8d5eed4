"""The audit log, for the school union."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from server.core.errors import Invalid
from server.core.timeutil import to_utc_naive
from server.domain.audit import log
from server.routes.common import Blueprint
from server.routes.context import db_session
from server.routes.schemas import LocalDateTime, PageArgs, id_field, paged

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
    actor_user_id = id_field(load_default=None)
    since = fields.DateTime(load_default=None, metadata={"description": "起始时间（北京时间）"})
    until = fields.DateTime(load_default=None, metadata={"description": "截止时间（北京时间，不含）"})


@blp.route("")
class AuditLog(MethodView):
    @paged(blp, AuditArgs, AuditOut, "AuditPage")
    @blp.requires("audit.read")
    def get(self, args):
        """审计日志：谁、何时、做了什么、旧值 → 新值、来源地址"""
        q = log.AuditQuery(
            action=args["action"], object_type=args["object_type"], object_id=args["object_id"],
            actor_user_id=args["actor_user_id"],
            since=_utc(args, "since"),
            until=_utc(args, "until"),
        )
        return log.search(db_session(), q, args["page"], args["page_size"])


def _utc(args: dict, key: str):  # noqa: ANN202
    """A typed time in UTC; 0001-01-01 or 9999-12-31 may not survive the shift (422, not 500)."""
    if args[key] is None:
        return None
    try:
        return to_utc_naive(args[key])
    except OverflowError:
        raise Invalid({key: "日期时间超出范围"}) from None

blueprints = [blp]
