"""The audit log: who did what to which object, when, from where, old → new."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, table_args
from server.models.types import BigId
from server.timeutil import utcnow


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = table_args(
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor_user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # No foreign key: the log must outlive whatever it mentions.
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    sub_union_id: Mapped[int | None] = mapped_column(Integer)
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(45))
