import hashlib
import itertools
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from tqdm import tqdm

from ltplabs.env import postgres_database
from ltplabs.schema import (
    LEGACY_TABLES,
    create_postgres_schema,
    has_legacy_schema,
    postgres_schema_problems,
    reset_sequences,
    sqlite_schema_problems,
)

TARGET = "migration_target"
# Rows that `migrate` itself writes into a new database: they never make a target "non-empty".
BOOKKEEPING_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


@dataclass
class TableCheck:
    rows: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    first_difference: str | None = None

    @property
    def checksum(self) -> str:
        return self.digest.hexdigest()[:16]


class Migration:
    """`manage.py migrate_to_postgres`: every row of ltplabs.db to PostgreSQL, then verified."""

    def __init__(self, command):
        # The command's stdout, stderr and style: output and messages as the command's own.
        self.stdout, self.stderr, self.style = command.stdout, command.stderr, command.style

    def run(self, *, to: str, source: str | None, replace: bool, batch_size: int) -> None:
        if not to.startswith(("postgres://", "postgresql://")):
            raise CommandError("--to must be a postgres:// URL.")
        started = time.monotonic()
        db = self._open_source(source)
        connections.settings[TARGET] = connections.configure_settings(
            {DEFAULT_DB_ALIAS: settings.DATABASES[DEFAULT_DB_ALIAS], TARGET: postgres_database(to)}
        )[TARGET]
        target = connections[TARGET]
        try:
            tables = self._prepare_target(db, target, replace)
            counts = {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}
            total = sum(counts.values())
            self.stdout.write(f"Copying {total} rows of {len(tables)} tables to {target.settings_dict['NAME']} …")
            with transaction.atomic(using=TARGET):
                copy_started = time.monotonic()
                self._copy(db, target, tables, counts, batch_size)
                copy_seconds = time.monotonic() - copy_started
                reset_sequences(target, tables)
                self._verify(db, target, tables, counts)
        except (DatabaseError, psycopg.Error, sqlite3.Error) as exc:
            raise CommandError(f"the copy stopped, nothing of it was committed (run it again once fixed): {exc}".strip()) from exc
        finally:
            db.close()
            target.close()
            del connections[TARGET]
            del connections.settings[TARGET]
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Copied and verified {total} rows in {elapsed:.1f}s "
                f"(copy {copy_seconds:.1f}s, {total / max(copy_seconds, 1e-9):,.0f} rows/s; {total / elapsed:,.0f} rows/s overall)."
            )
        )

    def _open_source(self, source: str | None) -> sqlite3.Connection:
        """A read-only connection holding one read transaction: a snapshot while the gateway goes on writing."""
        if source is None:
            if settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"].endswith("postgresql"):
                raise CommandError("the configured database is PostgreSQL: give --from PATH of the ltplabs.db to copy.")
            source = settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"]
        path = Path(source)
        if not path.is_file():
            raise CommandError(f"{path} does not exist.")
        db = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("BEGIN")
        problems = sqlite_schema_problems(db)  # its first read fixes the snapshot every later read sees
        if problems:
            db.close()
            raise CommandError(f"{path} is not ltplabs.db schema version 3: " + "; ".join(problems))
        self.stdout.write(f"Reading {path} (one read transaction: a consistent snapshot).")
        return db

    def _prepare_target(self, db: sqlite3.Connection, target, replace: bool) -> list[str]:
        """Create what is missing on the target, refuse one that holds rows, and name the tables to copy."""
        with target.cursor() as cursor:
            if not has_legacy_schema(cursor):
                create_postgres_schema(target)
                self.stdout.write("Created the ltplabs schema (database/schema.postgres.sql).")
            problems = postgres_schema_problems(cursor)
        if problems:
            raise CommandError("the target is not ltplabs schema version 3: " + "; ".join(problems))
        source_tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        with target.cursor() as cursor:
            existing = set(target.introspection.table_names(cursor))
            held = {}
            for table in [name for name in source_tables if name in existing and name not in BOOKKEEPING_TABLES]:
                cursor.execute(f"SELECT COUNT(*) FROM {target.ops.quote_name(table)}")
                if count := cursor.fetchone()[0]:
                    held[table] = count
        if held and not replace:
            listed = ", ".join(f"{table}: {count}" for table, count in sorted(held.items()))
            raise CommandError(f"the target already holds rows ({listed}); give --replace to empty it and copy again.")
        tables = list(LEGACY_TABLES)
        if "django_migrations" in source_tables:
            call_command("migrate", database=TARGET, interactive=False, verbosity=0)
            applied = set(db.execute("SELECT app, name FROM django_migrations").fetchall())
            with target.cursor() as cursor:
                cursor.execute("SELECT app, name FROM django_migrations")
                wanted = set(cursor.fetchall())
                if applied != wanted:
                    missing = sorted(f"{app}.{name}" for app, name in wanted - applied)[:5]
                    raise CommandError(
                        "the Django tables of the source are not at this code's migrations "
                        f"(not applied there: {', '.join(missing) or 'none'}; unknown here: {len(applied - wanted)}); "
                        "run `manage.py migrate` on it first."
                    )
                django_tables = set(target.introspection.django_table_names(only_existing=True, include_views=False))
            tables += sorted((django_tables | {"django_migrations"}) & set(source_tables))
        else:
            self.stdout.write("The source has no Django tables (never set up by initdb): only the legacy tables are copied.")
        skipped = sorted(set(source_tables) - set(tables))
        if skipped:
            self.stdout.write(f"Not copied (no such table in the gateway's schema): {', '.join(skipped)}")
        return tables

    def _copy(self, db: sqlite3.Connection, target, tables: list[str], counts: dict[str, int], batch_size: int) -> None:
        quote_name = target.ops.quote_name
        raw = target.connection
        with raw.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # the source's text times are UTC
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            # TRUNCATE, not DELETE: the audit_log's append-only triggers refuse row deletes.
            cursor.execute(f"TRUNCATE {', '.join(quote_name(table) for table in tables)} RESTART IDENTITY")
            with tqdm(total=sum(counts.values()), unit="rows", unit_scale=True, disable=not self.stdout.isatty()) as bar:
                for table in tables:
                    columns = source_columns(db, table)
                    column_list = ", ".join(quote_name(column) for column in columns)
                    rows = db.execute(f"SELECT {column_list} FROM {quote_name(table)}")
                    with cursor.copy(f"COPY {quote_name(table)} ({column_list}) FROM STDIN") as copy:
                        while batch := rows.fetchmany(batch_size):
                            for row in batch:
                                copy.write_row(row)
                            bar.update(len(batch))

    def _verify(self, db: sqlite3.Connection, target, tables: list[str], counts: dict[str, int]) -> None:
        """Counts and a checksum per table, computed alike on both sides: SHA-256 over each row's values as
        text in key order (times 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC, booleans 0/1, JSON with sorted keys)."""
        self.stdout.write(f"{'table':<36} {'rows':>9} {'ltplabs.db':>18} {'postgresql':>18}")
        failures = []
        quote_name = target.ops.quote_name
        raw = target.connection
        for table in tables:
            columns, keys = source_columns(db, table), primary_key(db, table)
            with raw.cursor() as cursor:
                cursor.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s",
                    [table],
                )
                types = dict(cursor.fetchall())
            json_columns = [index for index, column in enumerate(columns) if types.get(column) in ("json", "jsonb")]
            # Qualified: a bare name in ORDER BY would mean the output column, the value as text.
            order = ", ".join(f"{quote_name(table)}.{quote_name(key)}" for key in keys)
            source_rows = db.execute(
                f"SELECT {', '.join(f'CAST({quote_name(column)} AS TEXT)' for column in columns)} FROM {quote_name(table)} ORDER BY {order}"
            )
            pg_order = ", ".join(
                f"{quote_name(table)}.{quote_name(key)}" + (' COLLATE "C"' if types.get(key) == "text" else "") for key in keys
            )
            checks = TableCheck(), TableCheck()
            with raw.cursor(name=f"verify_{table}") as cursor:
                cursor.execute(
                    f"SELECT {', '.join(postgres_text(quote_name(column), types.get(column)) for column in columns)} "
                    f"FROM {quote_name(table)} ORDER BY {pg_order}"
                )
                for pair in itertools.zip_longest(batched(source_rows), batched(cursor)):
                    texts = [row_text(row, json_columns) if row is not None else None for row in pair]
                    for check, text in zip(checks, texts, strict=True):
                        if text is not None:
                            check.rows += 1
                            check.digest.update(text.encode("utf-8"))
                    if texts[0] != texts[1] and checks[0].first_difference is None:
                        row = pair[0] or pair[1]
                        checks[0].first_difference = ", ".join(f"{key}={row[columns.index(key)]}" for key in keys)
            source_check, target_check = checks
            same = source_check.rows == target_check.rows == counts[table] and source_check.checksum == target_check.checksum
            verdict = "ok" if same else "DIFFERENT"
            self.stdout.write(f"{table:<36} {source_check.rows:>9} {source_check.checksum:>18} {target_check.checksum:>18}  {verdict}")
            if not same:
                failures.append(
                    f"{table}: {source_check.rows} rows in ltplabs.db, {target_check.rows} in PostgreSQL, "
                    f"first difference at {source_check.first_difference}"
                )
        if failures:
            raise CommandError("the copy does not match its source, nothing was committed: " + "; ".join(failures))


def source_columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]


def primary_key(db: sqlite3.Connection, table: str) -> list[str]:
    keys = sorted((row[5], row[1]) for row in db.execute(f'PRAGMA table_info("{table}")') if row[5])
    return [name for _, name in keys] or source_columns(db, table)


def batched(cursor, size: int = 5000):
    while rows := cursor.fetchmany(size):
        yield from rows


def postgres_text(column: str, data_type: str | None) -> str:
    """A PostgreSQL value as the text SQLite holds for it (Python's isoformat for times, as Django writes them)."""
    if data_type == "boolean":
        return f"{column}::int::text"
    if data_type == "timestamp with time zone":
        utc = f"{column} AT TIME ZONE 'UTC'"
        return (
            f"CASE WHEN {column} = date_trunc('second', {column}) THEN to_char({utc}, 'YYYY-MM-DD HH24:MI:SS') "
            f"ELSE to_char({utc}, 'YYYY-MM-DD HH24:MI:SS.US') END"
        )
    return f"{column}::text"


def row_text(row: tuple, json_columns: list[int]) -> str:
    """One row as one line of JSON: a list of its values as text (NULL as null), JSON values re-serialised."""
    if json_columns:
        row = list(row)
        for index in json_columns:
            if row[index] is not None:
                row[index] = json.dumps(json.loads(row[index]), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(row, ensure_ascii=False) + "\n"
