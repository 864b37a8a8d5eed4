"""Sign-in with a local account, sign-out, and who am I."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import ROLES, SIGNED_IN
from server.domain.accounts import users as accounts
from server.domain.identity import sessions
from server.routes.common import Blueprint
from server.routes.context import client_address, config, current_identity, db_session, runtime
from server.routes.schemas import LocalDateTime

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录与身份")

MINIPROGRAM = ["小程序"]


class LoginIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)


class RoleOut(Schema):
    role = fields.String()
    label = fields.String()
    scope = fields.String(metadata={"description": "school | sub_union | self"})
    sub_union_id = fields.Integer(allow_none=True)
    sub_union_name = fields.String(allow_none=True)


class UserBrief(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    member_id = fields.Integer(allow_none=True)


class LoginOut(Schema):
    token = fields.String()
    expires_at = LocalDateTime()
    user = fields.Nested(UserBrief)


class MeOut(Schema):
    user = fields.Nested(UserBrief)
    roles = fields.List(fields.Nested(RoleOut))
    member_id = fields.Integer(allow_none=True)
    permissions = fields.List(fields.String())


def roles_of(identity) -> list[dict]:  # noqa: ANN001
    from server.domain.org.models import SubUnion

    session = db_session()
    out = []
    for b in identity.bindings:
        sub = session.get(SubUnion, b.sub_union_id) if b.sub_union_id else None
        out.append({
            "role": b.role,
            "label": ROLES[b.role].label,
            "scope": ROLES[b.role].scope,
            "sub_union_id": b.sub_union_id,
            "sub_union_name": sub.name if sub else None,
        })
    return out


@blp.route("/login")
class Login(MethodView):
    @blp.doc(tags=MINIPROGRAM + ["auth"])
    @blp.errors(401, 429)
    @blp.arguments(LoginIn)
    @blp.response(200, LoginOut)
    @blp.public
    def post(self, data):
        """用户名密码登录（本地账号：初始化与演示用）

        连续失败会限流（429，`code` 为 `login_rate_limited`，`Retry-After` 为秒数，`message` 说明何时再试）：
        默认：同一账号在同一网络 15 分钟内错 5 次即锁定该账号在该网络的登录；每个账号所有网络合计每小时最多错 20 次，
        此后只有该账号近期成功登录过的网络仍可登录。同一网络的其他账号不受影响。
        """
        user, issued = accounts.login(
            db_session(), runtime().throttle, data["username"], data["password"],
            address=client_address(), ttl_hours=config("TOKEN_TTL_HOURS"),
            hash_method=config("PASSWORD_HASH_METHOD"),
        )
        return {"token": issued.token, "expires_at": issued.row.expires_at, "user": user}


@blp.route("/logout")
class Logout(MethodView):
    @blp.doc(tags=MINIPROGRAM + ["auth"])
    @blp.response(204)
    @blp.requires(SIGNED_IN)
    def post(self):
        """退出登录：当前令牌（或门户会话）立即失效"""
        identity = current_identity()
        if identity.extra.get("portal_session_id") is not None:
            from flask import session as cookie


            sessions.end_portal_session(db_session(), identity)
            cookie.clear()
        else:
            accounts.logout(db_session(), identity)


@blp.route("/me")
class Me(MethodView):
    @blp.doc(tags=MINIPROGRAM + ["auth"])
    @blp.response(200, MeOut)
    @blp.requires(SIGNED_IN)
    def get(self):
        """当前登录者：账号、角色与范围、关联的会员"""
        identity = current_identity()
        perms = sorted(set().union(*(ROLES[b.role].permissions for b in identity.bindings)))
        return {
            "user": {"id": identity.user_id, "username": identity.username,
                     "display_name": identity.display_name, "member_id": identity.member_id},
            "roles": roles_of(identity),
            "member_id": identity.member_id,
            "permissions": perms,
        }
