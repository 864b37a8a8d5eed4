"""Time: UTC (naive) in the database, Asia/Shanghai for everything a person sees."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Naive UTC, the form every DATETIME column holds on both SQLite and MySQL."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def to_local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(LOCAL_TZ)


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


def to_utc_naive(dt: datetime) -> datetime:
    """A datetime a person typed: naive means Asia/Shanghai."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LOCAL_TZ)
    return dt.astimezone(UTC).replace(tzinfo=None)
