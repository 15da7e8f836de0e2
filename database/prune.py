"""`manage.py prune`: remove rows that have outlived their use, table by table.

Each pruner is `name, function(now) -> rows removed`, run in its own transaction, so a long
prune never holds SQLite's write lock for more than one table's rows, and the gateway serves
while it runs. Add a table's pruner to PRUNERS."""

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clients.idempotency import prune_idempotency_keys

PRUNERS: list[tuple[str, Callable[[datetime], int]]] = [
    ("idempotency keys", prune_idempotency_keys),
]


def prune(now: datetime | None = None) -> list[tuple[str, int]]:
    """Run every pruner; each one's name and how many rows it removed."""
    now = now or timezone.now()
    removed = []
    for name, pruner in PRUNERS:
        with transaction.atomic():
            removed.append((name, pruner(now)))
    return removed
