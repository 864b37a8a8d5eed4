"""Schema migrations with Alembic: bring a MySQL/MariaDB database to the models' schema.

Infrastructure only, no business rule. The revisions live in ``migrations/`` at the top of the
repository (shipped as package data next to ``server``); ``migrations/env.py`` takes its
metadata and its comparison options from here, so the CLI (``union init-db``, ``serve``,
``db-upgrade``, ``db-check``, ``db-revision``), the tests and a plain ``alembic`` command run
by a developer all see the same thing.

SQLite (the embedded default) is not migrated: ``union`` builds it with ``create_all`` and stamps
nothing; a development file that falls behind the models is deleted and rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# The first revision: the schema as ``create_all`` built it before migrations existed.
BASELINE = "0001"


def metadata() -> MetaData:
    """The models' metadata with every area's tables registered (``AREAS`` in server/app.py)."""
    from server.app import load_models
    from server.core.db import Base

    load_models()
    return Base.metadata


# Shared by migrations/env.py (autogenerate) and check() below. Both comparisons are exact on
# MariaDB 10.11 for these models (JSON is reflected back as JSON, Boolean as TINYINT(1)):
# tests/core/test_migrations.py checks that a migrated database shows no difference.
COMPARE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
}


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file; with ``connection``, env.py migrates on it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    from server.core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(url: str) -> str | None:
    """The revision the database is at; None when it has no ``alembic_version`` (or is empty)."""
    with _connection(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_legacy(conn: Connection) -> bool:
    """Tables of ours exist but no ``alembic_version``: built by ``create_all`` before migrations."""
    names = set(inspect(conn).get_table_names())
    return "alembic_version" not in names and bool(names & set(metadata().tables))


def upgrade(url: str, revision: str = "head") -> bool:
    """Migrate the database at ``url`` to ``revision``; return True when it was first stamped.

    Installations deployed before migrations existed have their tables, built by
    ``Base.metadata.create_all``, and no ``alembic_version``: upgrading them from nothing would
    try to create tables that are there. Their schema is the baseline's (the baseline revision
    was generated from the models as they were then), so such a database is stamped at
    ``BASELINE`` first and then upgraded like any other. A database built by ``create_all``
    from code older than the baseline may lack columns; ``check()`` after the upgrade says so.
    """
    with _connection(url) as conn:
        stamped = is_legacy(conn)
        cfg = config(conn)
        if stamped:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
    return stamped


def downgrade(url: str, revision: str) -> None:
    with _connection(url) as conn:
        command.downgrade(config(conn), revision)


def stamp(url: str, revision: str) -> None:
    with _connection(url) as conn:
        command.stamp(config(conn), revision)


def check(url: str) -> list[Any]:
    """What differs between the database at ``url`` and the models, as Alembic's autogenerate
    sees it (the operations a new revision would hold); empty when they agree. A database not at
    head is also reported, as ``("revision", current, head)``."""
    with _connection(url) as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
        diffs: list[Any] = list(compare_metadata(context, metadata()))
        at, expected = context.get_current_revision(), head()
        if at != expected:
            diffs.insert(0, ("revision", at, expected))
    return diffs


def revision(url: str, message: str) -> None:
    """Write a new revision under ``migrations/versions/`` from what the models add to the database
    at ``url`` (which must be at head): review it before committing."""
    with _connection(url) as conn:
        command.revision(config(conn), message=message, autogenerate=True)
