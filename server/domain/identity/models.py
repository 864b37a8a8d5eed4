"""Where identities come from: portal sessions, SSO subjects and WeChat users.

Portal sessions live in the database rather than in the cookie so that the web tier keeps no
state, sign-out really ends a session, and CAS Single Logout can find a session by its ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, table_args
from server.core.timeutil import utcnow
from server.core.types import BigId


class PortalSession(Base):
    """A signed-in browser. The cookie holds a random key; only its SHA-256 is stored here."""

    __tablename__ = "portal_sessions"
    __table_args__ = table_args(Index("ix_portal_sessions_user_active", "user_id", "revoked_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Sent back in X-CSRF-Token on every unsafe cookie-authenticated request.
    csrf_token: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # cas | oidc
    # The CAS service ticket that opened it: SLO names it, and a replayed ticket meets the key.
    cas_ticket: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_address: Mapped[str | None] = mapped_column(String(45))


class ExternalIdentity(Base):
    """A subject at a campus identity provider (CAS user, OIDC sub) and its account.

    One subject has one account, and one account at most one subject per provider: a second
    subject claiming the same 工号 never takes over an account (the key decides a race)."""

    __tablename__ = "external_identities"
    __table_args__ = table_args(UniqueConstraint("provider", "subject"), UniqueConstraint("user_id", "provider"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # cas | oidc
    subject: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The mapped attributes last received (姓名, 单位, 人员类别 …), for staff to see.
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class WechatAccount(Base):
    """A WeChat mini-program user (openid) and the member it is bound to.

    ``user_id`` is the account the WeChat user signs in as: an account of its own until it is
    bound, then the member's account. ``member_id`` is unique, so one member has at most one
    WeChat user; ``openid`` is unique, so one WeChat user binds at most one member. The
    ``session_key`` from code2session is never stored.
    """

    __tablename__ = "wechat_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True)
    bound_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
