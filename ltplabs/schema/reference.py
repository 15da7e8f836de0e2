"""database/schema.sql, read once: what every check of a database compares it with."""

import re
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

SCHEMA_USER_VERSION = 3
SCHEMA_SQL = Path(settings.BASE_DIR) / "database" / "schema.sql"
POSTGRES_SCHEMA_SQL = Path(settings.BASE_DIR) / "database" / "schema.postgres.sql"
LEGACY_TABLES = ("clients", "demos", "client_demo_access", "audit_log")
LEGACY_VIEWS = ("v_active_clients", "v_demo_usage")


def normalise(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").lower()


@dataclass(frozen=True)
class Reference:
    objects: dict[tuple[str, str], str]  # (type, name) -> normalised SQL of every object schema.sql creates
    columns: dict[str, list[str]]  # legacy table or view -> its column names, in order
    indexes: list[str]
    triggers: list[str]


@cache
def reference() -> Reference:
    """database/schema.sql loaded into an in-memory SQLite database, and read back."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA_SQL.read_text(encoding="utf-8"))
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        columns = {name: [row[1] for row in db.execute(f"PRAGMA table_info({name})")] for name in LEGACY_TABLES + LEGACY_VIEWS}
    finally:
        db.close()
    return Reference(
        objects={(kind, name): normalise(sql) for kind, name, sql in rows},
        columns=columns,
        indexes=sorted(name for kind, name, _ in rows if kind == "index"),
        triggers=sorted(name for kind, name, _ in rows if kind == "trigger"),
    )
