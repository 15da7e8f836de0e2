from django.core.management.base import BaseCommand

from database.initdb import InitDB


class Command(BaseCommand):
    help = "Create ltplabs.db (and --sample N clients), then Django's tables; on an existing database only Django's tables."

    def add_arguments(self, parser):
        parser.add_argument("--sample", type=int, default=0, metavar="N", help="add N sample clients to a new database")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, sample, seed, **options):
        InitDB(self).run(sample=sample, seed=seed)
