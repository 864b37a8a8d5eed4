"""Member records: the catalogue, search, create, read, edit, history, and one's own record."""

from __future__ import annotations

from flask import jsonify, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN
from server.core.errors import DomainError
from server.domain.members import catalogue as cat
from server.domain.members import history, registry, writes
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.schemas import LocalDateTime, PageArgs, id_field, page_of, page_schema

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="会员信息")
MINIPROGRAM = ["小程序", "members"]


MASKED = "；无权查看敏感信息的账号看到脱敏值（如 138****5678、***）"


def _doc_field(f: cat.FieldDef, output: bool = False) -> fields.Field:
    """A documentation-only field: the domain validates values, with the catalogue's messages.

    In an answer a sensitive field may come back masked, so there it is a string of any form
    (a choice's list of values would be a promise the mask breaks)."""
    meta: dict = {"description": f.label + (f"（{f.help}）" if f.help else "")}
    if output and f.sensitive:
        meta.update(type="string", description=meta["description"] + MASKED)
    elif f.type == cat.DATE:
        meta.update(type="string", format="date")
    elif f.type == cat.CHOICE:
        meta.update(type="string", enum=list(f.choices))
    elif f.type == cat.MULTI:
        meta.update(type="array", items={"type": "string", "enum": list(f.choices)})
    elif f.type == cat.LIST:
        meta.update(type="array", items={"type": "object", "properties": {
            i.code: {"type": "string", "description": i.label} for i in f.items}})
    elif f.type == cat.REF:
        meta.update(type="integer")
    else:
        meta.update(type="string", maxLength=f.max_length)
    return fields.Raw(allow_none=True, metadata=meta)


def _catalogue_schema(name: str, codes, extra: dict | None = None, *, output: bool = False) -> type[Schema]:  # noqa: ANN001
    attrs = {c: _doc_field(cat.BY_CODE[c], output) for c in codes}
    attrs.update(extra or {})
    return Schema.from_dict(attrs, name=name)


MemberIn = _catalogue_schema("MemberIn", [f.code for f in cat.CATALOGUE])
MemberPatch = _catalogue_schema(
    "MemberPatch", [f.code for f in cat.CATALOGUE],
    {"version": fields.Integer(metadata={"description": "读取时的版本号；也可用 If-Match 头"})},
)
SelfPatch = _catalogue_schema(
    "MemberSelfPatch", sorted(cat.editable(cat.SELF)),
    {"version": fields.Integer(metadata={"description": "读取时的版本号；也可用 If-Match 头"})},
)
MemberOut = _catalogue_schema("MemberOut", [f.code for f in cat.CATALOGUE], {
    "id": fields.Integer(),
    "version": fields.Integer(),
    "sub_union_name": fields.String(),
    "masked_fields": fields.List(fields.String(), metadata={"description": "已脱敏显示的字段"}),
    "updated_at": LocalDateTime(),
}, output=True)
SUMMARY = ("name", "gender", "birth_date", "staff_no", "member_no", "sub_union", "department", "title_level",
           "post_category", "mobile", "membership_status", "employment_status")
MemberSummary = _catalogue_schema("MemberSummary", SUMMARY, {
    "id": fields.Integer(), "sub_union_name": fields.String(),
}, output=True)
SORT_CHOICES = sorted(registry.SORTABLE | {f"-{k}" for k in registry.SORTABLE})


class MemberListArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=50),
                      metadata={"description": "姓名、拼音首字母、工号或会员证号"})
    sub_union_id = id_field(load_default=None)
    membership_status = fields.String(load_default=None, validate=validate.OneOf(cat.MEMBERSHIP_STATUS))
    employment_status = fields.String(load_default=None, validate=validate.OneOf(cat.EMPLOYMENT_STATUS))
    sort = fields.String(load_default="id", validate=validate.OneOf(SORT_CHOICES),
                         metadata={"description": "排序字段，前加 - 为倒序"})


class FieldOut(Schema):
    code = fields.String()
    label = fields.String()
    group = fields.String()
    group_label = fields.String()
    type = fields.String()
    required = fields.Boolean()
    sensitive = fields.Boolean()
    unique = fields.Boolean()
    editable_by = fields.List(fields.String())
    choices = fields.List(fields.String())
    max_length = fields.Integer()
    item_fields = fields.List(fields.Dict(), metadata={"description": "列表字段每一项的组成"})
    max_items = fields.Integer()
    help = fields.String()


class HistoryOut(Schema):
    at = LocalDateTime()
    action = fields.String()
    actor_name = fields.String(allow_none=True)
    field = fields.String()
    label = fields.String()
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)


def render(member, identity, *, audit_purpose: str | None = None) -> dict:  # noqa: ANN001
    session = db_session()
    can_see = registry.can_read_sensitive(identity, member)
    if can_see and audit_purpose:
        registry.record_sensitive_read(session, identity, member, audit_purpose)
    values = registry.masked(registry.values_of(member), can_see)
    names = registry.sub_union_names(session, {member.sub_union_id})
    return {
        **values,
        "id": member.id,
        "version": member.version,
        "sub_union_name": names.get(member.sub_union_id),
        "masked_fields": [] if can_see else sorted(c for c in cat.SENSITIVE if values.get(c)),
        "updated_at": member.updated_at,
    }


def expected_version(data: dict) -> int:
    header = request.headers.get("If-Match", "").strip()
    if header:
        try:
            return int(header.removeprefix("W/").strip('"'))
        except ValueError:
            raise DomainError("If-Match 应为读取时的版本号，例如 \"3\"", code="bad_if_match") from None
    if data.get("version") is not None:
        return data["version"]
    raise DomainError("修改会员信息须提供读取时的版本号（version 字段或 If-Match 头），以免覆盖他人的修改",
                      code="version_required")


def _with_etag(body: dict) -> tuple[dict, dict]:
    return body, {"ETag": f'"{body["version"]}"'}


@blp.route("/fields")
class Fields(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, FieldOut(many=True))
    @blp.requires(SIGNED_IN)
    def get(self):
        """会员字段目录：编码、名称、类型、可选值、是否必填、是否敏感、谁可修改"""
        return [f.public() for f in cat.CATALOGUE]


@blp.route("/members")
class Members(MethodView):
    @blp.arguments(MemberListArgs, location="query")
    @blp.response(200, page_schema(MemberSummary, "MemberPage"))
    @blp.requires("members.read")
    def get(self, args):
        """会员列表：按姓名、拼音首字母、工号搜索；按分工会、状态筛选；分页与排序（敏感字段一律脱敏）"""
        scope = current_identity().scope("members.read")
        query = registry.MemberQuery(q=args["q"], sub_union_id=args["sub_union_id"],
                                     membership_status=args["membership_status"],
                                     employment_status=args["employment_status"], sort=args["sort"])
        total, items = registry.list_page(db_session(), scope, query, args["page"], args["page_size"], SUMMARY)
        # Already MemberPage's shape (test_members checks that the schema would dump it unchanged):
        # a Response skips dumping every value of the page through marshmallow again.
        return jsonify(page_of(total, items, args))

    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    @blp.requires("members.write")
    def post(self, data):
        """新增会员（分工会账号只能新增到本分工会）"""
        identity = current_identity()
        member = writes.create(db_session(), identity, data)
        return _with_etag(render(member, identity))


@blp.route("/members/<int:member_id>")
class MemberItem(MethodView):
    @blp.response(200, MemberOut)
    @blp.requires("members.read")
    def get(self, member_id):
        """会员详情（无权查看敏感信息的角色看到脱敏值；明文查看记入审计）"""
        identity = current_identity()
        member = registry.get_in_scope(db_session(), identity, member_id, "members.read")
        return _with_etag(render(member, identity, audit_purpose="detail"))

    @blp.arguments(MemberPatch)
    @blp.response(200, MemberOut)
    @blp.requires("members.write")
    def patch(self, data, member_id):
        """修改会员信息：须带读取时的版本号（version 或 If-Match），版本过期返回 409"""
        identity = current_identity()
        session = db_session()
        member = registry.get_in_scope(session, identity, member_id, "members.write")
        version = expected_version(data)
        data.pop("version", None)
        member = writes.update(session, identity, member, data, expected_version=version)
        return _with_etag(render(member, identity))


@blp.route("/members/<int:member_id>/history")
class MemberHistory(MethodView):
    @blp.response(200, HistoryOut(many=True))
    @blp.requires("members.history")
    def get(self, member_id):
        """会员信息变更历史：字段、旧值、新值、操作人、时间"""
        identity = current_identity()
        session = db_session()
        member = registry.get_in_scope(session, identity, member_id, "members.history")
        return history.history(session, member, registry.can_read_sensitive(identity, member))


@blp.route("/me/member")
class MyRecord(MethodView):
    @blp.doc(tags=MINIPROGRAM)
    @blp.response(200, MemberOut)
    @blp.requires("self.read")
    def get(self):
        """本人的会员信息"""
        identity = current_identity()
        return _with_etag(render(registry.own_record(db_session(), identity), identity))

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(SelfPatch)
    @blp.response(200, MemberOut)
    @blp.requires("self.write")
    def patch(self, data):
        """修改本人信息（仅限联系方式、家庭、简历、爱好等本人可改字段）"""
        identity = current_identity()
        session = db_session()
        writes.ensure_self_edit(identity)
        member = registry.own_record(session, identity)
        version = expected_version(data)
        data.pop("version", None)
        member = writes.update(session, identity, member, data, expected_version=version, level=cat.SELF)
        return _with_etag(render(member, identity))
