"""Identities from outside: campus SSO subjects and the accounts they sign in as (portal
sessions are :mod:`server.domain.identity.sessions`, WeChat users
:mod:`server.domain.identity.wechat`).

Every later feature trusts what is decided here, so the rules are few and strict:

- An SSO subject (CAS ``user``, OIDC ``sub``) maps to one account, for good. Its first login
  finds that account by the mapped 工号 (the subject itself unless an attribute carries it,
  kept as a string): the member's account, an account staff prepared under the 工号, or a new
  one named after it. The account is linked to the member with that staff_no; it receives the
  ``member`` role when a member record matches and nothing else — staff roles are granted by
  a super_admin, and kept when a prepared account is claimed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.core import audit
from server.core.errors import Conflict, Forbidden, NotFound
from server.core.timeutil import utcnow
from server.domain.accounts.models import RoleBinding, User
from server.domain.accounts.users import (
    USERNAME_RE,
    identity_of,
)
from server.domain.identity.models import ExternalIdentity
from server.domain.members.models import Member

# ---- errors that must keep their audit row ----------------------------------------------


class AccountDisabled(Forbidden):
    code = "account_disabled"
    keep_changes = True


class AccountClaimed(Conflict):
    """A first SSO login would take over an account that is someone else's: refused, audited."""

    code = "sso_account_claimed"
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


def member_by_staff_no(session: Session, staff_no: str | None) -> Member | None:
    if not staff_no:
        return None
    return session.scalar(select(Member).where(Member.staff_no == staff_no))


def ensure_member_role(user: User) -> None:
    if not any(b.role == "member" for b in user.bindings):
        user.bindings.append(RoleBinding(role="member", sub_union_id=None))


def drop_member_role(user: User) -> None:
    user.bindings = [b for b in user.bindings if b.role != "member"]


def load_user(session: Session, user_id: int) -> User:
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
    member = member_by_staff_no(session, profile.staff_no)
    if ext is not None:
        user = load_user(session, ext.user_id)
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
        ensure_member_role(user)
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


# ---- WeChat users ---------------------------------------------------------------------------


# ---- one-time bind codes (SSO binding from the mini-program's web-view) -------------------------


