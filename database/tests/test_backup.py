"""`manage.py backup`: a consistent, checked copy of a real ltplabs.db while another process writes to it."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import IS_POSTGRES, gateway_env, make_database_file, manage

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="backup copies the SQLite file")

# Each transaction adds a client and its audit row: a copy holding one without the other was not a snapshot.
WRITER = r"""
import pathlib, sqlite3, sys
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
db = sqlite3.connect(path, timeout=30, isolation_level=None)
db.execute("PRAGMA busy_timeout = 30000")
written = 0
while not stop.exists() and written < 200000:
    db.execute("BEGIN IMMEDIATE")
    cursor = db.execute(
        "INSERT INTO clients (name, email, password_hash) VALUES (?, ?, ?)",
        (f"writer {written}", f"writer-{written}@backup.test", "$2b$10$" + "x" * 53),
    )
    db.execute(
        "INSERT INTO audit_log (actor_type, action, entity_type, entity_id) VALUES ('system', 'backup.test', 'client', ?)",
        (cursor.lastrowid,),
    )
    db.execute("COMMIT")
    written += 1
print(written)
"""


def writer_rows(db: sqlite3.Connection) -> tuple[int, int, int]:
    clients = db.execute("SELECT count(*) FROM clients WHERE email LIKE '%@backup.test'").fetchone()[0]
    audits = db.execute("SELECT count(*) FROM audit_log WHERE action = 'backup.test'").fetchone()[0]
    orphans = db.execute(
        "SELECT count(*) FROM clients c WHERE c.email LIKE '%@backup.test' AND NOT EXISTS "
        "(SELECT 1 FROM audit_log a WHERE a.action = 'backup.test' AND a.entity_id = c.id)"
    ).fetchone()[0]
    return clients, audits, orphans


def count_written(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return writer_rows(db)[0]


def test_backup_while_another_process_writes_is_a_consistent_checked_copy(tmp_path):
    source = make_database_file(tmp_path, clients=1500)
    env = gateway_env(source)
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(source), str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(600):
            if count_written(source) >= 50 or writer.poll() is not None:
                break
            time.sleep(0.05)
        before = count_written(source)
        # Small steps: the writer commits between them, which is what the backup must survive.
        result = manage(env, "backup", str(tmp_path / "copy.db"), "--pages", "4", check=False)
        after = count_written(source)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert result.returncode == 0, result.stderr
    assert "integrity_check: ok" in result.stdout
    assert before >= 50 and after > before, "the writer was not writing while the backup ran"

    copy = sqlite3.connect(f"file:{tmp_path / 'copy.db'}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        clients, audits, orphans = writer_rows(copy)
        assert (clients, audits, orphans) == (clients, clients, 0)
        assert before <= clients <= int(out)
        assert copy.execute("SELECT count(*) FROM clients WHERE email NOT LIKE '%@backup.test'").fetchone()[0] == 1500
        assert copy.execute("PRAGMA user_version").fetchone()[0] == sqlite3.connect(source).execute("PRAGMA user_version").fetchone()[0]
    finally:
        copy.close()
    # The copy is one self-contained file, and the gateway opens it as it is.
    assert not (tmp_path / "copy.db-wal").exists()
    assert manage(gateway_env(tmp_path / "copy.db"), "dbcheck", check=False).returncode == 0


def test_backup_into_a_folder_names_the_copy_by_time(tmp_path):
    source = make_database_file(tmp_path, clients=10)
    folder = tmp_path / "backups"
    folder.mkdir()
    manage(gateway_env(source), "backup", str(folder))
    (copy,) = folder.iterdir()
    assert copy.name.startswith("ltplabs-") and copy.suffix == ".db"
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM clients").fetchone()[0] == 10


def test_backup_refuses_to_overwrite_an_existing_copy(tmp_path):
    source = make_database_file(tmp_path)
    existing = tmp_path / "copy.db"
    existing.write_bytes(b"an older backup")
    result = manage(gateway_env(source), "backup", str(existing), check=False)
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert existing.read_bytes() == b"an older backup"


def test_backup_of_a_corrupt_database_fails_and_leaves_no_copy(tmp_path):
    source = make_database_file(tmp_path, clients=300)
    page_size = sqlite3.connect(source).execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(source.read_bytes())
    middle = len(data) // page_size // 2
    data[middle * page_size : (middle + 3) * page_size] = b"\xa5" * (3 * page_size)
    source.write_bytes(bytes(data))
    result = manage(gateway_env(source), "backup", str(tmp_path / "copy.db"), check=False)
    assert result.returncode != 0
    assert "failed" in result.stderr
    assert not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "copy.db.partial").exists()


def test_backup_refuses_on_postgresql_and_points_at_pg_dump(tmp_path):
    env = gateway_env(tmp_path / "unused.db", DATABASE_URL="postgres://gateway:unused@127.0.0.1:9/ltplabs")
    result = manage(env, "backup", str(tmp_path / "copy.db"), check=False)
    assert result.returncode != 0
    assert "pg_dump" in result.stderr
