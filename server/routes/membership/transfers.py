"""Transfers between sub-unions (转会): request, three approvals, reject, cancel."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN, any_of
from server.domain.membership import transfers as wf
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

blp = Blueprint("transfers", __name__, url_prefix="/api/v1", description="转会")
MINIPROGRAM = ["小程序", "transfers"]


class TransferIn(Schema):
    member_id = id_field(required=True, metadata={"description": "转会的会员；会员本人申请时为本人的会员编号"})
    to_sub_union_id = id_field(required=True, metadata={"description": "转入分工会"})
    reason = reason_field("转会原因")


class TransferOut(MemberCaseOut):
    from_sub_union_id = fields.Integer()
    from_sub_union_name = through("from_sub_union.name")
    to_sub_union_id = fields.Integer()
    to_sub_union_name = through("to_sub_union.name")
    reason = fields.String()
    status = fields.String(metadata={"description": "requested 待转出分工会审批 / out_approved 待校工会审批 / "
                                                    "school_approved 待转入分工会接收 / accepted 已转入 / "
                                                    "rejected 已驳回 / cancelled 已取消"})
    status_label = Label(wf.STATUS_LABELS, "status")
    requested_by_name = through("requester.display_name")
    out_approved_by_name = through("out_approver.display_name")
    out_approved_at = LocalDateTime(allow_none=True)
    school_approved_by_name = through("school_approver.display_name")
    school_approved_at = LocalDateTime(allow_none=True)
    accepted_by_name = through("acceptor.display_name")
    accepted_at = LocalDateTime(allow_none=True)
    rejected_by_name = through("rejecter.display_name")
    rejected_at = LocalDateTime(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    cancelled_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()
    updated_at = LocalDateTime()


class TransferListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(list(wf.STATUS_LABELS)))
    member_id = id_field(load_default=None)


@blp.route("/transfers")
class Transfers(MethodView):
    @paged(blp, TransferListArgs, TransferOut, "TransferPage")
    @blp.requires("members.read")
    def get(self, args):
        """转会申请列表（分工会账号看到转出或转入本分工会的申请）"""
        return wf.search(db_session(), current_identity(), status=args["status"],
                         member_id=args["member_id"], page=args["page"], page_size=args["page_size"])

    @blp.doc(tags=MINIPROGRAM)
    @blp.errors(404)
    @blp.arguments(TransferIn)
    @blp.response(201, TransferOut)
    @blp.requires(SIGNED_IN)
    def post(self, data):
        """申请转会（会员本人、转出分工会或校工会）"""
        return wf.request(db_session(), current_identity(), member_id=data["member_id"],
                          to_sub_union_id=data["to_sub_union_id"], reason=data["reason"])


@blp.route("/transfers/<int:transfer_id>")
class TransferItem(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, TransferOut)
    @blp.requires(SIGNED_IN)
    def get(self, transfer_id):
        """转会申请详情"""
        return wf.get_readable(db_session(), current_identity(), transfer_id)


step(blp, "/transfers/<int:transfer_id>/approve", "TransferApprove", wf.approve, TransferOut,
     any_of("transfers.approve_out", "transfers.approve"),
     "审批：待转出分工会审批时由转出分工会主席，待校工会审批时由校工会")
step(blp, "/transfers/<int:transfer_id>/accept", "TransferAccept", wf.accept, TransferOut, "transfers.accept",
     "转入分工会主席接收：会员在同一事务中转入本分工会")
step(blp, "/transfers/<int:transfer_id>/reject", "TransferReject", wf.reject, TransferOut,
     any_of("transfers.approve_out", "transfers.approve", "transfers.accept"),
     "驳回（当前步骤的审批人，或校工会），须填写原因", rejects=True)
step(blp, "/transfers/<int:transfer_id>/cancel", "TransferCancel", wf.cancel, TransferOut, SIGNED_IN,
     "取消（申请人或校工会，转入分工会接收之前）", miniprogram=True)


@blp.route("/me/transfers")
class MyTransfers(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, TransferOut(many=True))
    @blp.requires("self.read")
    def get(self):
        """本人的转会申请"""
        return wf.mine(db_session(), current_identity())
