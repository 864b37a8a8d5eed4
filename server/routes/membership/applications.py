"""Joining the union online (网上入会): the applicant's form and the two review steps."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN, any_of
from server.domain.members import catalogue as cat
from server.domain.members import registry
from server.domain.membership import applications as wf
from server.domain.membership.steps import names
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.members.records import _catalogue_schema
from server.routes.schemas import LocalDateTime, PageArgs, id_field, page_of, page_schema

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


class ApplicationOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "draft 草稿 / submitted 待分工会确认 / confirmed 待校工会审批 / "
                                                    "approved 已通过 / rejected 已驳回 / withdrawn 已撤回"})
    status_label = fields.String()
    sub_union_id = fields.Integer(allow_none=True)
    sub_union_name = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    values = fields.Nested(FormValues, metadata={"description": "所填表单（无权查看敏感信息的审核人看到脱敏值）"})
    masked_fields = fields.List(fields.String())
    applicant_user_id = fields.Integer()
    applicant_name = fields.String(allow_none=True)
    submitted_at = LocalDateTime(allow_none=True)
    confirmed_by_name = fields.String(allow_none=True)
    confirmed_at = LocalDateTime(allow_none=True)
    decided_by_name = fields.String(allow_none=True)
    decided_at = LocalDateTime(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    member_no = fields.String(allow_none=True, metadata={"description": "审批通过后发放的会员证号"})
    created_at = LocalDateTime()
    updated_at = LocalDateTime()


class QueueArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf([s for s in wf.STATUS_LABELS if s != "draft"]))
    sub_union_id = id_field(load_default=None)


class ApplicationRejectIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "驳回原因"})


def render(app) -> dict:  # noqa: ANN001
    session = db_session()
    identity = current_identity()
    can_see = wf.can_see_sensitive(identity, app)
    values = registry.masked(app.values or {}, can_see)
    people = names(session, {app.applicant_user_id, app.confirmed_by, app.decided_by})
    member_no = None
    if app.member_id:
        from server.domain.members.models import Member

        member = session.get(Member, app.member_id)
        member_no = member.member_no if member else None
    return {
        "id": app.id, "status": app.status, "status_label": wf.STATUS_LABELS[app.status],
        "sub_union_id": app.sub_union_id,
        "sub_union_name": registry.sub_union_names(session, {app.sub_union_id}).get(app.sub_union_id)
        if app.sub_union_id else None,
        "name": app.name, "values": values,
        "masked_fields": [] if can_see else sorted(c for c in cat.SENSITIVE if values.get(c)),
        "applicant_user_id": app.applicant_user_id, "applicant_name": people.get(app.applicant_user_id),
        "submitted_at": app.submitted_at, "confirmed_by_name": people.get(app.confirmed_by),
        "confirmed_at": app.confirmed_at, "decided_by_name": people.get(app.decided_by),
        "decided_at": app.decided_at, "reject_reason": app.reject_reason, "member_id": app.member_id,
        "member_no": member_no, "created_at": app.created_at, "updated_at": app.updated_at,
    }


@blp.route("/applications")
class Applications(MethodView):
    @blp.arguments(QueueArgs, location="query")
    @blp.response(200, page_schema(ApplicationOut, "ApplicationPage"))
    @blp.requires("applications.read")
    def get(self, args):
        """入会审核队列（分工会账号只看到本分工会的申请；草稿不在队列中）"""
        total, rows = wf.review_queue(db_session(), current_identity(), status=args["status"],
                                      sub_union_id=args["sub_union_id"], page=args["page"],
                                      page_size=args["page_size"])
        return page_of(total, [render(a) for a in rows], args)

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(ApplicationIn)
    @blp.response(201, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def post(self, data):
        """填写入会申请（尚未入会的登录用户；submit 为 true 时提交审核，否则保存草稿）"""
        submit = data.pop("submit", False)
        return render(wf.create(db_session(), current_identity(), data, submit=submit))


@blp.route("/applications/<int:application_id>")
class ApplicationItem(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def get(self, application_id):
        """入会申请详情（申请人本人，或本范围内的审核人）"""
        return render(wf.get_readable(db_session(), current_identity(), application_id))

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(ApplicationPatch)
    @blp.response(200, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def patch(self, data, application_id):
        """申请人修改草稿（只需传要改的字段），submit 为 true 时提交审核"""
        session = db_session()
        submit = data.pop("submit", False)
        return render(wf.edit(session, current_identity(), application_id, data, submit=submit))


@blp.route("/applications/<int:application_id>/confirm")
class ApplicationConfirm(MethodView):
    @blp.response(200, ApplicationOut)
    @blp.requires("applications.confirm")
    def post(self, application_id):
        """分工会确认（分工会主席或操作员，限本分工会的申请）"""
        session = db_session()
        return render(wf.confirm(session, current_identity(), application_id))


@blp.route("/applications/<int:application_id>/approve")
class ApplicationApprove(MethodView):
    @blp.response(200, ApplicationOut)
    @blp.requires("applications.approve")
    def post(self, application_id):
        """校工会审批通过：建立会员记录、发放会员证号、入会时间为审批当天"""
        session = db_session()
        return render(wf.approve(session, current_identity(), application_id))


@blp.route("/applications/<int:application_id>/reject")
class ApplicationReject(MethodView):
    @blp.arguments(ApplicationRejectIn)
    @blp.response(200, ApplicationOut)
    @blp.requires(any_of("applications.confirm", "applications.approve"))
    def post(self, data, application_id):
        """驳回（待分工会确认时由分工会或校工会，待校工会审批时由校工会），须填写原因"""
        session = db_session()
        return render(wf.reject(session, current_identity(), application_id, data["reason"]))


@blp.route("/applications/<int:application_id>/withdraw")
class ApplicationWithdraw(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, ApplicationOut)
    @blp.requires(SIGNED_IN)
    def post(self, application_id):
        """申请人撤回（审批通过之前）"""
        session = db_session()
        return render(wf.withdraw(session, current_identity(), application_id))


@blp.route("/me/applications")
class MyApplications(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, ApplicationOut(many=True))
    @blp.requires(SIGNED_IN)
    def get(self):
        """本人的入会申请及其状态（最新的在前）"""
        return [render(a) for a in wf.mine(db_session(), current_identity())]
