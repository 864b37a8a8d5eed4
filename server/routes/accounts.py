"""Account and role management (超级管理员)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import ROLE_CODES as _CODES
from server.domain.accounts import users as accounts
from server.routes.common import Blueprint
from server.routes.context import config, db_session
from server.routes.context import current_identity as identity
from server.routes.schemas import LocalDateTime, PageArgs, id_field, paged

blp = Blueprint("users", __name__, url_prefix="/api/v1", description="账号与角色（超级管理员）")

ROLE_CODES = list(_CODES)


class BindingSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLE_CODES))
    sub_union_id = id_field(load_default=None, allow_none=True)


class UserOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    is_active = fields.Boolean()
    member_id = fields.Integer(allow_none=True)
    has_password = fields.Function(lambda u: u.password_hash is not None)
    roles = fields.Function(lambda u: [{"role": b.role, "sub_union_id": b.sub_union_id} for b in u.bindings])
    created_at = LocalDateTime()
    last_login_at = LocalDateTime(allow_none=True)


class UserCreate(Schema):
    username = fields.String(required=True, validate=validate.Length(min=2, max=64))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(load_default=None, allow_none=True, load_only=True)
    roles = fields.List(fields.Nested(BindingSchema), load_default=list)
    member_id = id_field(load_default=None, allow_none=True)


class UserPatch(Schema):
    display_name = fields.String(validate=validate.Length(min=1, max=64))
    password = fields.String(load_only=True)
    roles = fields.List(fields.Nested(BindingSchema))
    member_id = id_field(allow_none=True)
    is_active = fields.Boolean()


class UserListArgs(PageArgs):
    q = fields.String(load_default=None, metadata={"description": "按用户名或姓名查找"})
    role = fields.String(load_default=None, validate=validate.OneOf(ROLE_CODES))


class RoleDefOut(Schema):
    code = fields.String()
    label = fields.String()
    scope = fields.String()
    permissions = fields.List(fields.String())


class RevokedOut(Schema):
    revoked = fields.Integer()


@blp.route("/roles")
class Roles(MethodView):
    @blp.response(200, RoleDefOut(many=True))
    @blp.requires("accounts.manage")
    def get(self):
        """角色表：每个角色的范围与权限"""
        return accounts.role_table()


@blp.route("/users")
class Users(MethodView):
    @paged(blp, UserListArgs, UserOut, "UserPage")
    @blp.requires("accounts.manage")
    def get(self, args):
        """账号列表"""
        return accounts.list_users(db_session(), q=args["q"], role=args["role"],
                                   page=args["page"], page_size=args["page_size"])

    @blp.arguments(UserCreate)
    @blp.response(201, UserOut)
    @blp.requires("accounts.manage")
    def post(self, data):
        """新建账号并授予角色"""
        return accounts.create_user(db_session(), identity(), hash_method=config("PASSWORD_HASH_METHOD"), **data)


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @blp.response(200, UserOut)
    @blp.requires("accounts.manage")
    def get(self, user_id):
        """账号详情"""
        return accounts.get_user(db_session(), user_id)

    @blp.arguments(UserPatch)
    @blp.response(200, UserOut)
    @blp.requires("accounts.manage")
    def patch(self, data, user_id):
        """修改账号：姓名、密码、角色、关联会员、启用/停用（停用与改密会吊销其全部令牌）"""
        return accounts.update_user(db_session(), identity(), user_id, data,
                                    hash_method=config("PASSWORD_HASH_METHOD"))


@blp.route("/users/<int:user_id>/tokens")
class UserTokens(MethodView):
    @blp.response(200, RevokedOut)
    @blp.requires("accounts.manage")
    def delete(self, user_id):
        """吊销该账号的全部令牌（强制下线）"""
        return {"revoked": accounts.revoke_tokens(db_session(), identity(), user_id)}

blueprints = [blp]
