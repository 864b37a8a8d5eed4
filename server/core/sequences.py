"""Member numbers (会员证号): the 4-digit year of approval (Asia/Shanghai) followed by a
5-digit sequence that restarts every year, e.g. 202600001, 202600002, … (a year with more than
99 999 approvals simply gets a longer number).

The per-year counter lives in ``sequences`` and is advanced by one upsert
(``INSERT … ON DUPLICATE KEY UPDATE value = value + 1`` on MySQL/MariaDB,
``INSERT … ON CONFLICT DO UPDATE`` on SQLite) inside the approving transaction: InnoDB holds
the row lock until commit and SQLite serialises writers, so two approvals never draw the same
number and a rolled-back approval gives its number back.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.models import Sequence
from server.core.timeutil import local_today
from server.domain.members.models import Member


def next_value(session: Session, name: str) -> int:
    table = Sequence.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert

        stmt = insert(table).values(name=name, value=1)
        stmt = stmt.on_duplicate_key_update(value=table.c.value + 1)
    else:
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table).values(name=name, value=1)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.name], set_={"value": table.c.value + 1})
    session.execute(stmt)
    return int(session.scalar(select(table.c.value).where(table.c.name == name)))


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
