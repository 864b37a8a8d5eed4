"""Joining the union online (网上入会): the applicant's form and the two review steps."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN, any_of
from server.domain.members import catalogue as cat
from server.domain.members import registry
from server.domain.membership import applications as wf
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.members.records import _catalogue_schema
from server.routes.membership.steps import step
from server.routes.schemas import (
    Label,
    LocalDateTime,
    PageArgs,
    id_field,
    paged,
    through,
)

blp = Blueprint("applications", __name__, url_prefix="/api/v1", description="入会申请")
MINIPROGRAM = ["小程序", "applications"]
FORM_CODES = [f.code for f in cat.CATALOGUE if f.code in wf.APPLICANT_FIELDS]

ApplicationIn = _catalogue_schema("ApplicationIn", FORM_CODES, {
    "submit": fields.Boolean(load_default=False, metadata={"description": "true 提交审核；false 保存为草稿"}),
})
ApplicationPatch = _catalogue_schema("ApplicationPatch", FORM_CODES, {
    "submit": fields.Boolean(load_default=False, metadata={"description": "true 同时提交审核"}),
})
FormValues = _catalogue_schema("ApplicationValues", FORM_CODES, output=True)


def _in_clear(app) -> bool:  # noqa: ANN001
    """Whether the caller sees the application's sensitive values in clear."""
    return wf.can_see_sensitive(current_identity(), app)


class FormAsSeen(fields.Nested):
    """The form as filled, its sensitive values masked unless the caller may see them."""

    def _serialize(self, value, attr, obj, **kwargs):  # noqa: ANN001
        return super()._serialize(registry.masked(value or {}, _in_clear(obj)), attr, obj, **kwargs)


class ApplicationOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "draft 草稿 / submitted 待分工会确认 / confirmed 待校工会审批 / "
                                                    "approved 已通过 / rejected 已驳回 / withdrawn 已撤回"})
    status_label = Label(wf.STATUS_LABELS, "status")
    sub_union_id = fields.Integer(allow_none=True)
    sub_union_name = through("sub_union.name")
    name = fields.String(allow_none=True)
    values = FormAsSeen(FormValues, metadata={"description": "所填表单（无权查看敏感信息的审核人看到脱敏值）"})
    masked_fields = fields.Method("_masked_fields", metadata={"type": "array", "items": {"type": "string"}})
    applicant_user_id = fields.Integer()
    applicant_name = through("applicant.display_name")
    submitted_at = LocalDateTime(allow_none=True)
    confirmed_by_name = through("confirmer.display_name")
    confirmed_at = LocalDateTime(allow_none=True)
    decided_by_name = through("decider.display_name")
    decided_at = LocalDateTime(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    member_no = through("member.member_no", metadata={"description": "审批通过后发放的会员证号"})
    created_at = LocalDateTime()
    updated_at = LocalDateTime()

    def _masked_fields(self, app) -> list[str]:  # noqa: ANN001
        in_clear = _in_clear(app)
        return registry.masked_fields(registry.masked(app.values or {}, in_clear), in_clear)


class QueueArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf([s for s in wf.STATUS_LABELS if s != "draft"]))
    sub_union_id = id_field(load_default=None)


@blp.route("/applications")
class Applications(MethodView):
    @paged(blp, QueueArgs, ApplicationOut, "ApplicationPage")
    @blp.requires("applications.read")
    def get(self, args):
        """入会审核队列（分工会账号只看到本分工会的申请；草稿不在队列中）"""
        return wf.review_queue(db_session(), current_identity(), status=args["status"],
                               sub_union_id=args["sub_union_id"], page=args["page"], page_size=args["page_size"])

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(ApplicationIn)
    @blp.response(201, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def post(self, data):
        """填写入会申请（尚未入会的登录用户；submit 为 true 时提交审核，否则保存草稿）"""
        submit = data.pop("submit", False)
        return wf.create(db_session(), current_identity(), data, submit=submit)


@blp.route("/applications/<int:application_id>")
class ApplicationItem(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def get(self, application_id):
        """入会申请详情（申请人本人，或本范围内的审核人）"""
        return wf.get_readable(db_session(), current_identity(), application_id)

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(ApplicationPatch)
    @blp.response(200, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def patch(self, data, application_id):
        """申请人修改草稿（只需传要改的字段），submit 为 true 时提交审核"""
        session = db_session()
        submit = data.pop("submit", False)
        return wf.edit(session, current_identity(), application_id, data, submit=submit)


step(blp, "/applications/<int:application_id>/confirm", "ApplicationConfirm", wf.confirm, ApplicationOut,
     "applications.confirm", "分工会确认（分工会主席或操作员，限本分工会的申请）")
step(blp, "/applications/<int:application_id>/approve", "ApplicationApprove", wf.approve, ApplicationOut,
     "applications.approve", "校工会审批通过：建立会员记录、发放会员证号、入会时间为审批当天")
step(blp, "/applications/<int:application_id>/reject", "ApplicationReject", wf.reject, ApplicationOut,
     any_of("applications.confirm", "applications.approve"),
     "驳回（待分工会确认时由分工会或校工会，待校工会审批时由校工会），须填写原因", rejects=True)
step(blp, "/applications/<int:application_id>/withdraw", "ApplicationWithdraw", wf.withdraw, ApplicationOut,
     SIGNED_IN, "申请人撤回（审批通过之前）", miniprogram=True)


@blp.route("/me/applications")
class MyApplications(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, ApplicationOut(many=True))
    @blp.requires(SIGNED_IN)
    def get(self):
        """本人的入会申请及其状态（最新的在前）"""
        return wf.mine(db_session(), current_identity())
