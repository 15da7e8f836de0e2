"""The SQLite side of the legacy schema: creating a new ltplabs.db and checking a file against
database/schema.sql (every table, view, index and trigger with the same definition)."""

import sqlite3
from pathlib import Path

from .reference import SCHEMA_SQL, SCHEMA_USER_VERSION, normalise, reference


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
        (kind, name): normalise(sql)
        for kind, name, sql in cursor.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    }
    for (kind, name), sql in sorted(reference().objects.items()):
        if (kind, name) not in actual:
            problems.append(f"{kind} {name} is missing")
        elif actual[(kind, name)] != sql:
            problems.append(f"{kind} {name} differs from schema version {SCHEMA_USER_VERSION}")
    return problems
