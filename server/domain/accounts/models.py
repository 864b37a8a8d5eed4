"""Accounts: people who sign in, the roles they hold, and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, table_args
from server.core.timeutil import utcnow
from server.core.types import BigId


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    # None for accounts that only ever sign in through SSO or WeChat.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    bindings: Mapped[list[RoleBinding]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleBinding.id"
    )


class RoleBinding(Base):
    """A role held by a user, bound to a scope: the school (no sub-union) or one sub-union."""

    __tablename__ = "role_bindings"
    __table_args__ = table_args(UniqueConstraint("user_id", "role", "sub_union_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    sub_union_id: Mapped[int | None] = mapped_column(ForeignKey("sub_unions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="bindings")


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored, so a leaked table grants nothing."""

    __tablename__ = "api_tokens"
    __table_args__ = table_args(Index("ix_api_tokens_user_active", "user_id", "revoked_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="login")  # login | sso | wechat
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_address: Mapped[str | None] = mapped_column(String(45))
