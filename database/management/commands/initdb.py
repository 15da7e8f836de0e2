from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from clients.sample import load_sample
from ltplabs.schema import create_sqlite_database, schema_problems


class Command(BaseCommand):
    help = "Create ltplabs.db (and --sample N clients), then Django's tables; on an existing database only Django's tables."

    def add_arguments(self, parser):
        parser.add_argument("--sample", type=int, default=0, metavar="N", help="add N sample clients to a new database")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, sample, seed, **options):
        if settings.DATABASE_READ_ONLY:
            raise CommandError("DATABASE_READ_ONLY=1: initdb writes, so it refuses to run.")
        created = self._create_legacy_schema()
        problems = schema_problems(connection)
        if problems:
            raise CommandError("the database is not ltplabs.db schema version 3: " + "; ".join(problems))
        call_command("migrate", interactive=False, verbosity=0)
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
