"""Member records: the catalogue, search, create, read, edit, history, and one's own record."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN
from server.domain.members import catalogue as cat
from server.domain.members import history, registry, writes
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.schemas import LocalDateTime, PageArgs, id_field, paged
from server.routes.versions import expected_version, with_etag

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="会员信息")
MINIPROGRAM = ["小程序", "members"]


MASKED = "；无权查看敏感信息的账号看到脱敏值（如 138****5678、***）"


def _doc_field(f: cat.FieldDef, output: bool = False, **kwargs) -> fields.Field:  # noqa: ANN003
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
    return fields.Raw(allow_none=True, metadata=meta, **kwargs)


def _catalogue_schema(name: str, codes, extra: dict | None = None, *, output: bool = False,  # noqa: ANN001
                      source: str | None = None) -> type[Schema]:
    """A schema of catalogue fields by code; ``source``: the attribute holding code → value
    (``"values"`` of a :class:`registry.Seen`), else the object itself is that mapping."""
    attrs = {c: _doc_field(cat.BY_CODE[c], output, **({"attribute": f"{source}.{c}"} if source else {}))
             for c in codes}
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
# Dumps a registry.Seen: the record as the caller may see it.
MemberOut = _catalogue_schema("MemberOut", [f.code for f in cat.CATALOGUE], {
    "id": fields.Integer(attribute="member.id"),
    "version": fields.Integer(),
    "sub_union_name": fields.String(attribute="member.sub_union.name"),
    "masked_fields": fields.List(fields.String(), metadata={"description": "已脱敏显示的字段"}),
    "updated_at": LocalDateTime(attribute="member.updated_at"),
}, output=True, source="values")
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
    # The page's rows are already MemberSummary's shape (test_members checks that the schema would
    # dump them unchanged): sent as they are, without dumping every value through marshmallow again.
    @paged(blp, MemberListArgs, MemberSummary, "MemberPage", dump=False)
    @blp.requires("members.read")
    def get(self, args):
        """会员列表：按姓名、拼音首字母、工号搜索；按分工会、状态筛选；分页与排序（敏感字段一律脱敏）"""
        scope = current_identity().scope("members.read")
        query = registry.MemberQuery(q=args["q"], sub_union_id=args["sub_union_id"],
                                     membership_status=args["membership_status"],
                                     employment_status=args["employment_status"], sort=args["sort"])
        return registry.list_page(db_session(), scope, query, args["page"], args["page_size"], SUMMARY)

    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    @with_etag
    @blp.requires("members.write")
    def post(self, data):
        """新增会员（分工会账号只能新增到本分工会）"""
        identity = current_identity()
        member = writes.create(db_session(), identity, data)
        return registry.seen_by(db_session(), identity, member)


@blp.route("/members/<int:member_id>")
class MemberItem(MethodView):
    @blp.response(200, MemberOut)
    @with_etag
    @blp.requires("members.read")
    def get(self, member_id):
        """会员详情（无权查看敏感信息的角色看到脱敏值；明文查看记入审计）"""
        identity = current_identity()
        member = registry.get_in_scope(db_session(), identity, member_id, "members.read")
        return registry.seen_by(db_session(), identity, member, purpose="detail")

    @blp.arguments(MemberPatch)
    @blp.response(200, MemberOut)
    @with_etag
    @blp.requires("members.write")
    def patch(self, data, member_id):
        """修改会员信息：须带读取时的版本号（version 或 If-Match），版本过期返回 409"""
        identity = current_identity()
        session = db_session()
        member = registry.get_in_scope(session, identity, member_id, "members.write")
        version = expected_version(data, "会员信息")
        member = writes.update(session, identity, member, data, expected_version=version)
        return registry.seen_by(session, identity, member)


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
    @with_etag
    @blp.requires("self.read")
    def get(self):
        """本人的会员信息"""
        identity = current_identity()
        return registry.seen_by(db_session(), identity, registry.own_record(db_session(), identity))

    @blp.doc(tags=MINIPROGRAM)
    @blp.arguments(SelfPatch)
    @blp.response(200, MemberOut)
    @with_etag
    @blp.requires("self.write")
    def patch(self, data):
        """修改本人信息（仅限联系方式、家庭、简历、爱好等本人可改字段）"""
        identity = current_identity()
        session = db_session()
        writes.ensure_self_edit(identity)
        member = registry.own_record(session, identity)
        version = expected_version(data, "会员信息")
        member = writes.update(session, identity, member, data, expected_version=version, level=cat.SELF)
        return registry.seen_by(session, identity, member)
