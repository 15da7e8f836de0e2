"""Counters shared by every worker and replica, through the default cache (CACHE_URL).

`hit(key, window)` adds one and answers (count, seconds left in the window); the window starts at
the key's first hit. It is atomic on every cache backend the gateway is configured with, so N
instances count exactly what one counts: Redis's INCR on redis://, and elsewhere a read and
write under a lock (an advisory lock on PostgreSQL, the write lock on SQLite, a file lock in
the file cache's folder).
"""

import fcntl
import math
import os
import threading
import time
from pathlib import Path

from django.core.cache import cache, caches
from django.db import connections, router, transaction

_thread_lock = threading.Lock()


def hit(key: str, window: int) -> tuple[int, int]:
    backend = caches["default"]
    name = type(backend).__name__
    if name == "RedisCache":
        return _redis_hit(backend, key, window)
    if name == "DatabaseCache":
        return _database_hit(backend, key, window)
    if name == "FileBasedCache":
        with _file_lock(backend):
            return _read_and_write(backend, key, window)
    with _thread_lock:
        return _read_and_write(backend, key, window)


def _read_and_write(backend, key: str, window: int) -> tuple[int, int]:
    now = time.time()
    count, until = backend.get(key) or (0, 0.0)
    if until <= now:
        count, until = 0, now + window
    count += 1
    backend.set(key, (count, until), timeout=max(1, math.ceil(until - now)))
    return count, max(1, math.ceil(until - now))


def _redis_hit(backend, key: str, window: int) -> tuple[int, int]:
    full_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(full_key, write=True)
    pipe = client.pipeline()
    pipe.set(full_key, 0, ex=window, nx=True)
    pipe.incr(full_key)
    pipe.ttl(full_key)
    _, count, ttl = pipe.execute()
    return int(count), max(1, int(ttl))


def _database_hit(backend, key: str, window: int) -> tuple[int, int]:
    alias = router.db_for_write(backend.cache_model_class)
    with transaction.atomic(using=alias):  # BEGIN IMMEDIATE on SQLite: the write lock serialises hits
        connection = connections[alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        return _read_and_write(backend, key, window)


class _file_lock:
    """flock on a file in the cache's folder: the workers and gateways that share the folder take turns."""

    def __init__(self, backend):
        self.path = Path(backend._dir) / ".counters.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


__all__ = ["cache", "hit"]
