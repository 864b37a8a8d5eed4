"""WeChat users and their binding: one WeChat user binds one member and one member one WeChat
user (unique keys, not checks). Binding by staff_no + name + the last 6 of the ID number is rate
limited per WeChat user and per staff_no, and every try is audited whether it succeeds or not."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core.access import Identity
from server.core.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests, Unauthorized
from server.core.timeutil import utcnow
from server.domain.accounts.models import ApiToken, User
from server.domain.accounts.users import (
    IssuedToken,
    hash_token,
    identity_of,
    issue_token,
)
from server.domain.identity import policy
from server.domain.identity.models import WechatAccount
from server.domain.identity.sso import (
    AccountDisabled,
    drop_member_role,
    ensure_member_role,
    load_user,
    member_by_staff_no,
)
from server.domain.members.models import Member
from server.domain.org.models import SubUnion

WECHAT_USERNAME_PREFIX = "wx_"


class BindFailed(DomainError):
    """A wrong staff_no / name / ID suffix: the try is audited, the answer says not which part."""

    status = 422
    code = "bind_mismatch"
    keep_changes = True


class BindThrottled(TooManyRequests):
    code = "bind_rate_limited"
    keep_changes = True


def _placeholder_username(openid: str) -> str:
    return WECHAT_USERNAME_PREFIX + hashlib.sha256(openid.encode()).hexdigest()[:24]


def _placeholder(session: Session, openid: str) -> User:
    username = _placeholder_username(openid)
    user = session.scalar(select(User).options(selectinload(User.bindings)).where(User.username == username))
    if user is None:
        user = User(username=username, display_name="微信用户", password_hash=None)
        user.bindings = []
        session.add(user)
        session.flush()
    return user


@dataclass
class WechatLogin:
    account: WechatAccount
    user: User
    issued: IssuedToken
    member: Member | None


def wechat_login(session: Session, openid: str, unionid: str | None, *, ttl_hours: int, address: str | None,
                 dev: bool = False) -> WechatLogin:
    """Our own token for a WeChat user; the first login creates an account with no roles."""
    account = session.scalar(select(WechatAccount).where(WechatAccount.openid == openid))
    if account is None:
        user = _placeholder(session, openid)
        account = WechatAccount(openid=openid, unionid=unionid, user_id=user.id)
        session.add(account)
        session.flush()
    user = load_user(session, account.user_id)
    if not user.is_active:
        audit.record(session, None, "auth.wechat_login_refused", object_type="user", object_id=user.id,
                     new={"wechat_account_id": account.id}, address=address, actor_name=user.username)
        raise AccountDisabled("账号已停用，请联系校工会")
    if unionid and account.unionid != unionid:
        account.unionid = unionid
    now = utcnow()
    account.last_login_at = now
    user.last_login_at = now
    issued = issue_token(session, user, ttl_hours, kind="wechat", address=address)
    audit.record(session, identity_of(user, address=address), "auth.wechat_login", object_type="user",
                 object_id=user.id, new={"wechat_account_id": account.id, "token_id": issued.row.id,
                                         "bound": account.member_id is not None, "dev": dev})
    member = session.get(Member, account.member_id) if account.member_id else None
    return WechatLogin(account, user, issued, member)


def wechat_account_of(session: Session, identity: Identity) -> WechatAccount:
    account = session.scalar(select(WechatAccount).where(WechatAccount.user_id == identity.user_id))
    if account is None:
        raise Forbidden("请在小程序中用微信登录后再绑定", code="wechat_login_required")
    return account


def member_brief(session: Session, member: Member | None) -> dict[str, Any] | None:
    if member is None:
        return None
    sub = session.get(SubUnion, member.sub_union_id)
    return {"id": member.id, "name": member.name, "staff_no": member.staff_no,
            "sub_union_id": member.sub_union_id, "sub_union_name": sub.name if sub else None}


def bind_member(session: Session, account: WechatAccount, member: Member, *, method: str,
                address: str | None) -> User:
    """Bind; returns the account the WeChat user signs in as from now on (issue it a new token).

    When the member already has an account (made by SSO or by staff), the WeChat user signs
    in as that account, so one person has one account; otherwise the WeChat user's own
    account becomes the member's account.
    """
    if account.member_id is not None:
        if account.member_id == member.id:
            return load_user(session, account.user_id)
        raise Conflict("当前微信已绑定其他会员，请先解除绑定", code="wechat_already_bound")
    if session.scalar(select(WechatAccount.id).where(WechatAccount.member_id == member.id)) is not None:
        raise Conflict("该会员已绑定其他微信，请先由本人或校工会解除绑定", code="member_already_bound")
    own = load_user(session, account.user_id)
    existing = session.scalar(select(User).options(selectinload(User.bindings)).where(User.member_id == member.id))
    if existing is not None and existing.id != own.id:
        if not existing.is_active:
            raise AccountDisabled("该会员的账号已停用，请联系校工会")
        account.user_id = existing.id
        own.is_active = False
        session.execute(update(ApiToken).where(ApiToken.user_id == own.id, ApiToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
        target = existing
    else:
        own.member_id = member.id
        own.display_name = (member.name or own.display_name)[:64]
        target = own
    ensure_member_role(target)
    account.member_id = member.id
    account.bound_at = utcnow()
    session.flush()
    audit.record(session, identity_of(target, address=address), "wechat.bind", object_type="member",
                 object_id=member.id, sub_union_id=member.sub_union_id,
                 new={"wechat_account_id": account.id, "user_id": target.id, "method": method})
    return target


class BindLimiter:
    """Tries per hour, counted in Redis per WeChat user and per staff_no (every try counts)."""

    def __init__(self, redis: Any, prefix: str, limit: int, window: int = 3600):
        self.redis, self.prefix, self.limit, self.window = redis, prefix, limit, window

    def hit(self, account_id: int, staff_no: str) -> int | None:
        """Count this try; the seconds to wait when over the limit, else None."""
        worst = None
        for key in (f"{self.prefix}wechat-bind:wx:{account_id}", f"{self.prefix}wechat-bind:staff:{staff_no}"):
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
            pipe.ttl(key)
            count, _, ttl = pipe.execute()
            if int(count) > self.limit:
                worst = max(worst or 0, max(int(ttl or 0), 1))
        return worst


def bind_by_identity_check(session: Session, limiter: BindLimiter, identity: Identity, *, staff_no: str,
                           name: str, id_last6: str) -> tuple[User, Member]:
    account = wechat_account_of(session, identity)
    staff_no, name, id_last6 = staff_no.strip(), name.strip(), id_last6.strip().upper()
    wait = limiter.hit(account.id, staff_no)
    attempt = {"wechat_account_id": account.id, "staff_no": staff_no[:32], "method": "identity_check"}
    if wait is not None:
        audit.record(session, identity, "wechat.bind_attempt", object_type="wechat_account", object_id=account.id,
                     new={**attempt, "result": "rate_limited"})
        raise BindThrottled(f"绑定尝试过于频繁，请 {(wait + 59) // 60} 分钟后再试", retry_after=wait)
    member = member_by_staff_no(session, staff_no)
    ok = (member is not None and (member.name or "").strip() == name and bool(member.id_number)
          and hmac.compare_digest(str(member.id_number)[-6:].upper(), id_last6))
    audit.record(session, identity, "wechat.bind_attempt", object_type="wechat_account", object_id=account.id,
                 new={**attempt, "result": "ok" if ok else "mismatch"})
    if not ok:
        raise BindFailed("工号、姓名或证件号码后六位不匹配")
    return bind_member(session, account, member, method="identity_check", address=identity.address), member


def unbind(session: Session, actor: Identity, account: WechatAccount) -> None:
    """The member (or the school union) ends the binding; the WeChat user keeps an account
    of its own with no roles, and tokens issued to it through WeChat for the member end."""
    if account.member_id is None:
        raise NotFound("当前没有绑定会员", code="not_bound")
    member_id = account.member_id
    member = session.get(Member, member_id)
    user = load_user(session, account.user_id)
    placeholder = _placeholder(session, account.openid)
    if user.id == placeholder.id:
        user.member_id = None
        drop_member_role(user)
    else:
        placeholder.is_active = True
        account.user_id = placeholder.id
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "wechat",
                                           ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    account.member_id = None
    account.bound_at = None
    session.flush()
    audit.record(session, actor, "wechat.unbind", object_type="member", object_id=member_id,
                 sub_union_id=member.sub_union_id if member else None, new={"wechat_account_id": account.id})


def unbind_member(session: Session, actor: Identity, member_id: int) -> None:
    """The school union ends a member's binding: 404 outside the caller's reach (as for a
    member that does not exist), 403 for a sub-union account, 404 when there is no binding."""
    member = session.get(Member, member_id)
    if not policy.visible(actor, member.sub_union_id if member else None):
        raise NotFound("记录不存在")
    if not policy.may_unbind_member(actor):
        raise Forbidden("只有校工会可以为会员解除微信绑定")
    if member is None:
        raise NotFound("记录不存在")
    unbind(session, actor, wechat_account_of_member(session, member_id))


def wechat_account_of_member(session: Session, member_id: int) -> WechatAccount:
    account = session.scalar(select(WechatAccount).where(WechatAccount.member_id == member_id))
    if account is None:
        raise NotFound("该会员没有绑定微信", code="not_bound")
    return account


BIND_CODE_TTL = 600


def create_bind_code(redis: Any, prefix: str, account: WechatAccount) -> str:
    code = secrets.token_urlsafe(24)
    redis.set(f"{prefix}wechat-bind-code:{hash_token(code)}", str(account.id), ex=BIND_CODE_TTL)
    return code


def consume_bind_code(redis: Any, prefix: str, code: str) -> int | None:
    """The WeChat account the code was issued for; None when unknown, expired or already used."""
    value = redis.getdel(f"{prefix}wechat-bind-code:{hash_token(code)}")
    return int(value) if value else None


def bind_by_sso(session: Session, redis: Any, prefix: str, code: str, user: User, *,
                address: str | None) -> Member:
    account_id = consume_bind_code(redis, prefix, code)
    account = session.get(WechatAccount, account_id) if account_id else None
    if account is None:
        raise Unauthorized("绑定码无效或已过期，请回到小程序重新发起绑定", code="bind_code_invalid")
    member = session.get(Member, user.member_id) if user.member_id else None
    if member is None:
        raise NotFound("统一身份认证的账号没有对应的会员记录（按工号匹配），请联系所在分工会", code="member_not_found")
    bind_member(session, account, member, method="sso", address=address)
    return member
