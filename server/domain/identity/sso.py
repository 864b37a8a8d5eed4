"""Identities from outside: campus SSO subjects, portal sessions, WeChat users and their binding.

Every later feature trusts what is decided here, so the rules are few and strict:

- An SSO subject (CAS ``user``, OIDC ``sub``) maps to one account, for good. Its first login
  finds that account by the mapped 工号 (the subject itself unless an attribute carries it,
  kept as a string): the member's account, an account staff prepared under the 工号, or a new
  one named after it. The account is linked to the member with that staff_no; it receives the
  ``member`` role when a member record matches and nothing else — staff roles are granted by
  a super_admin, and kept when a prepared account is claimed.
- A portal session is a database row found by the SHA-256 of a random key the cookie holds, so
  sign-out and CAS Single Logout end it for every web process at once.
- One WeChat user binds one member and one member one WeChat user (unique keys, not checks).
  Binding by staff_no + name + the last 6 of the ID number is rate limited per WeChat user and
  per staff_no, and every try is audited whether it succeeds or not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core.access import Identity
from server.core.db import plain_rows
from server.core.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests, Unauthorized
from server.core.timeutil import utcnow
from server.domain.accounts.models import ApiToken, RoleBinding, User
from server.domain.accounts.users import (
    USERNAME_RE,
    IssuedToken,
    hash_token,
    holder_statement,
    identity_from_rows,
    identity_of,
    issue_token,
)
from server.domain.identity.models import ExternalIdentity, PortalSession, WechatAccount
from server.domain.members.models import Member
from server.domain.org.models import SubUnion

WECHAT_USERNAME_PREFIX = "wx_"


# ---- errors that must keep their audit row ----------------------------------------------


class AccountDisabled(Forbidden):
    code = "account_disabled"
    keep_changes = True


class AccountClaimed(Conflict):
    """A first SSO login would take over an account that is someone else's: refused, audited."""

    code = "sso_account_claimed"
    keep_changes = True


class BindFailed(DomainError):
    """A wrong staff_no / name / ID suffix: the try is audited, the answer says not which part."""

    status = 422
    code = "bind_mismatch"
    keep_changes = True


class BindThrottled(TooManyRequests):
    code = "bind_rate_limited"
    keep_changes = True


# ---- SSO subjects → accounts ------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalProfile:
    """What an identity provider said about a person, already mapped to our names."""

    provider: str  # cas | oidc
    subject: str
    staff_no: str | None
    name: str | None = None
    department: str | None = None
    category: str | None = None
    email: str | None = None
    mobile: str | None = None
    raw: dict[str, Any] | None = None

    def mapped(self) -> dict[str, Any]:
        return {k: v for k, v in (("staff_no", self.staff_no), ("name", self.name), ("department", self.department),
                                   ("category", self.category), ("email", self.email), ("mobile", self.mobile))
                if v is not None}


def map_attributes(provider: str, subject: str, attributes: dict[str, Any], mapping: dict[str, str],
                   *, staff_no_from_subject: bool) -> ExternalProfile:
    """Apply the configured attribute map (our key → the provider's attribute name).

    Attribute names for 姓名 / 单位 / 人员类别 differ between schools, so nothing is guessed:
    an unmapped value is simply absent. A multi-valued attribute contributes its first value.
    """

    def pick(key: str) -> str | None:
        name = mapping.get(key)
        value = attributes.get(name) if name else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return None
        text = str(value).strip()
        return text[:100] or None

    staff_no = subject if staff_no_from_subject and "staff_no" not in mapping else pick("staff_no")
    return ExternalProfile(
        provider=provider, subject=str(subject), staff_no=str(staff_no).strip() if staff_no else None,
        name=pick("name"), department=pick("department"), category=pick("category"),
        email=pick("email"), mobile=pick("mobile"), raw=attributes,
    )


def _member_by_staff_no(session: Session, staff_no: str | None) -> Member | None:
    if not staff_no:
        return None
    return session.scalar(select(Member).where(Member.staff_no == staff_no))


def _ensure_member_role(user: User) -> None:
    if not any(b.role == "member" for b in user.bindings):
        user.bindings.append(RoleBinding(role="member", sub_union_id=None))


def _drop_member_role(user: User) -> None:
    user.bindings = [b for b in user.bindings if b.role != "member"]


def _load_user(session: Session, user_id: int) -> User:
    user = session.scalar(select(User).options(selectinload(User.bindings)).where(User.id == user_id))
    if user is None:
        raise NotFound("账号不存在")
    return user


def _fallback_username(profile: ExternalProfile) -> str:
    """The name of an account whose person has no usable 工号: stable per subject, and never
    the subject itself, since an opaque subject (a numeric user id) can look like another
    person's 工号 and would take the name staff prepare for that person."""
    digest = hashlib.sha256(f"{profile.provider}:{profile.subject}".encode()).hexdigest()[:20]
    return f"{profile.provider}_{digest}"


def _staff_no_username(staff_no: str | None) -> str | None:
    """The account name a 工号 gives: lower case, as every username is stored."""
    username = (staff_no or "").strip().lower()
    return username if USERNAME_RE.match(username) else None


def _claimed_at(session: Session, user_id: int, provider: str) -> bool:
    """Whether the account already belongs to a subject at this provider (one per provider:
    a unique key on external_identities holds it when two first logins race)."""
    return session.scalar(select(ExternalIdentity.id).where(
        ExternalIdentity.user_id == user_id, ExternalIdentity.provider == provider)) is not None


def _refuse_claim(session: Session, profile: ExternalProfile, user: User, reason: str, message: str, *,
                  address: str | None) -> None:
    audit.record(session, None, "auth.sso_login_refused", object_type="user", object_id=user.id,
                 new={"provider": profile.provider, "subject": profile.subject, "staff_no": profile.staff_no,
                      "reason": reason}, address=address, actor_name=profile.subject[:64])
    raise AccountClaimed(message)


def _account_for_new_subject(session: Session, profile: ExternalProfile, member: Member | None, *,
                             address: str | None) -> tuple[User, str]:
    """The account a subject signs in as on its first login, and how it was found.

    In this order: the account of the member with the 工号; an account an administrator
    prepared under the 工号 (lower case), without a local password, and nobody claimed yet; a
    new account named after the 工号. An account another subject of the same provider already holds is never taken over,
    and a prepared account linked to another member is not claimed: both are refused and
    audited, because either the provider says two people have one 工号 or someone is not who
    the claim says. A subject without a usable 工号 gets an account of its own.
    """
    taken = f"工号 {profile.staff_no} 的账号已由另一个统一身份认证账号使用，不能再次认领，请联系校工会"
    if member is not None:
        user = session.scalar(select(User).options(selectinload(User.bindings)).where(User.member_id == member.id))
        if user is not None:
            if _claimed_at(session, user.id, profile.provider):
                _refuse_claim(session, profile, user, "会员的账号已关联同一认证源的其他用户", taken, address=address)
            return user, "member"
    username = _staff_no_username(profile.staff_no)
    if username is not None:
        prepared = session.scalar(select(User).options(selectinload(User.bindings)).where(User.username == username))
        if prepared is not None:
            if _claimed_at(session, prepared.id, profile.provider):
                _refuse_claim(session, profile, prepared, "预建账号已关联同一认证源的其他用户", taken, address=address)
            if prepared.password_hash is not None:
                # A local account (the bootstrap admin, an account signed in by password) is named by
                # whoever made it, not by a 工号: a provider's claim of "admin" must not reach it.
                _refuse_claim(session, profile, prepared, "同名账号是本地密码账号",
                              f"用户名 {username} 是本地密码登录的账号，不能由统一身份认证认领，请联系校工会",
                              address=address)
            if prepared.member_id is not None:  # another member's (this member's would have been found above)
                _refuse_claim(session, profile, prepared, "预建账号已关联其他会员",
                              f"工号 {profile.staff_no} 的账号已关联其他会员，不能自动认领，请联系校工会", address=address)
            return prepared, "prepared"
    user = User(
        username=username or _fallback_username(profile),
        display_name=(profile.name or (member.name if member else None) or profile.staff_no or profile.subject)[:64],
        password_hash=None,
    )
    user.bindings = []
    session.add(user)
    session.flush()
    return user, "created"


def _account_staff_no(session: Session, user: User, profile: ExternalProfile) -> str | None:
    """The 工号 an account stands for: its member's, else the one it was named after; None for
    an account named after the subject (``<provider>_<hash>``, or the subject itself as
    accounts were named before the 工号 was used), which stands for no 工号 yet."""
    if user.member_id is not None:
        member = session.get(Member, user.member_id)
        return member.staff_no if member else None
    if user.username in (_fallback_username(profile), profile.subject.lower()):
        return None
    return user.username


def sso_login(session: Session, profile: ExternalProfile, *, address: str | None) -> User:
    """The account behind an SSO subject: found, linked to its member, or created.

    The subject is the stable link: once a (provider, subject) has an account, later logins
    land in it whatever 工号 the provider then sends. A first login finds the account by the
    mapped 工号 (see :func:`_account_for_new_subject`), so an opaque OIDC ``sub`` and a CAS
    ``user`` that is not the 工号 both reach the account staff prepared and the member record.

    A later login whose 工号 differs from the account's (its member's, or the one it is named
    after) is audited as ``auth.sso_staff_no_changed`` and changes no link: moving a person to
    another member record is an administrator's act, never a claim's. The only role ever
    granted here is ``member``; staff roles on a claimed account are kept as they are.
    """
    ext = session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.provider == profile.provider, ExternalIdentity.subject == profile.subject))
    member = _member_by_staff_no(session, profile.staff_no)
    if ext is not None:
        user = _load_user(session, ext.user_id)
        found_by = "link"
    else:
        user, found_by = _account_for_new_subject(session, profile, member, address=address)
        ext = ExternalIdentity(provider=profile.provider, subject=profile.subject, user_id=user.id)
        session.add(ext)
    if not user.is_active:
        audit.record(session, None, "auth.sso_login_refused", object_type="user", object_id=user.id,
                     new={"provider": profile.provider, "subject": profile.subject, "reason": "账号已停用"},
                     address=address, actor_name=profile.subject[:64])
        raise AccountDisabled("账号已停用，请联系校工会")
    if found_by == "link":
        expected = _account_staff_no(session, user, profile)
        if expected is not None and (profile.staff_no or "").lower() != expected.lower():
            audit.record(session, identity_of(user, address=address), "auth.sso_staff_no_changed",
                         object_type="user", object_id=user.id,
                         old={"staff_no": expected, "member_id": user.member_id},
                         new={"staff_no": profile.staff_no, "provider": profile.provider,
                              "subject": profile.subject})
            member = None
    linked = None
    if member is not None and user.member_id is None and session.scalar(
            select(User.id).where(User.member_id == member.id)) is None:
        user.member_id = member.id
        linked = member.id
    if member is not None and user.member_id == member.id:
        _ensure_member_role(user)
    if profile.name:
        user.display_name = profile.name[:64]
    now = utcnow()
    ext.attributes = profile.mapped()
    ext.last_login_at = now
    user.last_login_at = now
    session.flush()
    audit.record(session, identity_of(user, address=address), "auth.sso_login", object_type="user",
                 object_id=user.id, new={"provider": profile.provider, "subject": profile.subject,
                                         "staff_no": profile.staff_no, "found_by": found_by,
                                         "created": found_by == "created", "linked_member_id": linked})
    return user


# ---- portal sessions ------------------------------------------------------------------------


@dataclass
class StartedSession:
    key: str
    row: PortalSession


def start_portal_session(session: Session, user: User, source: str, *, ttl_hours: int, address: str | None,
                         cas_ticket: str | None = None) -> StartedSession:
    key = secrets.token_urlsafe(32)
    row = PortalSession(
        user_id=user.id, key_hash=hash_token(key), csrf_token=secrets.token_urlsafe(32), source=source,
        cas_ticket=cas_ticket, expires_at=utcnow() + timedelta(hours=ttl_hours), created_address=address,
    )
    session.add(row)
    session.flush()
    return StartedSession(key, row)


_SESSION_HOLDER = holder_statement(PortalSession.key_hash, PortalSession.id.label("session_id"),
                                   PortalSession.revoked_at, PortalSession.expires_at, PortalSession.csrf_token,
                                   PortalSession.source)


def resolve_portal_session(session: Session, key: str, address: str | None) -> Identity | None:
    rows = plain_rows(session, _SESSION_HOLDER, {"digest": hash_token(key)}).all()
    if not rows or rows[0].revoked_at is not None or rows[0].expires_at <= utcnow():
        return None
    row = rows[0]
    return identity_from_rows(rows, address=address, extra={
        "portal_session_id": row.session_id, "csrf_token": row.csrf_token, "source": row.source})


def csrf_ok(identity: Identity, presented: str | None) -> bool:
    expected = identity.extra.get("csrf_token")
    return bool(expected and presented) and hmac.compare_digest(str(expected), str(presented))


def end_portal_session(session: Session, identity: Identity) -> None:
    sid = identity.extra.get("portal_session_id")
    if sid is not None:
        session.execute(update(PortalSession).where(PortalSession.id == sid, PortalSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    audit.record(session, identity, "auth.logout", object_type="user", object_id=identity.user_id,
                 new={"portal_session_id": sid})


def end_sessions_by_cas_ticket(session: Session, ticket: str, *, address: str | None) -> int:
    """CAS Single Logout: the session the ticket opened ends; an unknown ticket changes nothing."""
    row = session.scalar(select(PortalSession).where(PortalSession.cas_ticket == ticket))
    if row is None or row.revoked_at is not None:
        return 0
    row.revoked_at = utcnow()
    session.flush()
    audit.record(session, None, "auth.sso_logout", object_type="user", object_id=row.user_id,
                 new={"portal_session_id": row.id, "by": "cas_slo"}, address=address, actor_name="CAS")
    return 1


def cas_ticket_seen(session: Session, ticket: str) -> bool:
    return session.scalar(select(PortalSession.id).where(PortalSession.cas_ticket == ticket)) is not None


# ---- WeChat users ---------------------------------------------------------------------------


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
    user = _load_user(session, account.user_id)
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
            return _load_user(session, account.user_id)
        raise Conflict("当前微信已绑定其他会员，请先解除绑定", code="wechat_already_bound")
    if session.scalar(select(WechatAccount.id).where(WechatAccount.member_id == member.id)) is not None:
        raise Conflict("该会员已绑定其他微信，请先由本人或校工会解除绑定", code="member_already_bound")
    own = _load_user(session, account.user_id)
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
    _ensure_member_role(target)
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
    member = _member_by_staff_no(session, staff_no)
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
    user = _load_user(session, account.user_id)
    placeholder = _placeholder(session, account.openid)
    if user.id == placeholder.id:
        user.member_id = None
        _drop_member_role(user)
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


def wechat_account_of_member(session: Session, member_id: int) -> WechatAccount:
    account = session.scalar(select(WechatAccount).where(WechatAccount.member_id == member_id))
    if account is None:
        raise NotFound("该会员没有绑定微信", code="not_bound")
    return account


# ---- one-time bind codes (SSO binding from the mini-program's web-view) -------------------------


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
