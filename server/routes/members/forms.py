"""The printed 《工会会员登记表》 as PDF: one member, a filtered batch, and one's own.

Same scope and masking as the member detail: another sub-union's member is 404, sensitive
fields print in full only for a reader who may see them (and that reading is audited), and
every printout is an export row in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from server.core import audit
from server.core.access import SIGNED_IN, Identity
from server.core.errors import Invalid, NotFound
from server.core.timeutil import local_today
from server.domain.members import form_pdf, registry
from server.domain.members.models import Member
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.members.records import MemberListArgs

blp = Blueprint("member_forms", __name__, url_prefix="/api/v1", description="会员登记表（PDF 打印）")

MAX_BATCH = 2000
DEFAULT_BATCH = 500
CHUNK = 100  # members loaded per query while a batch is drawn
PDF = {"type": "string", "format": "binary"}


class FormBatchArgs(MemberListArgs):
    """The member list's filter and sort, without paging, plus how many pages at most."""

    class Meta:
        exclude = ("page", "page_size")

    limit = fields.Integer(
        load_default=DEFAULT_BATCH, validate=validate.Range(min=1, max=MAX_BATCH),
        metadata={"description": f"最多打印人数（默认 {DEFAULT_BATCH}，上限 {MAX_BATCH}）；符合条件的会员多于此数时返回 422"},
    )


def _entry(session, identity: Identity, member: Member, names: dict[int, str], purpose: str) -> form_pdf.FormEntry:  # noqa: ANN001
    return form_pdf.FormEntry(
        values=registry.seen_by(session, identity, member, purpose=purpose).values,
        sub_union_name=names.get(member.sub_union_id),
        print_date=local_today(),
    )


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name).strip() or "会员"


def pdf_response(data: bytes, filename: str, fallback: str) -> Response:
    """An attachment named in UTF-8 (RFC 5987 ``filename*``) with an ASCII name for old clients."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _single(session, identity: Identity, member: Member, *, own: bool) -> Response:  # noqa: ANN001
    names = registry.sub_union_names(session, {member.sub_union_id})
    entry = _entry(session, identity, member, names, "registration_form")
    data = form_pdf.render_forms([entry])
    audit.record(session, identity, "member.export_form", object_type="member", object_id=member.id,
                 sub_union_id=member.sub_union_id,
                 new={"format": "pdf", "own": own, "sensitive": registry.can_read_sensitive(identity, member)})
    return pdf_response(data, f"工会会员登记表-{_safe(member.name)}.pdf", f"registration-form-{member.id}.pdf")


@blp.route("/members/<int:member_id>/registration-form.pdf")
class MemberForm(MethodView):
    @blp.response(200, PDF, content_type="application/pdf", description="一页 A4 的 PDF")
    @blp.requires("members.read")
    def get(self, member_id):
        """打印会员登记表（PDF）：无权查看敏感信息的角色打印脱敏值；明文打印与导出均记入审计"""
        identity = current_identity()
        session = db_session()
        member = registry.get_in_scope(session, identity, member_id, "members.read")
        return _single(session, identity, member, own=False)


@blp.route("/members/registration-forms.pdf")
class MemberForms(MethodView):
    @blp.arguments(FormBatchArgs, location="query")
    @blp.response(200, PDF, content_type="application/pdf", description="每位会员一页 A4 的 PDF")
    @blp.requires("members.read", "members.export")
    def get(self, args):
        """批量打印会员登记表（PDF）：筛选条件同会员列表，每人一页；超过 limit 人返回 422，请缩小筛选范围"""
        identity = current_identity()
        scope = identity.scope("members.read")
        session = db_session()
        query = registry.MemberQuery(q=args["q"], sub_union_id=args["sub_union_id"],
                                     membership_status=args["membership_status"],
                                     employment_status=args["employment_status"], sort=args["sort"])
        limit = args["limit"]
        total, first = registry.search(session, scope, query, 1, CHUNK)
        if total > limit:
            message = f"符合条件的会员有 {total} 人，超过单次打印上限 {limit} 人，请缩小筛选范围（如按分工会、状态或姓名筛选）"
            raise Invalid({"limit": message}, message, code="too_many_members")
        if total == 0:
            raise Invalid({"q": "没有符合条件的会员"}, "没有符合条件的会员，请调整筛选条件", code="no_members")

        printed = {"count": 0, "sensitive": 0}

        def entries() -> Iterator[form_pdf.FormEntry]:
            page, rows = 1, first
            while rows:
                names = registry.sub_union_names(session, {m.sub_union_id for m in rows})
                for member in rows:
                    if printed["count"] >= limit:  # members added since the count wait for the next printout
                        return
                    entry = _entry(session, identity, member, names, "registration_forms")
                    printed["count"] += 1
                    printed["sensitive"] += registry.can_read_sensitive(identity, member)
                    yield entry
                if len(rows) < CHUNK:
                    return
                page += 1
                rows = registry.search(session, scope, query, page, CHUNK)[1]

        data = form_pdf.render_forms(entries())
        audit.record(session, identity, "member.export_forms", object_type="member", sub_union_id=query.sub_union_id,
                     new={"format": "pdf", "count": printed["count"], "sensitive_count": printed["sensitive"],
                          "filter": {k: v for k, v in args.items() if v is not None}})
        filename = f"工会会员登记表-{printed['count']}人-{local_today():%Y%m%d}.pdf"
        return pdf_response(data, filename, f"registration-forms-{local_today():%Y%m%d}.pdf")


@blp.route("/me/registration-form.pdf")
class MyForm(MethodView):
    @blp.doc(tags=["小程序", "members"])
    @blp.errors(404)
    @blp.response(200, PDF, content_type="application/pdf", description="一页 A4 的 PDF")
    @blp.requires(SIGNED_IN)
    def get(self):
        """打印本人的会员登记表（PDF）"""
        identity = current_identity()
        if identity.member_id is None:
            raise NotFound("当前账号尚未关联会员信息")
        session = db_session()
        member = registry.own_record(session, identity)
        return _single(session, identity, member, own=True)
