"""Status changes (离职 / 退休 / 去世 / 复职) and the member's 会籍 events (组织关系接转)."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import any_of
from server.domain.members import registry
from server.domain.membership import status_changes as wf
from server.domain.membership.steps import membership_events
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.membership.steps import step
from server.routes.schemas import (
    Label,
    LocalDateTime,
    MemberCaseOut,
    PageArgs,
    id_field,
    paged,
    reason_field,
    through,
)

blp = Blueprint("status_changes", __name__, url_prefix="/api/v1", description="会员状态变更与会籍记录")


class StatusChangeIn(Schema):
    member_id = id_field(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(wf.KINDS),
                         metadata={"description": "离职 / 退休 / 去世 / 复职"})
    effective_date = fields.Date(required=True, metadata={"description": "生效日期"})
    reason = reason_field("变更原因")


class StatusChangeOut(MemberCaseOut):
    sub_union_id = fields.Integer()
    sub_union_name = through("sub_union.name")
    kind = fields.String()
    effective_date = fields.Date()
    reason = fields.String()
    status = fields.String(metadata={"description": "requested 待校工会审批 / approved 已通过 / rejected 已驳回 / "
                                                    "cancelled 已取消"})
    status_label = Label(wf.STATUS_LABELS, "status")
    requested_by_name = through("requester.display_name")
    decided_by_name = through("decider.display_name")
    decided_at = LocalDateTime(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    created_at = LocalDateTime()


class StatusChangeListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(list(wf.STATUS_LABELS)))
    member_id = id_field(load_default=None)


class MembershipEventOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "入会 / 重新入会 / 转会 / 退休保留会籍 / 离职转出 / 去世注销 / 复职恢复"})
    effective_date = fields.Date()
    reason = fields.String(allow_none=True)
    from_sub_union_id = fields.Integer(allow_none=True)
    from_sub_union_name = through("from_sub_union.name")
    to_sub_union_id = fields.Integer(allow_none=True)
    to_sub_union_name = through("to_sub_union.name")
    ref_type = fields.String(allow_none=True)
    ref_id = fields.Integer(allow_none=True)
    created_at = LocalDateTime()


@blp.route("/status-changes")
class StatusChanges(MethodView):
    @paged(blp, StatusChangeListArgs, StatusChangeOut, "StatusChangePage")
    @blp.requires("members.read")
    def get(self, args):
        """状态变更申请列表（分工会账号只看到本分工会的）"""
        return wf.search(db_session(), current_identity(), status=args["status"],
                         member_id=args["member_id"], page=args["page"], page_size=args["page_size"])

    @blp.errors(404)
    @blp.arguments(StatusChangeIn)
    @blp.response(201, StatusChangeOut)
    @blp.requires("status_changes.request")
    def post(self, data):
        """申请状态变更：离职、退休、去世、复职（分工会或校工会），须填写生效日期与原因"""
        return wf.request(db_session(), current_identity(), member_id=data["member_id"], kind=data["kind"],
                          effective_date=data["effective_date"], reason=data["reason"])


@blp.route("/status-changes/<int:change_id>")
class StatusChangeItem(MethodView):
    @blp.response(200, StatusChangeOut)
    @blp.requires("members.read")
    def get(self, change_id):
        """状态变更申请详情"""
        return wf.get_readable(db_session(), current_identity(), change_id)


def _approve(session, identity, change_id: int):  # noqa: ANN001, ANN202
    return wf.approve(session, identity, change_id, retirees_code=current_app.config.get("RETIREES_SUB_UNION_CODE"))


step(blp, "/status-changes/<int:change_id>/approve", "StatusChangeApprove", _approve, StatusChangeOut,
     "status_changes.approve", "校工会审批通过：人员状态与会籍状态随之变更（退休者转入离退休分工会），记入会籍记录")
step(blp, "/status-changes/<int:change_id>/reject", "StatusChangeReject", wf.reject, StatusChangeOut,
     "status_changes.approve", "校工会驳回，须填写原因", rejects=True)
step(blp, "/status-changes/<int:change_id>/cancel", "StatusChangeCancel", wf.cancel, StatusChangeOut,
     any_of("status_changes.request", "status_changes.approve"), "取消（申请人或校工会，审批之前）")


@blp.route("/members/<int:member_id>/membership-events")
class MemberEvents(MethodView):
    @blp.response(200, MembershipEventOut(many=True))
    @blp.requires("members.history")
    def get(self, member_id):
        """会籍记录（组织关系接转）：入会、转会、退休、离职、去世、复职，各带日期与原因"""
        session = db_session()
        member = registry.get_in_scope(session, current_identity(), member_id, "members.history")
        return membership_events(session, member.id)
