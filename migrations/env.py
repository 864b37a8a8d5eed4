"""Alembic environment: the models' metadata and comparison options come from server.migrate.

Run by ``server.migrate`` (``union init-db``, ``serve``, ``db-upgrade``, ``db-revision``) on the
connection it passes in ``config.attributes["connection"]``, or by a plain ``alembic`` command
from the repository's top (``[tool.alembic]`` in pyproject.toml), which migrates the database the
app is configured with (``UNION_DATABASE_URL``). ``alembic upgrade head --sql`` writes the SQL
for a DBA instead.
"""

from __future__ import annotations

from alembic import context

from server import migrate

config = context.config
OPTIONS = {"target_metadata": migrate.metadata(), **migrate.COMPARE_OPTIONS}


def _url() -> str:
    """The database the app is configured with: the same settings, the same defaults."""
    from server.app import create_app

    return create_app().extensions["union"].db.url


def run_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from server.core.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
