"""Member records (会员). The registry issue grows this into the full field catalogue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, table_args
from server.timeutil import utcnow


class Member(Base):
    __tablename__ = "members"
    __table_args__ = table_args(Index("ix_members_sub_union_status", "sub_union_id", "membership_status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    staff_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    sub_union_id: Mapped[int] = mapped_column(ForeignKey("sub_unions.id"))
    membership_status: Mapped[str] = mapped_column(String(8), default="正常")
    employment_status: Mapped[str] = mapped_column(String(8), default="在职")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
