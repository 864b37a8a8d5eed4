"""Alembic revisions of the MySQL/MariaDB schema (see server/migrate.py)."""
