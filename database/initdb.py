from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from tqdm import tqdm

from clients.sample import load_sample
from ltplabs.schema import create_sqlite_database, schema_problems


class InitDB:
    """`manage.py initdb`: a new ltplabs.db (or its PostgreSQL schema), Django's tables, sample rows."""

    def __init__(self, command):
        # The command's stdout, stderr and style: output and messages as the command's own.
        self.stdout, self.stderr, self.style = command.stdout, command.stderr, command.style

    def run(self, *, sample: int, seed: int) -> None:
        if settings.DATABASE_READ_ONLY:
            raise CommandError("DATABASE_READ_ONLY=1: initdb writes, so it refuses to run.")
        created = self._create_legacy_schema()
        problems = schema_problems(connection)
        if problems:
            raise CommandError("the database is not ltplabs.db schema version 3: " + "; ".join(problems))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # CACHE_URL=db: the shared counters' table
        self.stdout.write("Django's tables are in place.")
        if sample and created:
            with tqdm(total=sample, unit="clients", disable=not self.stdout.isatty(), desc="sample") as bar:
                load_sample(sample, seed=seed, progress=bar.update)
            self.stdout.write(f"Added {sample} sample clients (password 'ltplabs-demo').")
        elif sample:
            self.stdout.write("The database already existed: no sample rows were added.")

    def _create_legacy_schema(self) -> bool:
        if connection.vendor == "postgresql":
            from ltplabs.schema import create_postgres_schema

            created = create_postgres_schema(connection)
            self.stdout.write(
                "Created the ltplabs schema in PostgreSQL." if created else "The PostgreSQL database already holds the ltplabs schema."
            )
            return created
        path = Path(settings.DATABASES["default"]["NAME"])
        if path.exists():
            self.stdout.write(f"{path} exists: its tables stay as they are.")
            return False
        create_sqlite_database(path)
        self.stdout.write(f"Created {path} from database/schema.sql.")
        return True
