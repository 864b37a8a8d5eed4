"""The union's organisation: sub-unions (分工会) under the school union (校工会)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base
from server.core.timeutil import utcnow


class SubUnion(Base):
    __tablename__ = "sub_unions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    chair: Mapped[str | None] = mapped_column(String(64))
    # The retirees' sub-union receives members who retire (status-change workflow).
    is_retirees: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
