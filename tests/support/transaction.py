"""Each test inside one transaction that is rolled back at its end.

The SQLAlchemy 2 recipe "joining a session into an external transaction": the test opens a
connection and begins a transaction on it; every session the app makes for the test's duration
(requests, inline jobs, CLI units of work, the test's own ``db``) is bound to that connection
with ``join_transaction_mode="create_savepoint"``, so its ``commit()`` only releases a
SAVEPOINT and its ``rollback()`` returns to it. The world committed once per session is
untouched when the test ends.

On SQLite, pysqlite begins transactions on its own terms (not before a SELECT, not at a
SAVEPOINT); the connection is switched to the driver's autocommit and BEGIN is emitted here,
which is SQLAlchemy's documented recipe for SAVEPOINT on pysqlite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from server.core.db import Database

# Databases of further apps built by the tests on the suite's database (tests/peers/apps.py):
# bound to the test's connection too, or they would not see what the test wrote.
EXTRA_DATABASES: list[Database] = []
_active: list[Transaction] = []


def adopt(database: Database) -> None:
    """A further app's database: bound to the running test's transaction, and to every later one."""
    EXTRA_DATABASES.append(database)
    for tx in _active:
        tx.bind(database)

JOIN = {"join_transaction_mode": "create_savepoint"}


class TestSession(Session):
    """The test's own session on the shared connection.

    Every session of the test shares one connection, so SAVEPOINTs nest in the order sessions
    begin. The test's session usually begins first (it reads before a request) and rolls back
    only to see what requests committed (``reread``); returning to its SAVEPOINT would then
    undo every request since. With no write of its own pending, its rollback releases the
    SAVEPOINT instead, which undoes nothing, and forgets every loaded object as a rollback does."""

    __test__ = False  # not a test class

    def rollback(self) -> None:
        if not self.is_active or self.info.get("wrote") or self.new or self.dirty or self.deleted:
            super().rollback()
            return
        super().commit()
        self.expire_all()


@event.listens_for(TestSession, "after_flush")
def _wrote(session: Session, _ctx: Any) -> None:
    session.info["wrote"] = True


@event.listens_for(TestSession, "after_commit")
@event.listens_for(TestSession, "after_rollback")
def _settled(session: Session) -> None:
    session.info.pop("wrote", None)


class Transaction:
    """One outer transaction on one connection, with the app's sessions bound to it."""

    def __init__(self, database: Database):
        self.database = database
        self.conn: Connection = database.engine.connect()
        self.sqlite = database.is_sqlite
        if self.sqlite:
            self.conn.connection.driver_connection.isolation_level = None
        self.trans = self.conn.begin()
        if self.sqlite:
            self.conn.exec_driver_sql("BEGIN")
        self.bound: list[Database] = []
        for d in [database, *EXTRA_DATABASES]:
            self.bind(d)
        _active.append(self)

    def bind(self, d: Database) -> None:
        d.session.remove()
        d.factory.configure(bind=self.conn, **JOIN)
        self.bound.append(d)

    def session(self) -> TestSession:
        return TestSession(bind=self.conn, expire_on_commit=False, **JOIN)

    def rollback(self) -> None:
        _active.remove(self)
        for d in self.bound:
            d.session.remove()
            d.factory.kw.pop("join_transaction_mode", None)
            d.factory.configure(bind=d.engine)
        if self.trans.is_active:
            self.trans.rollback()
        if self.sqlite:
            self.conn.connection.driver_connection.isolation_level = ""
        self.conn.close()
