from django.core.management.base import BaseCommand

from database.prune import prune


class Command(BaseCommand):
    help = "Remove expired rows (idempotency keys, refresh tokens, sessions, revocations, cache rows); safe while serving."

    def handle(self, *args, **options):
        for name, count in prune():
            self.stdout.write(f"{name}: {count} removed")
