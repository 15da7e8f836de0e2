from django.core.management.base import BaseCommand

from database.migrate_to_postgres import Migration


class Command(BaseCommand):
    help = "Copy every row of ltplabs.db (legacy and Django tables) to PostgreSQL, keeping ids, then verify counts and checksums."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, metavar="URL", help="postgres://user:password@host:port/database")
        parser.add_argument("--from", dest="source", metavar="PATH", help="the ltplabs.db to copy (default: the configured one)")
        parser.add_argument("--replace", action="store_true", help="empty a target that already holds rows, then copy")
        parser.add_argument("--batch-size", type=int, default=5000, metavar="N")

    def handle(self, *args, to, source, replace, batch_size, **options):
        Migration(self).run(to=to, source=source, replace=replace, batch_size=batch_size)
