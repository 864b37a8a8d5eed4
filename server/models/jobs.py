"""What every record of a background job run for one person holds (an Excel import, an export)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.timeutil import utcnow


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
