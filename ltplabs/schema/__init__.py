"""The legacy schema: creating a new ltplabs.db (or its PostgreSQL form) and checking that a
database is the one we map.

The gateway was built for schema version 3 of ltplabs.db (`database/schema.sql`, read once by
reference.py). Every table, view, index and trigger of that file must be present with the same
definition: a view whose definition changed would make the gateway serve something else silently.
sqlite.py and postgres.py are the two backends' halves.
"""

from .postgres import create_postgres_schema, has_legacy_schema, postgres_schema_problems, reset_sequences
from .reference import LEGACY_TABLES, LEGACY_VIEWS, SCHEMA_SQL, SCHEMA_USER_VERSION
from .sqlite import create_sqlite_database, sqlite_schema_problems

__all__ = [
    "LEGACY_TABLES", "LEGACY_VIEWS", "SCHEMA_SQL", "SCHEMA_USER_VERSION", "create_postgres_schema", "create_sqlite_database",
    "has_legacy_schema", "postgres_schema_problems", "reset_sequences", "schema_problems", "sqlite_schema_problems",
]  # fmt: skip


def schema_problems(connection) -> list[str]:
    """Schema differences on whichever backend `connection` is (empty list: all good)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            return sqlite_schema_problems(cursor.connection)
        return postgres_schema_problems(cursor)
