"""ltplabs/sqlite/write_queue.py: the gateway's writers wait for each other in a queue of the
database file's own, held from BEGIN IMMEDIATE to COMMIT or ROLLBACK and never left held, and a
writer that waits longer than busy_timeout gets SQLite's own "database is locked".

Each writer here is a connection of the gateway's backend of its own, in a thread of its own, on
a real file with the real schema."""

import fcntl
import os
import sqlite3
import threading

import pytest
from django.db import OperationalError, connections

from ltplabs.sqlite.base import DatabaseWrapper
from ltplabs.sqlite.write_queue import lock_path
from tests.fixtures import IS_POSTGRES, ROOT

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="the queue is the SQLite backend's")

INSERT = "INSERT INTO demos (slug, name, is_active) VALUES (%s, %s, 1)"


@pytest.fixture(autouse=True)
def own_connections(django_db_blocker):
    """These connections are the tests' own, to files of their own, not the test database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "ltplabs.db"
    with sqlite3.connect(path) as db:
        db.executescript((ROOT / "database" / "schema.sql").read_text())
        db.execute("PRAGMA journal_mode = WAL")
    return path


def writer(path, timeout=5.0) -> DatabaseWrapper:
    """A connection of the gateway's backend to `path`, waiting at most `timeout` s for the write lock."""
    settings_dict = dict(connections["default"].settings_dict) if not IS_POSTGRES else {}
    options = dict(settings_dict["OPTIONS"])
    options["init_command"] = options["init_command"].replace("busy_timeout = 5000", f"busy_timeout = {int(timeout * 1000)}")
    options["timeout"] = timeout
    return DatabaseWrapper({**settings_dict, "NAME": str(path), "OPTIONS": options}, alias=f"queue-{threading.get_ident()}")


def queue_is_free(path) -> bool:
    """Whether an outsider could take the file's queue now (and it lets go of it at once)."""
    fd = os.open(lock_path(str(path)), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the descriptor lets go of its flock
    return True


def begin(db: DatabaseWrapper) -> None:
    db.ensure_connection()
    db._start_transaction_under_autocommit()  # what transaction.atomic() runs first: BEGIN IMMEDIATE


class Holder(threading.Thread):
    """A writer in a thread: BEGIN IMMEDIATE, one INSERT, then waits for `finish` to commit or roll back."""

    def __init__(self, path, slug, timeout=5.0, end="commit"):
        super().__init__(daemon=True)
        self.path, self.slug, self.timeout, self.end = path, slug, timeout, end
        self.inside, self.finish, self.error = threading.Event(), threading.Event(), None

    def run(self):
        db = writer(self.path, self.timeout)
        try:
            begin(db)
            with db.cursor() as cursor:
                cursor.execute(INSERT, [self.slug, self.slug])
            self.inside.set()
            self.finish.wait(30)
            db.commit() if self.end == "commit" else db.rollback()
        except Exception as exc:  # noqa: BLE001  (the test reads it)
            self.error = exc
        finally:
            self.inside.set()
            db.close()


def slugs(path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [slug for (slug,) in db.execute("SELECT slug FROM demos WHERE slug LIKE 'queued-%' ORDER BY slug")]


def test_one_queue_per_database_file_and_a_new_one_for_a_file_put_in_its_place(db_file, tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert lock_path(str(db_file)) == lock_path(str(tmp_path / "." / "ltplabs.db"))
    assert lock_path(str(db_file)) != lock_path(str(other))
    before = lock_path(str(db_file))
    restored = tmp_path / "restored.db"
    restored.write_bytes(db_file.read_bytes())
    os.replace(restored, db_file)  # a restore: another inode at the same path
    assert lock_path(str(db_file)) != before


def test_a_second_writer_waits_in_the_queue_until_the_first_commits_then_writes(db_file):
    first = Holder(db_file, "queued-1")
    first.start()
    first.inside.wait(10)
    assert not queue_is_free(db_file)  # the first writer holds the queue, from BEGIN on
    second = Holder(db_file, "queued-2")
    second.start()
    assert not second.inside.wait(0.3)  # it cannot be in while the first is: it waits
    first.finish.set()
    first.join(10)
    assert second.inside.wait(10) and second.error is None
    second.finish.set()
    second.join(10)
    assert first.error is None and second.error is None
    assert slugs(db_file) == ["queued-1", "queued-2"]
    assert queue_is_free(db_file)  # each let go at its COMMIT


def test_a_rollback_and_a_closed_connection_let_go_of_the_queue(db_file):
    rolled_back = Holder(db_file, "queued-rolled-back", end="rollback")
    rolled_back.start()
    rolled_back.inside.wait(10)
    assert not queue_is_free(db_file)
    rolled_back.finish.set()
    rolled_back.join(10)
    assert rolled_back.error is None and queue_is_free(db_file) and slugs(db_file) == []

    db = writer(db_file)
    begin(db)
    assert not queue_is_free(db_file)
    db.close()  # a connection closed in its transaction (a file found replaced, a worker stopping)
    assert queue_is_free(db_file)


def test_a_writer_that_waits_longer_than_busy_timeout_in_the_queue_gets_database_is_locked(db_file):
    first = Holder(db_file, "queued-long")
    first.start()
    first.inside.wait(10)
    waiting = Holder(db_file, "queued-late", timeout=0.2)
    waiting.start()
    waiting.join(30)  # gives up after its 0.2 s, while the first still holds the queue
    assert isinstance(waiting.error, OperationalError) and "database is locked" in str(waiting.error)
    first.finish.set()
    first.join(10)
    assert first.error is None and slugs(db_file) == ["queued-long"] and queue_is_free(db_file)


def test_a_writer_that_fails_to_begin_lets_go_of_the_queue(db_file):
    """Another program (not the gateway) holds SQLite's write lock: the gateway's writer holds the
    queue while SQLite makes it wait (busy_timeout), fails as before, and leaves the queue free."""
    outsider = sqlite3.connect(db_file, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")
    try:
        db = writer(db_file, timeout=0.2)
        with pytest.raises(OperationalError, match="locked"):
            begin(db)
        assert queue_is_free(db_file)
        db.close()
    finally:
        outsider.execute("ROLLBACK")
        outsider.close()
