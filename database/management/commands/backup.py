from django.core.management.base import BaseCommand

from database.backup import backup


class Command(BaseCommand):
    help = "Copy ltplabs.db to DEST with SQLite's online backup while the gateway serves, then integrity_check the copy."

    def add_arguments(self, parser):
        parser.add_argument("dest", help="the copy's path, or a folder for ltplabs-<UTC time>.db")
        parser.add_argument("--pages", type=int, default=1024, help="pages copied per step (4 KiB each)")
        parser.add_argument("--overwrite", action="store_true", help="replace DEST when it exists")

    def handle(self, *args, dest, pages, overwrite, **options):
        backup(dest, pages=pages, overwrite=overwrite, stdout=self.stdout, style=self.style)
