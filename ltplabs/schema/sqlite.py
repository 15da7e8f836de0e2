"""The legacy schema: creating a new ltplabs.db and checking that a file is the one we map.

The gateway was built for schema version 3 of ltplabs.db (`database/schema.sql`). Every
table, view, index and trigger of that file must be present with the same definition:
a view whose definition changed would make the gateway serve something else silently.
"""

import re
import sqlite3
from functools import cache
from pathlib import Path

from django.conf import settings

SCHEMA_USER_VERSION = 3
SCHEMA_SQL = Path(settings.BASE_DIR) / "database" / "schema.sql"
LEGACY_TABLES = ("clients", "demos", "client_demo_access", "audit_log")
LEGACY_VIEWS = ("v_active_clients", "v_demo_usage")


def _normalise(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").lower()


@cache
def expected_sqlite_objects() -> dict[tuple[str, str], str]:
    """(type, name) → normalised SQL of every object that database/schema.sql creates."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA_SQL.read_text(encoding="utf-8"))
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    finally:
        db.close()
    return {(kind, name): _normalise(sql) for kind, name, sql in rows}


def create_sqlite_database(path: Path) -> None:
    """Create a new ltplabs.db at `path` from database/schema.sql (refuses an existing file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(f"file:{path}?mode=rwc", uri=True)
    try:
        if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise FileExistsError(f"{path} already holds a database")
        db.executescript(SCHEMA_SQL.read_text(encoding="utf-8"))
        db.execute("PRAGMA journal_mode = WAL")
    finally:
        db.close()


def sqlite_schema_problems(cursor) -> list[str]:
    """What differs between the connected SQLite file and database/schema.sql."""
    problems = []
    version = cursor.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_USER_VERSION:
        problems.append(f"user_version is {version}, expected {SCHEMA_USER_VERSION}")
    actual = {
        (kind, name): _normalise(sql)
        for kind, name, sql in cursor.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    }
    for (kind, name), sql in sorted(expected_sqlite_objects().items()):
        if (kind, name) not in actual:
            problems.append(f"{kind} {name} is missing")
        elif actual[(kind, name)] != sql:
            problems.append(f"{kind} {name} differs from schema version {SCHEMA_USER_VERSION}")
    return problems


def schema_problems(connection) -> list[str]:
    """Schema differences on whichever backend `connection` is (empty list: all good)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            return sqlite_schema_problems(cursor.connection)
        from ltplabs.schema.postgres import postgres_schema_problems

        return postgres_schema_problems(cursor)
