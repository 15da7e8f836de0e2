"""The PostgreSQL backend's side of the legacy schema: creating it and checking it.

database/schema.postgres.sql is ltplabs.db schema version 3 in PostgreSQL's terms. The
check asks for what database/schema.sql defines (every table and view with the same
columns in the same order, every index and trigger by name) and for the version in the
one-row table schema_version, SQLite's PRAGMA user_version.
"""

from django.db import transaction

from .reference import LEGACY_VIEWS, POSTGRES_SCHEMA_SQL, SCHEMA_USER_VERSION, reference


def has_legacy_schema(cursor) -> bool:
    cursor.execute("SELECT to_regclass('schema_version') IS NOT NULL OR to_regclass('clients') IS NOT NULL")
    return cursor.fetchone()[0]


def create_postgres_schema(connection) -> bool:
    """Load database/schema.postgres.sql into an empty database; False when the schema is already there."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if has_legacy_schema(cursor):
            return False
        cursor.execute(POSTGRES_SCHEMA_SQL.read_text(encoding="utf-8"))
    return True


def reset_sequences(connection, tables: list[str]) -> None:
    """Move each serial or identity column's sequence past the table's highest value.

    Rows written with explicit ids (sample data, a migration) leave PostgreSQL's sequences
    behind, and the next insert would collide; SQLite's AUTOINCREMENT follows by itself.
    """
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT attname, pg_get_serial_sequence(%s, attname) FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped AND pg_get_serial_sequence(%s, attname) IS NOT NULL",
                [quote(table), quote(table), quote(table)],
            )
            for column, sequence in cursor.fetchall():
                cursor.execute(
                    f"SELECT setval(%s, COALESCE(MAX({quote(column)}), 1), MAX({quote(column)}) IS NOT NULL) FROM {quote(table)}",
                    [sequence],
                )


def postgres_schema_problems(cursor) -> list[str]:
    """What differs between the connected PostgreSQL database and schema version 3."""
    problems = []
    cursor.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    if not cursor.fetchone()[0]:
        problems.append("table schema_version is missing")
    else:
        cursor.execute("SELECT version FROM schema_version")
        versions = [row[0] for row in cursor.fetchall()]
        if versions != [SCHEMA_USER_VERSION]:
            found = versions[0] if len(versions) == 1 else versions or "missing"
            problems.append(f"schema_version is {found}, expected {SCHEMA_USER_VERSION}")
    expected = reference()
    cursor.execute(
        "SELECT c.relname, c.relkind, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname = ANY(%s) AND c.relkind IN ('r', 'v', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
        [list(expected.columns)],
    )
    actual: dict[str, tuple[str, list[str]]] = {}
    for relation, relkind, column in cursor.fetchall():
        actual.setdefault(relation, ("view" if relkind == "v" else "table", []))[1].append(column)
    for name, columns in expected.columns.items():
        kind = "view" if name in LEGACY_VIEWS else "table"
        if name not in actual or actual[name][0] != kind:
            problems.append(f"{kind} {name} is missing")
        elif actual[name][1] != columns:
            problems.append(f"{kind} {name} differs from schema version {SCHEMA_USER_VERSION}: columns {', '.join(actual[name][1])}")
    cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(%s)", [expected.indexes])
    found_indexes = {row[0] for row in cursor.fetchall()}
    problems += [f"index {name} is missing" for name in expected.indexes if name not in found_indexes]
    cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(%s)", [expected.triggers])
    found_triggers = {row[0] for row in cursor.fetchall()}
    problems += [f"trigger {name} is missing" for name in expected.triggers if name not in found_triggers]
    return problems
