"""A member's history as the person and staff see it: every audited change of the record, old →
new, sensitive values masked unless the reader may see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.models import AuditLog
from server.domain.members import catalogue as cat
from server.domain.members.models import Member
from server.domain.members.registry import mask_value

HISTORY_ACTIONS = ("member.create", "member.update", "member.import", "member.join")


def history(session: Session, member: Member, can_see_sensitive: bool) -> list[dict[str, Any]]:
    """Every change to the record, newest first, one entry per field."""
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == "member", AuditLog.object_id == str(member.id),
               AuditLog.action.in_(HISTORY_ACTIONS + ("member.transfer", "member.status_change")))
        .order_by(AuditLog.id.desc())
    ).all()
    out = []
    for row in rows:
        old, new = row.old or {}, row.new or {}
        for code in [c for c in cat.BY_CODE if c in new or c in old]:
            o, n = old.get(code), new.get(code)
            if not can_see_sensitive and code in cat.SENSITIVE:
                o, n = mask_value(code, o), mask_value(code, n)
            out.append({
                "at": row.at, "action": row.action, "actor_name": row.actor_name, "field": code,
                "label": cat.BY_CODE[code].label, "old": o, "new": n,
            })
    return out
