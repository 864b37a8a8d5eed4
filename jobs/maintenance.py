"""Housekeeping jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_

from jobs.context import unit_of_work
from server.core.timeutil import utcnow
from server.domain.accounts.models import ApiToken


def purge_expired_tokens(keep_days: int = 30) -> int:
    """Delete tokens that expired or were revoked more than ``keep_days`` ago (idempotent)."""
    cutoff = utcnow() - timedelta(days=keep_days)
    with unit_of_work() as session:
        result = session.execute(
            delete(ApiToken).where(or_(ApiToken.expires_at < cutoff, ApiToken.revoked_at < cutoff))
        )
        return result.rowcount or 0
