"""Statistics: saved queries (presets) and Excel exports with their progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, table_args
from server.core.models import JobRecord
from server.core.timeutil import utcnow


class StatsPreset(Base):
    """A filter someone named to reuse: private to its owner, or shared with every union account
    that may run statistics. Running it always applies the runner's own scope."""

    __tablename__ = "stats_presets"
    __table_args__ = table_args(Index("ix_stats_presets_owner", "owner_user_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    group_by: Mapped[list[str] | None] = mapped_column(JSON)
    owner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class StatsExport(JobRecord, Base):
    """An export written by a job: what was asked, by whom, and how far the file has got."""

    __tablename__ = "stats_exports"
    __table_args__ = table_args(Index("ix_stats_exports_requester", "requested_by"))

    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    group_by: Mapped[list[str] | None] = mapped_column(JSON)
    template: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(255))  # under <instance>/exports/
    download_name: Mapped[str | None] = mapped_column(String(255))
