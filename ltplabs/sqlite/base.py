"""SQLite backend for the shared ltplabs.db.

Django's own backend plus the rules of this deployment: the file must already exist
(sqlite3.connect would silently create an empty one), DATABASE_READ_ONLY opens it with
mode=ro, and a connection notices when the file it opened was deleted or replaced.
The init pragmas and BEGIN IMMEDIATE come from OPTIONS in settings; the gateway's own writers
queue for SQLite's write lock (write_queue.py).
"""

import logging
import os
import sqlite3
import stat
import time
from urllib.parse import quote

from django.db.backends.sqlite3 import base

from ltplabs import metrics

from .write_queue import WriteQueue

logger = logging.getLogger(__name__)
READABLE_TO_ALL = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class DatabaseWrapper(base.DatabaseWrapper):
    opened_inode: tuple[int, int] | None = None
    write_queue: WriteQueue | None = None

    @property
    def path(self) -> str:
        return str(self.settings_dict["NAME"])

    def get_connection_params(self):
        params = super().get_connection_params()
        read_only = params.pop("read_only", False)
        if not self.is_in_memory_db() and not self.path.startswith("file:"):
            params["database"] = f"file:{quote(self.path)}?mode={'ro' if read_only else 'rw'}"
        return params

    def get_new_connection(self, conn_params):
        if not self.is_in_memory_db() and not self.path.startswith("file:"):
            if not os.path.isfile(self.path):
                raise sqlite3.OperationalError(
                    f"database file {self.path} does not exist; create it with `manage.py initdb` "
                    f"or point DATABASE_PATH at the existing ltplabs.db"
                )
            info = os.stat(self.path)
            self.opened_inode = (info.st_dev, info.st_ino)
        try:
            connection = super().get_new_connection(conn_params)
        except sqlite3.OperationalError as exc:
            problem = self._open_problem()
            if problem:
                raise sqlite3.OperationalError(problem) from exc
            raise
        if self.opened_inode is not None and not self.read_only:
            try:
                self.write_queue = WriteQueue(self.path, float(self.settings_dict["OPTIONS"].get("timeout", 5)))
            except OSError as exc:  # e.g. another user's lock file: SQLite's busy_timeout alone, as without the queue
                logger.warning("no write queue for %s: %s", self.path, exc)
        return connection

    def _open_problem(self) -> str | None:
        # SQLite's own word for these is "unable to open database file", which says nothing.
        if self.is_in_memory_db() or self.path.startswith("file:"):
            return None
        if not os.access(self.path, os.R_OK):
            return f"database file {self.path} cannot be read"
        folder = os.path.dirname(self.path)
        wal_files_missing = not (os.path.exists(f"{self.path}-wal") and os.path.exists(f"{self.path}-shm"))
        if wal_files_missing and not os.access(folder, os.W_OK):
            return (
                f"database file {self.path} cannot be opened: its -wal/-shm files are missing and {folder} is not writable, "
                f"and a WAL database needs them (let a writer open the file once, or mount the folder writable)"
            )
        return None

    def _close(self):
        # SQLite copies the WAL into the file when the last connection closes, but "last" is a
        # lock it tries once: two workers stopping at the same moment (SIGTERM) can each see the
        # other and both leave the WAL unchecked, so the file alone lacks the last commits. A
        # passive checkpoint first never waits and never resets the WAL (Litestream's reads are
        # safe), and moves every commit not held back by a reader into the file.
        if self.connection is not None and not self.in_atomic_block and not self.read_only and not self.file_problem():
            try:
                self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                metrics.SQLITE_CHECKPOINTS.inc()
            except sqlite3.Error:
                pass  # closing matters more; the next writer's checkpoint catches up
        try:
            super()._close()
        finally:
            if self.write_queue is not None:
                self.write_queue.close()
                self.write_queue = None

    def _start_transaction_under_autocommit(self):
        # BEGIN IMMEDIATE is where a writer waits for SQLite's one write lock (busy_timeout):
        # the time it takes is the queue behind the other writers, the wait that fails included.
        # The gateway's own writers wait in write_queue.py's queue first, and the time counts too.
        started = time.perf_counter()
        try:
            if self.write_queue is not None:
                self.write_queue.acquire()
            try:
                super()._start_transaction_under_autocommit()
            except BaseException:
                self._leave_write_queue()
                raise
        finally:
            metrics.SQLITE_WRITE_LOCK_WAIT.observe(time.perf_counter() - started)

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_write_queue()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_write_queue()

    def _leave_write_queue(self):
        if self.write_queue is not None:
            self.write_queue.release()

    @property
    def read_only(self) -> bool:
        return bool(self.settings_dict["OPTIONS"].get("read_only"))

    def close_if_unusable_or_obsolete(self):
        # Runs as each request starts and ends. A connection to a file deleted or replaced
        # under it would go on writing into the old inode: answered 201, and lost.
        if self.connection is not None and not self.in_atomic_block and self.file_problem():
            self.close()
            return
        super().close_if_unusable_or_obsolete()

    def file_problem(self) -> str | None:
        """Why the file this connection opened is no longer the one at the path, if it is not."""
        path = self.path
        if path.startswith("file:") or self.is_in_memory_db():
            return None
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return f"database file {path} is missing"
        except OSError as exc:
            return f"database file {path} cannot be read: {exc.strerror}"
        # A file whose mode lets owner, group and others read it is readable to this process
        # whoever it runs as: one system call less on every request and every probe.
        if info.st_mode & READABLE_TO_ALL != READABLE_TO_ALL and not os.access(path, os.R_OK):
            return f"database file {path} cannot be read"
        if self.opened_inode is not None and self.connection is not None and self.opened_inode != (info.st_dev, info.st_ino):
            return f"database file {path} was replaced while open"
        return None
