"""The tables of the infrastructure that every area writes to: the audit log (who did what to
which object, when, from where, old → new), the outbox of notices, the named sequences, and the
columns every record of a background job run for one person holds (:class:`JobRecord`), and the
object-level roles (:class:`ObjectGrant`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, table_args
from server.core.timeutil import utcnow
from server.core.types import BigId


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


class Sequence(Base):
    """Named counters advanced by one conditional UPDATE inside the caller's transaction."""

    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Outbox(Base):
    """A notice to deliver, one row per event and recipient; delivery marks it sent (idempotent)."""

    __tablename__ = "outbox"
    __table_args__ = table_args(
        Index("ix_outbox_status", "status", "id"),
        Index("ix_outbox_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    recipient_user_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class ObjectGrant(Base):
    """A role one person holds on one object, beside their role bindings: an activity's
    organisers and check-in staff, a poll's tellers, a proposal's reviewers. The area owning the
    object type names the roles and decides in its ``policy.py`` what each one may do
    (:meth:`server.core.access.Identity.may`); the row itself means nothing to core."""

    __tablename__ = "object_grants"
    __table_args__ = table_args(
        UniqueConstraint("object_type", "object_id", "user_id", "role", name="uq_object_grants"),
        Index("ix_object_grants_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[int | None] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class JobRecord:
    """Who asked, the RQ job's id, and how the run went: queued → running → done | failed
    (an export may later become expired). Only the requester ever sees such a record."""

    # Key and owner first in the table, the run's state after a record's own columns.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-3)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), sort_order=-2)
    job_id: Mapped[str] = mapped_column(String(64), unique=True, sort_order=-1)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
