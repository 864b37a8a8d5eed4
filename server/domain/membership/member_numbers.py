"""Member numbers (会员证号): the 4-digit year of approval (Asia/Shanghai) followed by a
5-digit sequence that restarts every year, e.g. 202600001, 202600002, … (a year with more than
99 999 approvals simply gets a longer number), drawn from the per-year named sequence of
:mod:`server.core.sequences` inside the approving transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.sequences import next_value
from server.core.timeutil import local_today
from server.domain.members.models import Member


def format_member_no(year: int, value: int) -> str:
    return f"{year:04d}{value:05d}"


def next_member_no(session: Session, year: int | None = None) -> str:
    """The next free number of the year; numbers already used (imported records) are skipped."""
    year = year or local_today().year
    for _ in range(10000):
        number = format_member_no(year, next_value(session, f"member_no:{year}"))
        if session.scalar(select(Member.id).where(Member.member_no == number)) is None:
            return number
    raise RuntimeError("no free member number")  # pragma: no cover
