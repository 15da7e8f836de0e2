"""ltplabs.counters: hits from several processes at once are each counted once."""

import multiprocessing

import pytest
from django.core.cache import caches

from ltplabs.counters import hit

PROCESSES, HITS = 4, 150


def _hammer(queue) -> None:
    caches["default"].close()  # a connection of the child's own
    queue.put([hit("race", 3600)[0] for _ in range(HITS)])


def counts_from_racing_processes() -> list[int]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(queue,)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    counts = [count for _ in workers for count in queue.get(timeout=120)]
    for worker in workers:
        worker.join()
    return sorted(counts)


def test_file_cache_counts_every_hit_of_racing_processes_once():
    assert counts_from_racing_processes() == list(range(1, PROCESSES * HITS + 1))


def test_redis_counts_every_hit_of_racing_processes_once(settings, redis_server):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server.url}}
    assert counts_from_racing_processes() == list(range(1, PROCESSES * HITS + 1))
    left = hit("race", 3600)[1]
    assert 0 < left <= 3600


@pytest.mark.parametrize("window", [1, 60])
def test_retry_after_never_exceeds_the_window(window):
    assert 1 <= hit(f"window-{window}", window)[1] <= window
