"""Searching the audit log, newest first, for the school-level roles that may read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.core.models import AuditLog


@dataclass
class AuditQuery:
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    actor_user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(session: Session, q: AuditQuery, page: int, page_size: int) -> tuple[int, list[AuditLog]]:
    stmt = select(AuditLog)
    if q.action:
        stmt = stmt.where(AuditLog.action == q.action)
    if q.object_type:
        stmt = stmt.where(AuditLog.object_type == q.object_type)
    if q.object_id:
        stmt = stmt.where(AuditLog.object_id == q.object_id)
    if q.actor_user_id:
        stmt = stmt.where(AuditLog.actor_user_id == q.actor_user_id)
    if q.since:
        stmt = stmt.where(AuditLog.at >= q.since)
    if q.until:
        stmt = stmt.where(AuditLog.at < q.until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditLog.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return total, list(rows)
