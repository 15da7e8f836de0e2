"""The gateway's writers queue for SQLite's one write lock, instead of sleeping in SQLite.

SQLite makes a writer that finds the write lock taken sleep and try again (busy_timeout): 1 ms,
then 2, 5, 10 ms... while the other worker's transaction holds the lock for about 0.1 ms. Under a
steady stream of writes (W4 of `make bench`: POST /api/clients at 16 connections) one BEGIN
IMMEDIATE in eight slept like that, and the workers spent a sixth of their time asleep with the
lock free. So before BEGIN IMMEDIATE a gateway writer takes an exclusive flock on a lock file of
that database file's own, and waits for it in short steps (WAIT_STEPS); it holds it until its
COMMIT or ROLLBACK, so the writer behind it finds SQLite's lock free.

SQLite's lock stays the only authority. The queue is an order among this machine's gateway
processes (the lock file lives in /dev/shm, named by the file's device and inode: one queue per
file, and a restored file gets a new one); every other writer (the prune CronJob's pod, an import
in another container) is waited for by busy_timeout as before, and a writer that holds the queue
still waits for them there. A writer waits at most busy_timeout for the queue too, then gets
SQLite's own "database is locked" (the API's 503 "busy"), as it would have from SQLite.

Each connection opens its own lock file descriptor: flock excludes open files, not processes, so
two threads' connections exclude each other, and nothing is inherited across gunicorn's fork.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time

from django.db import OperationalError

# Seconds between tries: short at first (the lock is usually held for a tenth of a millisecond),
# then longer, so that a long transaction (an import of thousands of rows) costs little CPU.
WAIT_STEPS = (0.00005, 0.0001, 0.0002, 0.0005, 0.001)
FOLDER = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def lock_path(database_path: str) -> str:
    stat = os.stat(database_path)
    return os.path.join(FOLDER, f"ltplabs-write-queue-{stat.st_dev}-{stat.st_ino}.lock")


class WriteQueue:
    """One connection's place in its database file's queue."""

    def __init__(self, database_path: str, timeout: float):
        self.fd = os.open(lock_path(database_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.timeout = timeout
        self.held = False

    def acquire(self) -> None:
        deadline = None
        steps = iter(WAIT_STEPS)
        step = 0.0
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.held = True
                return
            except BlockingIOError:
                pass
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.timeout
            elif now >= deadline:
                raise OperationalError(f"database is locked (the gateway's other writers held it for {self.timeout:g} s)")
            step = next(steps, step)
            time.sleep(min(step, max(0.0, deadline - now)))

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        os.close(self.fd)
