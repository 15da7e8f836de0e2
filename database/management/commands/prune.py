from django.core.management.base import BaseCommand

from database.prune import prune


class Command(BaseCommand):
    help = "Remove expired rows (idempotency keys past IDEMPOTENCY_HOURS); safe while the gateway serves."

    def handle(self, *args, **options):
        for name, count in prune():
            self.stdout.write(f"{name}: {count} removed")
