"""Alembic migrations (migrations/, server/migrate.py) against the models, on MariaDB/MySQL.

The migrated database must be the models' schema (autogenerate finds nothing to do) and the one
``create_all`` builds (what schema.sql shows); the baseline goes down and up again; and a
database built by ``create_all`` before migrations existed is stamped by ``union init-db``.
Each test uses databases of its own (``union_test_migrations*``), never the suite's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Column, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import make_url

from server import migrate
from server.cli import main
from server.core.db import make_engine
from tests.support.world import BACKEND, DB_URL

ROOT = Path(__file__).resolve().parents[2]

on_mariadb = pytest.mark.skipif(
    BACKEND != "mariadb",
    reason="migrations run on MySQL/MariaDB only: set UNION_TEST_DATABASE_URL and UNION_TEST_REDIS_URL",
)


def _server():  # noqa: ANN202
    return create_engine(make_url(DB_URL)._replace(database=None), isolation_level="AUTOCOMMIT")


def _database(name: str) -> str:
    """A new, empty database ``name`` on the test server (dropped first if a run left it)."""
    engine = _server()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    engine.dispose()
    return make_url(DB_URL).set(database=name).render_as_string(hide_password=False)


def _drop(name: str) -> None:
    engine = _server()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    engine.dispose()


@pytest.fixture
def migrated_url():  # noqa: ANN201
    yield _database("union_test_migrations")
    _drop("union_test_migrations")


@pytest.fixture
def created_url():  # noqa: ANN201
    """A database built the way it was before migrations: ``create_all``, no alembic_version."""
    url = _database("union_test_migrations_created")
    engine = make_engine(url)
    migrate.metadata().create_all(engine)
    engine.dispose()
    yield url
    _drop("union_test_migrations_created")


@pytest.fixture
def legacy_url():  # noqa: ANN201
    """A database built by ``create_all`` before migrations existed: the baseline's tables (the
    revision is that schema, by definition) and no alembic_version. Tables that later revisions
    add are not there, as they were not in the models it was built from."""
    url = _database("union_test_migrations_legacy")
    migrate.upgrade(url, migrate.BASELINE)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    yield url
    _drop("union_test_migrations_legacy")


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _information_schema(url: str) -> dict[str, list[tuple]]:
    """Tables (engine, collation), columns, indexes, foreign keys and CHECKs as the server reports
    them; alembic_version left out."""
    schema = make_url(url).database
    queries = {
        "tables": "SELECT table_name, engine, table_collation FROM information_schema.tables "
                  "WHERE table_schema = :s",
        "columns": "SELECT table_name, ordinal_position, column_name, column_type, is_nullable, column_default, "
                   "extra, character_set_name, collation_name FROM information_schema.columns WHERE table_schema = :s",
        "indexes": "SELECT table_name, index_name, non_unique, seq_in_index, column_name "
                   "FROM information_schema.statistics WHERE table_schema = :s",
        "foreign_keys": "SELECT k.table_name, k.constraint_name, k.ordinal_position, k.column_name, "
                        "k.referenced_table_name, k.referenced_column_name, r.update_rule, r.delete_rule "
                        "FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r "
                        "ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name "
                        "WHERE k.table_schema = :s",
        "checks": "SELECT table_name, constraint_name, check_clause FROM information_schema.check_constraints "
                  "WHERE constraint_schema = :s",
    }
    engine = _server()
    try:
        with engine.connect() as conn:
            return {key: sorted(tuple(row) for row in conn.execute(text(sql), {"s": schema})
                                if row[0] != "alembic_version")
                    for key, sql in queries.items()}
    finally:
        engine.dispose()


def _union(args: list[str], url: str, tmp_path):  # noqa: ANN001, ANN202
    env = {"UNION_DATABASE_URL": url, "UNION_INSTANCE_PATH": str(tmp_path), "UNION_REDIS_URL": None}
    return CliRunner().invoke(main, args, env=env)


def _init_db(url: str, tmp_path):  # noqa: ANN001, ANN202
    return _union(["init-db"], url, tmp_path)


@on_mariadb
def test_upgrade_head_on_an_empty_database_leaves_nothing_to_autogenerate(migrated_url, tmp_path):  # noqa: ANN001
    """The test that fails when a model changes without a revision: `union db-revision -m ...`."""
    assert migrate.upgrade(migrated_url) is False  # nothing to stamp: an empty database
    assert migrate.current(migrated_url) == migrate.head()
    assert migrate.check(migrated_url) == []
    result = _union(["db-check"], migrated_url, tmp_path)
    assert result.exit_code == 0, result.output


@on_mariadb
def test_the_comparison_sees_a_new_column_and_a_changed_type(migrated_url):  # noqa: ANN001
    """The check above is not vacuous: the options of server.migrate compare columns and types."""
    migrate.upgrade(migrated_url)
    changed = MetaData(naming_convention=migrate.metadata().naming_convention)
    for table in migrate.metadata().sorted_tables:
        table.to_metadata(changed)
    changed.tables["members"].append_column(Column("added_in_test", String(10)))
    changed.tables["sub_unions"].c.chair.type = String(65)
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts=migrate.COMPARE_OPTIONS), changed)
    finally:
        engine.dispose()
    flat = [d if isinstance(d, tuple) else d[0] for d in diffs]
    assert sorted(d[0] for d in flat) == ["add_column", "modify_type"], diffs


@on_mariadb
def test_upgrade_head_builds_what_create_all_and_schema_sql_build(migrated_url, created_url):  # noqa: ANN001
    migrate.upgrade(migrated_url)
    migrated, created = _information_schema(migrated_url), _information_schema(created_url)
    for key in migrated:
        assert migrated[key] == created[key], key
    assert {row[0] for row in migrated["tables"]} == set(migrate.metadata().tables)
    assert {row[1] for row in migrated["tables"]} == {"InnoDB"}
    assert {row[2] for row in migrated["tables"]} == {"utf8mb4_unicode_ci"}
    # schema.sql names every table, index, unique key and foreign key the migrated database has
    # (InnoDB adds an index of its own for a foreign key that has none, named after the key).
    ddl = (ROOT / "schema.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"^CREATE TABLE (\w+)", ddl, re.M)) == {row[0] for row in migrated["tables"]}
    foreign_keys = set(re.findall(r"CONSTRAINT (\w+) FOREIGN KEY", ddl))
    assert foreign_keys == {row[1] for row in migrated["foreign_keys"]}
    indexes = set(re.findall(r"^CREATE INDEX (\w+)", ddl, re.M)) | set(re.findall(r"CONSTRAINT (\w+) UNIQUE", ddl))
    assert indexes | foreign_keys >= {row[1] for row in migrated["indexes"] if row[1] != "PRIMARY"}
    assert indexes <= {row[1] for row in migrated["indexes"]}


@on_mariadb
def test_downgrade_base_then_upgrade_head(migrated_url):  # noqa: ANN001
    migrate.upgrade(migrated_url)
    migrate.downgrade(migrated_url, "base")
    assert _tables(migrated_url) == {"alembic_version"}
    assert migrate.current(migrated_url) is None
    migrate.upgrade(migrated_url)
    assert migrate.current(migrated_url) == migrate.head()
    assert migrate.check(migrated_url) == []


@on_mariadb
def test_init_db_stamps_a_database_built_before_migrations(legacy_url, tmp_path):  # noqa: ANN001
    created_url = legacy_url
    engine = make_engine(created_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sequences (name, value) VALUES ('member_no', 41)"))
    assert "alembic_version" not in _tables(created_url)

    result = _init_db(created_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"已标记为基线版本 {migrate.BASELINE}" in result.output
    assert "警告" not in result.output  # the check after stamping found the models' schema
    assert migrate.current(created_url) == migrate.head()
    assert migrate.check(created_url) == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT value FROM sequences WHERE name = 'member_no'")) == 41
    engine.dispose()

    again = _init_db(created_url, tmp_path)
    assert again.exit_code == 0 and "基线" not in again.output, again.output


@on_mariadb
def test_init_db_on_an_empty_database_migrates_to_head(migrated_url, tmp_path):  # noqa: ANN001
    result = _init_db(migrated_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "基线" not in result.output and migrate.head() in result.output
    assert migrate.current(migrated_url) == migrate.head()


def test_init_db_on_sqlite_creates_the_tables_and_records_no_revision(tmp_path):  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'union.db'}"
    result = _init_db(url, tmp_path)
    assert result.exit_code == 0, result.output
    tables = set(inspect(create_engine(url)).get_table_names())
    assert tables == set(migrate.metadata().tables)  # no alembic_version: SQLite is built by create_all
