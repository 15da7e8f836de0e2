from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.audit import Actor
from clients.importing import ImportFileError, import_clients, read_rows


class Command(BaseCommand):
    help = "Import clients from a CSV or XLSX file (clients.importing.COLUMNS), all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="check every row and write nothing")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        try:
            rows = read_rows(file.read_bytes(), file.name)
        except (OSError, ImportFileError) as exc:
            raise CommandError(str(exc)) from None
        result = import_clients(actor=Actor.system(), rows=rows, dry_run=dry_run)
        for row in result.rows:
            if row.ok:
                self.stdout.write(f"line {row.line}: {row.email}: {'would be created' if dry_run else 'created'}")
            else:
                errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in sorted(row.errors.items()))
                self.stdout.write(f"line {row.line}: {row.email}: {errors}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} of {len(result.rows)} rows have errors: nothing was imported.")
        verb = "would be imported (dry run: nothing written)" if dry_run else "imported"
        self.stdout.write(self.style.SUCCESS(f"{len(result.rows)} clients {verb}."))
