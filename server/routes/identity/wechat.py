"""WeChat mini-program login, binding a WeChat user to a member, and unbinding."""

from __future__ import annotations

import re

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.core.access import SIGNED_IN
from server.core.errors import (
    BadGateway,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from server.domain.identity import wechat
from server.routes.common import Blueprint
from server.routes.context import client_address, config, current_identity, db_session, runtime
from server.routes.schemas import LocalDateTime
from server.wechat import WechatError

blp = Blueprint("wechat", __name__, url_prefix="/api/v1", description="微信小程序登录与会员绑定")

TAGS = ["小程序", "wechat"]
DEV_CODE = re.compile(r"^dev:([A-Za-z0-9_-]{1,60})$")


class WechatLoginIn(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "wx.login() 得到的临时登录凭证；开发模式下可用 dev:<openid>"})


class MemberBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    staff_no = fields.String(allow_none=True)
    sub_union_id = fields.Integer()
    sub_union_name = fields.String(allow_none=True)


class WechatLoginOut(Schema):
    token = fields.String()
    expires_at = LocalDateTime()
    bound = fields.Boolean(metadata={"description": "是否已绑定会员"})
    member = fields.Nested(MemberBrief, allow_none=True)


class BindIn(Schema):
    staff_no = fields.String(required=True, validate=validate.Length(min=1, max=32), metadata={"description": "工号"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"description": "姓名"})
    id_last6 = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z]{6}$", error="应为 6 位数字或字母"),
                             metadata={"description": "证件号码后六位"})


class BindCodeOut(Schema):
    code = fields.String()
    url = fields.String(metadata={"description": "在 web-view 中打开此地址，经统一身份认证完成绑定"})
    expires_in = fields.Integer()


class WechatFailure(BadGateway, code="wechat_error"):
    """WeChat answered with an error code of its own (an expired login code, a bad appid)."""


class WechatUnavailable(Unavailable, code="wechat_unavailable"):
    """WeChat could not be reached in time."""


def _wechat_error(exc: WechatError) -> DomainError:
    """WeChat's errcode → a clear answer the mini-program can act on."""
    code = exc.errcode
    if code == 40029:
        return Unauthorized("登录凭证（code）无效，请重新调用 wx.login 获取", code="wechat_code_invalid")
    if code == 40163:
        return Unauthorized("登录凭证（code）已被使用，请重新调用 wx.login 获取", code="wechat_code_used")
    if code == 45011:
        return TooManyRequests("微信登录过于频繁，请 1 分钟后再试", retry_after=60)
    if code == 40226:
        return Forbidden("微信判定当前用户存在风险，已拒绝登录；请稍后再试或联系校工会", code="wechat_high_risk")
    if code == -1 or code is None:
        return WechatUnavailable("微信服务繁忙或暂时无法连接，请稍等几秒后重试", code="wechat_busy")
    return WechatFailure(f"微信接口返回错误（{code}），请稍后再试")


def _openid_for(code: str) -> tuple[str, str | None, bool]:
    match = DEV_CODE.match(code)
    client = current_app.extensions["union_wechat"]
    if not config("WECHAT_APPID"):
        if config("ENV") == "production":
            raise WechatUnavailable("未配置微信小程序，无法登录", code="wechat_not_configured")
        if not match:
            raise Unauthorized("未配置微信小程序：开发模式只接受 dev:<openid> 形式的登录凭证", code="wechat_code_invalid")
        return "dev_" + match.group(1), None, True
    try:
        result = client.code_to_session(code)
    except WechatError as exc:
        raise _wechat_error(exc) from exc
    return result.openid, result.unionid, False


@blp.route("/auth/wechat/login")
class WechatLogin(MethodView):
    @blp.doc(tags=TAGS)
    @blp.errors(401, 403, 429, 502, 503)
    @blp.arguments(WechatLoginIn)
    @blp.response(200, WechatLoginOut)
    @blp.public
    def post(self, data):
        """微信小程序登录：code 换取本站令牌

        返回 `bound` 表示是否已绑定会员。微信错误：40029 code 无效、40163 code 已使用（401），
        45011 频率限制（429），40226 高风险用户（403），-1 系统繁忙（503，请稍后重试）。
        未配置小程序时（内置默认）接受 `dev:<openid>`，生产环境拒绝。
        """
        openid, unionid, dev = _openid_for(data["code"])
        result = wechat.wechat_login(db_session(), openid, unionid, ttl_hours=config("TOKEN_TTL_HOURS"),
                                         address=client_address(), dev=dev)
        return {"token": result.issued.token, "expires_at": result.issued.row.expires_at,
                "bound": result.member is not None, "member": wechat.member_brief(db_session(), result.member)}


def _limiter() -> wechat.BindLimiter:
    return wechat.BindLimiter(runtime().redis, config("REDIS_PREFIX"), config("WECHAT_BIND_MAX_TRIES_PER_HOUR"))


@blp.route("/auth/wechat/bind")
class WechatBind(MethodView):
    @blp.doc(tags=TAGS)
    @blp.errors(429)
    @blp.arguments(BindIn)
    @blp.response(200, WechatLoginOut)
    @blp.requires(SIGNED_IN)
    def post(self, data):
        """以工号 + 姓名 + 证件号码后六位绑定会员

        每个微信用户、每个工号每小时最多尝试 5 次（429），每次尝试都记入审计日志。
        成功后返回新的令牌（此后以会员账号登录），旧令牌可能失效。
        """
        identity = current_identity()
        db = db_session()
        user, member = wechat.bind_by_identity_check(
            db, _limiter(), identity, staff_no=data["staff_no"], name=data["name"], id_last6=data["id_last6"])
        from server.domain.accounts.users import issue_token

        issued = issue_token(db, user, config("TOKEN_TTL_HOURS"), kind="wechat", address=client_address())
        return {"token": issued.token, "expires_at": issued.row.expires_at, "bound": True,
                "member": wechat.member_brief(db, member)}

    @blp.doc(tags=TAGS)
    @blp.response(204)
    @blp.requires(SIGNED_IN)
    def delete(self):
        """解除本人微信与会员的绑定"""
        identity = current_identity()
        db = db_session()
        wechat.unbind(db, identity, wechat.wechat_account_of(db, identity))


@blp.route("/auth/wechat/bind-code")
class WechatBindCode(MethodView):
    @blp.doc(tags=TAGS)
    @blp.response(200, BindCodeOut)
    @blp.requires(SIGNED_IN)
    def post(self):
        """发起统一身份认证绑定：返回一次性绑定码和 web-view 地址（10 分钟内有效）"""
        identity = current_identity()
        db = db_session()
        account = wechat.wechat_account_of(db, identity)
        if config("CAS_SERVER_URL"):
            path = "/sso/cas/login"
        elif config("OIDC_METADATA_URL"):
            path = "/sso/oidc/login"
        else:
            raise NotFound("本站未配置统一身份认证，请用工号、姓名与证件号码后六位绑定", code="sso_not_configured")
        code = wechat.create_bind_code(runtime().redis, config("REDIS_PREFIX"), account)
        from urllib.parse import urlencode

        from flask import request

        base = config("PUBLIC_URL") or request.url_root.rstrip("/")
        return {"code": code, "url": f"{base}{path}?{urlencode({'bind': code})}",
                "expires_in": wechat.BIND_CODE_TTL}


@blp.route("/members/<int:member_id>/wechat-binding")
class MemberWechatBinding(MethodView):
    @blp.doc(tags=["wechat"])
    @blp.response(204)
    @blp.requires("members.write")
    def delete(self, member_id):
        """校工会为会员解除微信绑定（校级角色）"""
        wechat.unbind_member(db_session(), current_identity(), member_id)
