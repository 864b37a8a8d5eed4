"""Engine, sessions and the declarative Base, alike for SQLite and MySQL/MariaDB.

Domain code receives a ``Session`` and only flushes; whoever owns the unit of work (a request,
a job, a CLI command) commits once. Work that must only happen once the data is really there
(enqueueing a job) is registered with :func:`after_commit` and dropped on rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_IN_TRANS
from sqlalchemy import Executable, MetaData, Result, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

from server.core.process import Slot

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Rows per statement when many are written at once (executemany, multi-row INSERT): large
# enough that round trips stop mattering, small enough to stay well under max_allowed_packet.
BULK_ROWS = 1000

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    __table_args__: Any = MYSQL_TABLE_OPTIONS


def table_args(*items: Any) -> tuple[Any, ...]:
    """``__table_args__`` for a model that adds constraints or indexes of its own."""
    return (*items, MYSQL_TABLE_OPTIONS)


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    # READ COMMITTED: conditional UPDATEs and unique keys carry the invariants; a
    # repeatable-read snapshot would only make concurrent reviewers see stale rows.
    engine = create_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        pool_recycle=3600,
        isolation_level="READ COMMITTED",
        pool_reset_on_return=None,  # _rollback_if_open below resets instead
    )

    @event.listens_for(engine, "reset")
    def _rollback_if_open(dbapi_conn, _record, state):  # noqa: ANN001
        """Roll back a connection coming back to the pool only if a transaction is open on it.

        The pool's own reset sends ROLLBACK whenever SQLAlchemy did not end the transaction
        itself, which includes right after a COMMIT: every web request commits, and that
        ROLLBACK was one wasted round trip per request. The server reports in every reply
        whether a transaction is open (SERVER_STATUS_IN_TRANS), and PyMySQL keeps the flag.
        """
        if state.transaction_was_reset or not state.asyncio_safe:
            return
        status = getattr(dbapi_conn, "server_status", None)
        if status is None or status & SERVER_STATUS_IN_TRANS:
            dbapi_conn.rollback()

    return engine


def ensure_database(url: str) -> None:
    """Create the MySQL/MariaDB database named in ``url`` when missing (utf8mb4); SQLite files
    create themselves. For the test suite and the benchmarks, which each use a database of
    their own on a shared server."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "mysql":
        return
    engine = create_engine(parsed._replace(database=None), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}` "
                                 "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        engine.dispose()


class Database:
    """One engine and a thread-scoped session for the process."""

    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.session = scoped_session(self.factory)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def create_all(self) -> None:
        """Every table the loaded models declare (``server.app.load_models`` imports them all)."""
        Base.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine)

    def analyze(self, *tables: str) -> None:
        """Refresh the optimizer's statistics of ``tables`` after a bulk load.

        InnoDB recomputes them by itself only once a tenth of a table has changed, and then in
        the background: right after 100k generated members the plan of the same query could
        change between two runs of it. Statistics are not data, so this runs outside any
        unit of work (on MySQL, ANALYZE TABLE commits implicitly)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables))
            conn.commit()

    def has_schema(self) -> bool:
        from sqlalchemy import inspect

        return inspect(self.engine).has_table("users")

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session committed once at the end, rolled back on any error (jobs, CLI)."""
        session = self.factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def plain_rows(session: Session, stmt: Executable, params: Mapping[str, Any] | None = None) -> Result[Any]:
    """Rows of a select of plain columns, run on the session's connection and transaction, to be
    read by position or by label, never keyed by column object.

    A statement built afresh for each request meets its cached compiled form, and then either
    ``Session.execute`` passes the rows through the ORM's result layer, or ``Connection.execute``
    re-keys the result by the new statement's column objects; for rows read by position both
    were pure cost, about 0.4 ms on a list request whose own queries take 2 ms. The option that
    skips the re-keying is the one the ORM itself sets for its results. Autoflushes like
    ``Session.execute``.
    """
    if session.autoflush:
        session.flush()
    return session.connection().execute(stmt, params, execution_options=_PLAIN)


_PLAIN = {"_result_disable_adapt_to_context": True}


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the session's transaction has committed; forget it on rollback."""
    session.info.setdefault("after_commit", []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for fn in callbacks:
        fn()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


# Jobs and CLI commands find the process's database here (one per process).
_slot: Slot[Database] = Slot("database")
set_current = _slot.set
current = _slot.get
