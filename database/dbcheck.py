import sqlite3

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from ltplabs.schema import SCHEMA_USER_VERSION, schema_problems

EXPECTED_PRAGMAS = {"journal_mode": "wal", "synchronous": 1, "cache_size": -64000, "foreign_keys": 1, "busy_timeout": 5000}


class DatabaseCheck:
    """`manage.py dbcheck`: pragmas, journal mode, schema, integrity_check and foreign_key_check."""

    def __init__(self, command):
        # The command's stdout, stderr and style: output and messages as the command's own.
        self.stdout, self.stderr, self.style = command.stdout, command.stderr, command.style

    def run(self) -> None:
        problems = []
        try:
            connection.close()
            connection.ensure_connection()
            if connection.vendor == "sqlite":
                problems += self._sqlite_checks()
            schema = schema_problems(connection)
        except DatabaseError as exc:
            raise CommandError(f"cannot query the database: {exc}") from exc
        if schema:
            self.stdout.write(f"schema: {len(schema)} difference(s) from schema version {SCHEMA_USER_VERSION}")
            problems += [f"schema: {problem}" for problem in schema]
        else:
            self.stdout.write(f"schema: version {SCHEMA_USER_VERSION}, every table, view, index and trigger as expected")
        if problems:
            for problem in problems:
                self.stderr.write(f"problem: {problem}")
            raise CommandError(f"{len(problems)} problem(s) found")
        self.stdout.write(self.style.SUCCESS("ok"))

    def _sqlite_checks(self) -> list[str]:
        problems = []
        db = connection.connection
        self.stdout.write(f"database: {settings.DATABASES['default']['NAME']}")
        for name, expected in EXPECTED_PRAGMAS.items():
            value = db.execute(f"PRAGMA {name}").fetchone()[0]
            self.stdout.write(f"pragma {name} = {value}")
            if value != expected and not (name == "journal_mode" and settings.DATABASE_READ_ONLY):
                problems.append(f"pragma {name} is {value}, expected {expected}")
        try:
            integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:  # a damaged b-tree can stop the check itself
            problems.append(f"integrity_check: could not finish: {exc}")
            return problems
        self.stdout.write(f"integrity_check: {', '.join(integrity[:5])}")
        if integrity != ["ok"]:
            problems.append("integrity_check: " + "; ".join(integrity[:10]))
        violations = db.execute("PRAGMA foreign_key_check").fetchall()
        self.stdout.write(f"foreign_key_check: {len(violations)} violation(s)")
        if violations:
            problems.append(f"foreign_key_check: {len(violations)} rows point at missing parents, e.g. {violations[0]}")
        return problems
