"""Accounts, passwords, API tokens and sign-in.

Tokens are random (256 bits) and only their SHA-256 is stored: a copy of the table lets no one
sign in. Failed sign-ins are throttled in Redis by :mod:`server.domain.accounts.users.users.login_throttle`, whose
limits fall on the failing username and network, never on the owner at their own network.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from server.core import audit
from server.core.access import ROLES, Binding, Identity, validate_binding
from server.core.db import plain_rows
from server.core.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from server.core.timeutil import utcnow
from server.domain.accounts.login_throttle import LoginThrottle, Refusal
from server.domain.accounts.models import ApiToken, RoleBinding, User
from server.domain.members.models import Member
from server.domain.org.models import SubUnion

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


@functools.cache
def _dummy_hash(method: str) -> str:
    """Checked against when the account is unknown or has no password, so that a miss costs as
    much time as a wrong password for a real account: hashed by the method real passwords use
    (a 1,000-round pbkdf2 against scrypt answered an unknown username several times faster)."""
    return generate_password_hash("not-a-real-password", method=method)


class LoginFailed(Unauthorized):
    """A failed sign-in: the request fails but the audit row of the attempt is kept."""

    code = "bad_credentials"
    keep_changes = True


class LoginThrottled(TooManyRequests):
    """A sign-in refused by the throttle: 429 with Retry-After; its audit row is kept."""

    code = "login_rate_limited"
    keep_changes = True


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def check_password_policy(password: str) -> str | None:
    if len(password) < 8:
        return "密码至少 8 位"
    if len(password) > 128:
        return "密码不能超过 128 位"
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        return "密码须同时包含字母和数字"
    return None


@dataclass
class IssuedToken:
    token: str
    row: ApiToken


def issue_token(session: Session, user: User, ttl_hours: int, *, kind: str = "login",
                address: str | None = None) -> IssuedToken:
    plain = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(plain),
        kind=kind,
        expires_at=utcnow() + timedelta(hours=ttl_hours),
        created_address=address,
    )
    session.add(row)
    session.flush()
    return IssuedToken(plain, row)


def login(session: Session, throttle: LoginThrottle, username: str, password: str, *,
          address: str | None, ttl_hours: int, hash_method: str = "scrypt") -> tuple[User, IssuedToken]:
    user = authenticate(session, throttle, username, password, address=address, hash_method=hash_method)
    issued = issue_token(session, user, ttl_hours, address=address)
    audit.record(session, identity_of(user, address=address), "auth.login", object_type="user",
                 object_id=user.id, new={"token_id": issued.row.id})
    return user, issued


def authenticate(session: Session, throttle: LoginThrottle, username: str, password: str, *,
                 address: str | None, hash_method: str = "scrypt") -> User:
    """The password check of a local account behind the login throttle (the API login and the
    portal's local sign-in both use it); failures and refusals are audited here."""
    # Usernames are stored in lower case: MariaDB compares case-insensitively, SQLite does
    # not, and one account must not sign in as "CHAIR" on one backend only.
    username = username.strip().lower()
    attempt = throttle.admit(username, address)
    if isinstance(attempt, Refusal):
        # The same one-column lookup whether the account exists or not, and no password check.
        user_id = session.scalar(select(User.id).where(User.username == username))
        audit.record(
            session, None, "auth.login_throttled", object_type="user", object_id=user_id,
            new={"username": username[:64], "limit": attempt.limit, "retry_after": attempt.retry_after,
                 **({"cause": attempt.cause} if attempt.cause else {})},
            address=address, actor_name=username[:64],
        )
        raise LoginThrottled(attempt.message, retry_after=attempt.retry_after)
    user = session.scalar(select(User).where(User.username == username))
    ok = check_password_hash(user.password_hash if user and user.password_hash else _dummy_hash(hash_method),
                             password)
    if not (user and user.is_active and user.password_hash and ok):
        throttle.fail(attempt)
        audit.record(
            session, None, "auth.login_failed", object_type="user",
            object_id=user.id if user else None, new={"username": username[:64]},
            address=address, actor_name=username[:64],
        )
        raise LoginFailed("用户名或密码错误")
    throttle.succeed(attempt)
    user.last_login_at = utcnow()
    return user


def logout(session: Session, identity: Identity) -> None:
    if identity.token_id is not None:
        session.execute(
            update(ApiToken).where(ApiToken.id == identity.token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    audit.record(session, identity, "auth.logout", object_type="user", object_id=identity.user_id)


def identity_of(user: User, *, address: str | None = None, token_id: int | None = None) -> Identity:
    return Identity(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        bindings=tuple(Binding(b.role, b.sub_union_id) for b in user.bindings),
        member_id=user.member_id,
        address=address,
        token_id=token_id,
    )


def holder_statement(digest_column: Any, *columns: Any) -> Select[Any]:
    """The credential whose ``digest_column`` equals the ``digest`` parameter (its ``columns``),
    its user and the user's role bindings in one round trip, one row per binding (a user
    without roles: one row, role None).

    A bearer token or portal session is resolved on every request; as three queries building
    ORM objects (credential, user, bindings) it cost more than a list page's own two queries.
    Nothing is cached between requests, so a revoked credential or a changed role takes effect
    on the very next request in every web process. Callers build the statement once, at import:
    constructing it per request cost about as much as running it.
    """
    credential = digest_column.class_
    return (
        select(*columns, User.id.label("holder_id"), User.username, User.display_name, User.member_id,
               User.is_active, RoleBinding.role, RoleBinding.sub_union_id)
        .join(User, User.id == credential.user_id)
        .outerjoin(RoleBinding, RoleBinding.user_id == User.id)
        .where(digest_column == bindparam("digest"))
        .order_by(RoleBinding.id)
    )


def identity_from_rows(rows: Sequence[Row[Any]], *, address: str | None, token_id: int | None = None,
                       extra: dict[str, Any] | None = None) -> Identity | None:
    """The :class:`Identity` of a :func:`holder_statement`'s user, or None for a deactivated account."""
    holder = rows[0]
    if not holder.is_active:
        return None
    return Identity(
        user_id=holder.holder_id,
        username=holder.username,
        display_name=holder.display_name,
        bindings=tuple(Binding(r.role, r.sub_union_id) for r in rows if r.role is not None),
        member_id=holder.member_id,
        address=address,
        token_id=token_id,
        extra=extra or {},
    )


_TOKEN_HOLDER = holder_statement(ApiToken.token_hash, ApiToken.id.label("token_id"), ApiToken.revoked_at,
                                 ApiToken.expires_at, ApiToken.last_used_at)


def resolve_token(session: Session, plain: str, address: str | None) -> Identity | None:
    """The identity behind a bearer token, or None when it is unknown, expired or revoked."""
    rows = plain_rows(session, _TOKEN_HOLDER, {"digest": hash_token(plain)}).all()
    now = utcnow()
    if not rows or rows[0].revoked_at is not None or rows[0].expires_at <= now:
        return None
    token = rows[0]
    identity = identity_from_rows(rows, address=address, token_id=token.token_id)
    if identity is None:
        return None
    # Touch at most every few minutes: a write per request would serialise readers.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        session.execute(update(ApiToken).where(ApiToken.id == token.token_id).values(last_used_at=now))
    return identity


def revoke_all_tokens(session: Session, user_id: int) -> int:
    result = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0


# ---- account management (super_admin) -------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.scalar(select(User).options(selectinload(User.bindings)).where(User.id == user_id))
    if user is None:
        raise NotFound("账号不存在")
    return user


def list_users(session: Session, *, q: str | None, role: str | None, page: int,
               page_size: int) -> tuple[int, list[User]]:
    stmt = select(User)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(User.username.like(like) | User.display_name.like(like))
    if role:
        stmt = stmt.where(User.id.in_(select(RoleBinding.user_id).where(RoleBinding.role == role)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    users = session.scalars(
        stmt.options(selectinload(User.bindings)).order_by(User.id)
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    return total, list(users)


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "is_active": user.is_active,
        "member_id": user.member_id,
        "roles": [f"{b.role}@{b.sub_union_id}" if b.sub_union_id else b.role for b in user.bindings],
    }


def _check_bindings(session: Session, bindings: list[dict[str, Any]]) -> list[Binding]:
    errors: dict[str, str] = {}
    out: list[Binding] = []
    for i, item in enumerate(bindings):
        role, sub_union_id = item.get("role"), item.get("sub_union_id")
        why = validate_binding(role, sub_union_id)
        if why is None and sub_union_id is not None and session.get(SubUnion, sub_union_id) is None:
            why = f"分工会 {sub_union_id} 不存在"
        if why:
            errors[f"roles[{i}]"] = why
        else:
            b = Binding(role, sub_union_id)
            if b not in out:
                out.append(b)
    if errors:
        raise Invalid(errors)
    return out


def _check_member(session: Session, user: User | None, member_id: int | None) -> None:
    if member_id is None:
        return
    if session.get(Member, member_id) is None:
        raise Invalid({"member_id": f"会员 {member_id} 不存在"})
    other = session.scalar(select(User).where(User.member_id == member_id))
    if other is not None and (user is None or other.id != user.id):
        raise Conflict(f"会员 {member_id} 已关联账号 {other.username}", fields={"member_id": "已关联其他账号"})


def create_user(session: Session, actor: Identity | None, *, username: str, display_name: str,
                password: str | None = None, roles: list[dict[str, Any]] | None = None,
                member_id: int | None = None, hash_method: str = "scrypt",
                enforce_policy: bool = True) -> User:
    errors: dict[str, str] = {}
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        errors["username"] = "用户名为 2–64 位字母、数字或 _ . @ -"
    if not (display_name or "").strip():
        errors["display_name"] = "姓名不能为空"
    if password is not None and enforce_policy and (why := check_password_policy(password)):
        errors["password"] = why
    if errors:
        raise Invalid(errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在", fields={"username": "已存在"})
    bindings = _check_bindings(session, roles or [])
    _check_member(session, None, member_id)
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=generate_password_hash(password, method=hash_method) if password else None,
        member_id=member_id,
    )
    user.bindings = [RoleBinding(role=b.role, sub_union_id=b.sub_union_id) for b in bindings]
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", object_type="user", object_id=user.id, new=_snapshot(user))
    return user


def update_user(session: Session, actor: Identity, user_id: int, changes: dict[str, Any], *,
                hash_method: str = "scrypt") -> User:
    user = get_user(session, user_id)
    before = _snapshot(user)
    if "display_name" in changes:
        if not (changes["display_name"] or "").strip():
            raise Invalid({"display_name": "姓名不能为空"})
        user.display_name = changes["display_name"].strip()
    if "member_id" in changes:
        _check_member(session, user, changes["member_id"])
        user.member_id = changes["member_id"]
    if "roles" in changes:
        bindings = _check_bindings(session, changes["roles"])
        if user.id == actor.user_id and not any(b.role == "super_admin" for b in bindings):
            raise Conflict("不能移除自己的超级管理员角色", fields={"roles": "不能移除自己的超级管理员角色"})
        wanted = {(b.role, b.sub_union_id) for b in bindings}
        user.bindings = [b for b in user.bindings if (b.role, b.sub_union_id) in wanted] + [
            RoleBinding(role=r, sub_union_id=s)
            for r, s in sorted(wanted - {(b.role, b.sub_union_id) for b in user.bindings}, key=str)
        ]
    password_changed = False
    if changes.get("password") is not None:
        if why := check_password_policy(changes["password"]):
            raise Invalid({"password": why})
        user.password_hash = generate_password_hash(changes["password"], method=hash_method)
        password_changed = True
    if "is_active" in changes:
        if user.id == actor.user_id and not changes["is_active"]:
            raise Conflict("不能停用自己的账号", fields={"is_active": "不能停用自己的账号"})
        user.is_active = bool(changes["is_active"])
    session.flush()
    if password_changed or not user.is_active:
        revoke_all_tokens(session, user.id)
    old, new = audit.changes(before, _snapshot(user))
    if password_changed:
        old["password"], new["password"] = "***", "（已重置）"
    if new:
        audit.record(session, actor, "user.update", object_type="user", object_id=user.id, old=old, new=new)
    return user


def revoke_tokens(session: Session, actor: Identity, user_id: int) -> int:
    get_user(session, user_id)
    n = revoke_all_tokens(session, user_id)
    audit.record(session, actor, "user.revoke_tokens", object_type="user", object_id=user_id, new={"revoked": n})
    return n


def role_table() -> list[dict[str, Any]]:
    return [
        {"code": r.code, "label": r.label, "scope": r.scope, "permissions": sorted(r.permissions)}
        for r in ROLES.values()
    ]
