from django.core.management.base import BaseCommand

from database.dbcheck import DatabaseCheck


class Command(BaseCommand):
    help = "Check the database: pragmas on a new connection, journal mode, schema, integrity_check and foreign_key_check."

    def handle(self, *args, **options):
        DatabaseCheck(self).run()
