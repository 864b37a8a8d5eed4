"""Named counters (e.g. the member numbers of a year): one row in ``sequences`` per name,
advanced by one upsert
(``INSERT … ON DUPLICATE KEY UPDATE value = value + 1`` on MySQL/MariaDB,
``INSERT … ON CONFLICT DO UPDATE`` on SQLite) inside the approving transaction: InnoDB holds
the row lock until commit and SQLite serialises writers, so two transactions never draw the same
value and a rolled-back one gives its value back.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.core.models import Sequence


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


