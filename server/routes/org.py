"""Sub-unions (分工会)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN
from server.domain.org import sub_unions
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.schemas import LocalDateTime

blp = Blueprint("sub_unions", __name__, url_prefix="/api/v1/sub-unions", description="分工会")


class SubUnionOut(Schema):
    id = fields.Integer()
    name = fields.String()
    code = fields.String()
    chair = fields.String(allow_none=True)
    is_retirees = fields.Boolean()
    sort_order = fields.Integer()
    member_count = fields.Integer(metadata={"description": "会籍正常的会员数"})
    reserved_count = fields.Integer(metadata={"description": "保留会籍（退休）人数"})
    total_count = fields.Integer(metadata={"description": "在此分工会的全部会员记录数"})
    updated_at = LocalDateTime()


class SubUnionOption(Schema):
    id = fields.Integer()
    name = fields.String()
    code = fields.String()


class SubUnionIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    chair = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    is_retirees = fields.Boolean(load_default=False)
    sort_order = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100000))


class SubUnionPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    code = fields.String(validate=validate.Length(min=1, max=32))
    chair = fields.String(allow_none=True, validate=validate.Length(max=64))
    is_retirees = fields.Boolean()
    sort_order = fields.Integer(validate=validate.Range(min=0, max=100000))


def _with_counts(subs):  # noqa: ANN001, ANN202
    counts = sub_unions.counts(db_session(), [s.id for s in subs])
    out = []
    for s in subs:
        c = counts.get(s.id, sub_unions.Counts())
        out.append({**{k: getattr(s, k) for k in ("id", "name", "code", "chair", "is_retirees",
                                                  "sort_order", "updated_at")},
                    "member_count": c.active, "reserved_count": c.reserved, "total_count": c.total})
    return out


@blp.route("")
class SubUnions(MethodView):
    @blp.response(200, SubUnionOut(many=True))
    @blp.requires("sub_unions.read")
    def get(self):
        """分工会列表与人数（分工会账号只看到本分工会）"""
        return _with_counts(sub_unions.list_in_scope(db_session(), current_identity().scope("sub_unions.read")))

    @blp.arguments(SubUnionIn)
    @blp.response(201, SubUnionOut)
    @blp.requires("sub_unions.manage")
    def post(self, data):
        """新建分工会"""
        return _with_counts([sub_unions.create(db_session(), current_identity(), data)])[0]


@blp.route("/options")
class SubUnionOptions(MethodView):
    @blp.doc(tags=["小程序", "sub_unions"])
    @blp.response(200, SubUnionOption(many=True))
    @blp.requires(SIGNED_IN)
    def get(self):
        """可选的分工会（名称与编码，供入会、转会时选择；不含人数）"""
        return sub_unions.options(db_session())


@blp.route("/<int:sub_union_id>")
class SubUnionItem(MethodView):
    @blp.response(200, SubUnionOut)
    @blp.requires("sub_unions.read")
    def get(self, sub_union_id):
        """分工会详情与人数"""
        return _with_counts([sub_unions.get_visible(db_session(), current_identity(), sub_union_id)])[0]

    @blp.arguments(SubUnionPatch)
    @blp.response(200, SubUnionOut)
    @blp.requires("sub_unions.manage")
    def patch(self, data, sub_union_id):
        """修改分工会"""
        sub = sub_unions.get_visible(db_session(), current_identity(), sub_union_id, "sub_unions.manage")
        return _with_counts([sub_unions.update(db_session(), current_identity(), sub, data)])[0]

    @blp.response(204)
    @blp.requires("sub_unions.manage")
    def delete(self, sub_union_id):
        """删除分工会（仍有会员记录或账号绑定时不能删除）"""
        identity = current_identity()
        sub_unions.delete(db_session(), identity, sub_unions.get_visible(db_session(), identity, sub_union_id, "sub_unions.manage"))

blueprints = [blp]
