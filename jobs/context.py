"""What a job runs inside: the process's database, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from server.core import db


@contextmanager
def unit_of_work() -> Iterator[Session]:
    database = db.current()
    if not database.is_sqlite:
        # A forked work-horse must not reuse sockets opened by its parent.
        database.engine.dispose(close=False)
    with database.unit_of_work() as session:
        yield session
