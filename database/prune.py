"""`manage.py prune`: remove rows that have outlived their use, table by table.

Each pruner is `name, function(now, batch) -> rows removed (at most batch)`. prune() calls it
again until it removes fewer than a batch, each call in its own short transaction: a long prune
never holds SQLite's write lock (or PostgreSQL's row locks) for more than one batch, and the
gateway serves while it runs. Add a table's pruner to PRUNERS."""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from clients import revocation
from clients.idempotency import expired_idempotency_keys

BATCH = 500


def in_batches(expired: Callable[[datetime], object]) -> Callable[[datetime, int], int]:
    """A pruner over a queryset of expired rows: delete up to `batch` of them by primary key."""

    def prune_batch(now: datetime, batch: int) -> int:
        queryset = expired(now)
        keys = list(queryset.values_list("pk", flat=True)[:batch])
        if keys:
            queryset.model.objects.filter(pk__in=keys).delete()  # cascades: an outstanding token's blacklist row
        return len(keys)

    return prune_batch


def expired_cache_rows(now: datetime, batch: int) -> int:
    """CACHE_URL=db: Django's cache table drops an expired row only when it is read or culled."""
    cache = settings.CACHES["default"]
    if not cache["BACKEND"].endswith("db.DatabaseCache"):
        return 0
    table = connection.ops.quote_name(cache["LOCATION"])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE cache_key IN (SELECT cache_key FROM {table} WHERE expires < %s LIMIT %s)",
                       [connection.ops.adapt_datetimefield_value(now), batch])  # fmt: skip
        return cursor.rowcount


PRUNERS: list[tuple[str, Callable[[datetime, int], int]]] = [
    ("idempotency keys", in_batches(expired_idempotency_keys)),
    ("expired refresh tokens (outstanding and blacklisted)", in_batches(lambda now: OutstandingToken.objects.filter(expires_at__lt=now))),
    ("expired admin sessions", in_batches(lambda now: Session.objects.filter(expire_date__lt=now))),
    ("revoked tokens past their expiry", in_batches(revocation.expired_revoked_tokens)),
    ("sign-out cutoffs no token outlives", in_batches(revocation.obsolete_cutoffs)),
    ("expired cache rows", expired_cache_rows),
]


def prune(now: datetime | None = None, batch: int = BATCH) -> list[tuple[str, int]]:
    """Run every pruner to the end, a batch a transaction; each one's name and how many rows it removed."""
    now = now or timezone.now()
    removed = []
    for name, pruner in PRUNERS:
        total = 0
        while True:
            with transaction.atomic():
                count = pruner(now, batch)
            total += count
            if count < batch:
                break
        removed.append((name, total))
    return removed
