"""The SQLite connection, the legacy formats, and the initdb and dbcheck commands, on real files."""

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from clients import services
from clients.models import Client
from ltplabs.schema import SCHEMA_SQL, create_sqlite_database, sqlite_schema_problems
from tests.fixtures import IS_POSTGRES, ROOT, gateway_env, make_database_file, manage

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="SQLite connection behaviour")

PRAGMAS = {"journal_mode": "wal", "synchronous": 1, "cache_size": -64000, "foreign_keys": 1, "busy_timeout": 5000}


def current_pragmas(db) -> dict:
    return {name: db.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}


def test_our_schema_is_the_shared_database_schema():
    shared = ROOT.parent / "shared" / "ltplabs-db" / "schema.sql"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert SCHEMA_SQL.read_text(encoding="utf-8") == shared.read_text(encoding="utf-8")


@pytest.mark.django_db
def test_every_pragma_is_in_force_on_a_new_connection():
    fresh = connections.create_connection("default")
    try:
        fresh.ensure_connection()
        assert current_pragmas(fresh.connection) == PRAGMAS
        # And the process-wide cap on SQLite's memory (SQLITE_SOFT_HEAP_LIMIT_MB).
        assert fresh.connection.execute("PRAGMA soft_heap_limit").fetchone()[0] == settings.SQLITE_SOFT_HEAP_LIMIT_MB * 1_000_000
        # And how much WAL a commit lets grow before it checkpoints (SQLITE_WAL_AUTOCHECKPOINT).
        assert fresh.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == settings.SQLITE_WAL_AUTOCHECKPOINT
        assert settings.SQLITE_WAL_AUTOCHECKPOINT != 1000  # not SQLite's default: the setting did it
    finally:
        fresh.close()


@pytest.mark.django_db
def test_pragmas_stay_in_force_on_a_reused_connection():
    connection.ensure_connection()
    first = connection.connection
    Client.objects.count()
    connection.ensure_connection()
    assert connection.connection is first
    assert current_pragmas(connection.connection) == PRAGMAS


def test_pragmas_run_on_the_connection_of_each_thread(django_db_blocker, db):
    seen = []

    def work():
        from django.db import connection as thread_connection

        thread_connection.ensure_connection()
        seen.append(current_pragmas(thread_connection.connection))
        thread_connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [PRAGMAS]


@pytest.mark.django_db(transaction=True)
def test_write_transactions_begin_immediate_and_make_other_writers_wait():
    path = connection.settings_dict["NAME"]
    other = sqlite3.connect(path, timeout=0.2)
    with transaction.atomic():
        Client.objects.exists()  # a read: BEGIN IMMEDIATE has taken the write lock anyway
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.rollback()
    other.close()


def test_missing_database_file_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "nowhere" / "ltplabs.db"
    result = manage(gateway_env(missing), "dbcheck", check=False)
    assert result.returncode != 0
    assert f"database file {missing} does not exist" in result.stderr
    assert not missing.exists()


def test_gunicorn_health_is_503_on_a_missing_file_and_creates_nothing(gateway_factory, tmp_path):
    missing = tmp_path / "missing.db"
    gateway = gateway_factory(db_path=missing)
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{gateway.url}/health", timeout=5)
    assert error.value.code == 503
    assert b"disconnected" in error.value.read()
    assert not missing.exists()


@pytest.mark.django_db
def test_models_write_times_as_sqlite_text_and_booleans_as_0_1(staff_user):
    client = services.client_create(
        actor=services.Actor.staff(staff_user), name="Format Check", email="format@example.com", password="a-long-password"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_registo, access_end_date, created_at, updated_at, is_active, typeof(is_active) FROM clients WHERE id = %s",
            [client.id],
        )
        *times, is_active, kind = cursor.fetchone()
        cursor.execute("SELECT created_at FROM audit_log WHERE entity_id = %s", [client.id])
        times.append(cursor.fetchone()[0])
    for value in times:
        assert datetime.strptime(value, "%Y-%m-%d %H:%M:%S")  # no T, no offset, no fraction
        assert len(value) == 19
    assert (is_active, kind) == (1, "integer")
    services.client_deactivate(actor=services.Actor.staff(staff_user), client_id=client.id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_active, updated_at FROM clients WHERE id = %s", [client.id])
        is_active, updated_at = cursor.fetchone()
    assert is_active == 0 and len(updated_at) == 19


@pytest.mark.django_db
def test_models_read_legacy_text_times_as_utc_datetimes():
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO clients (name, email, password_hash, created_at, updated_at, data_registo) "
            "VALUES ('Legacy', 'legacy@example.com', 'x', '2024-02-29 23:59:59', '2024-02-29 23:59:59', '2024-02-29 23:59:59')"
        )
    client = Client.objects.get(email="legacy@example.com")
    assert client.created_at == datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)
    assert client.is_active is True


def test_schema_check_finds_a_changed_view_a_missing_table_and_a_wrong_version(tmp_path):
    path = tmp_path / "odd.db"
    create_sqlite_database(path)
    db = sqlite3.connect(path)
    assert sqlite_schema_problems(db) == []
    db.executescript(
        "DROP VIEW v_active_clients; CREATE VIEW v_active_clients AS SELECT * FROM clients;DROP TABLE audit_log; PRAGMA user_version = 4;"
    )
    problems = sqlite_schema_problems(db)
    assert "user_version is 4, expected 3" in problems
    assert "view v_active_clients differs from schema version 3" in problems
    assert "table audit_log is missing" in problems
    db.close()


def test_initdb_creates_a_new_file_with_sample_data(tmp_path):
    path = make_database_file(tmp_path, clients=50)
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM clients").fetchone()[0] == 50
    assert db.execute("SELECT COUNT(*) FROM demos").fetchone()[0] == 6
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 50
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'auth_user'").fetchone()[0] == 1
    assert sqlite_schema_problems(db) == []
    db.close()


def legacy_objects(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        objects = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name IN "
            "(SELECT name FROM sqlite_master WHERE name NOT LIKE 'auth_%' AND name NOT LIKE 'django_%' "
            "AND name NOT LIKE 'token_blacklist_%' AND name NOT LIKE 'axes_%' AND name NOT LIKE 'otp_%' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'gateway_%') ORDER BY name"  # gateway_*, otp_*: the gateway's own tables (migrations)
        ).fetchall()
        counts = [
            db.execute(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM {table}").fetchone()
            for table in ("clients", "demos", "client_demo_access", "audit_log")
        ]
        return objects + counts + [db.execute("PRAGMA user_version").fetchone()]
    finally:
        db.close()


def test_initdb_on_an_existing_file_adds_only_djangos_tables(sample_db_file):
    before = legacy_objects(sample_db_file)
    result = manage(gateway_env(sample_db_file), "initdb", "--sample", "10")
    assert "exists: its tables stay as they are" in result.stdout
    assert "no sample rows were added" in result.stdout
    assert legacy_objects(sample_db_file) == before
    db = sqlite3.connect(sample_db_file)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "auth_user",
        "django_session",
        "token_blacklist_outstandingtoken",
        "django_migrations",
        "gateway_idempotency_key",
        "otp_totp_totpdevice",
    } <= tables
    db.close()


def test_dbcheck_on_a_good_file_prints_each_check_and_exits_0(tmp_path):
    path = make_database_file(tmp_path, clients=20)
    result = manage(gateway_env(path), "dbcheck")
    expected = [
        "pragma journal_mode = wal", "pragma synchronous = 1", "pragma cache_size = -64000", "pragma foreign_keys = 1",
        "pragma busy_timeout = 5000", "integrity_check: ok", "foreign_key_check: 0 violation(s)", "schema: version 3",
    ]  # fmt: skip
    for line in expected:
        assert line in result.stdout


def test_dbcheck_on_a_wrong_schema_exits_1_naming_the_difference(tmp_path):
    path = make_database_file(tmp_path, clients=5)
    db = sqlite3.connect(path)
    db.executescript("DROP INDEX idx_clients_company; PRAGMA user_version = 2;")
    db.close()
    result = manage(gateway_env(path), "dbcheck", check=False)
    assert result.returncode == 1
    assert "index idx_clients_company is missing" in result.stderr
    assert "user_version is 2, expected 3" in result.stderr


def test_dbcheck_on_a_corrupted_file_exits_1(tmp_path):
    path = make_database_file(tmp_path, clients=300)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'idx_clients_created_at'").fetchone()[0]
    db.close()
    with open(path, "r+b") as handle:  # scribble over one index page: the table stays readable
        handle.seek((root - 1) * page_size)
        handle.write(b"\xff" * 200)
    result = manage(gateway_env(path), "dbcheck", check=False)
    assert result.returncode == 1
    assert "integrity_check" in result.stderr


def test_foreign_keys_are_enforced_on_the_gateways_connection(tmp_path):
    path = make_database_file(tmp_path, clients=0)
    code = (
        "import django; django.setup(); from django.db import connection, IntegrityError\n"
        'try:\n    connection.cursor().execute("INSERT INTO client_demo_access (client_id, demo_id) VALUES (999, 1)")\n'
        "except IntegrityError: print('refused')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=gateway_env(path), capture_output=True, text=True)
    assert result.stdout.strip() == "refused", result.stderr


def test_writer_waits_for_another_process_holding_the_lock(tmp_path):
    path = make_database_file(tmp_path, clients=0)
    code = (
        "import django, sys; django.setup(); from clients import services\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "services.client_create(actor=services.Actor.system(), name='Waiter', email='w@example.com', password_hash="
        f"'{'$2b$10$' + 'a' * 53}')\n"
        "print('created', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=gateway_env(path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    holder = sqlite3.connect(path)
    holder.execute("BEGIN IMMEDIATE")
    process.stdin.write("go\n")
    process.stdin.flush()
    time.sleep(1.0)
    # Still inside its busy timeout: waiting for the lock, not failed and not finished.
    assert process.poll() is None
    holder.rollback()
    holder.close()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.strip() == "created"
    check = sqlite3.connect(path)
    assert check.execute("SELECT COUNT(*) FROM clients WHERE email = 'w@example.com'").fetchone()[0] == 1
    assert check.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'client.create'").fetchone()[0] == 1
    check.close()


WRITE_AND_CLOSE = (
    "import django; django.setup(); from clients import services; from django.db import connection\n"
    "services.client_create(actor=services.Actor.system(), name='Closer', email='closer@example.com', password_hash="
    f"'{'$2b$10$' + 'a' * 53}')\n"
    "connection.close()  # what gunicorn's worker_exit does\n"
)


def test_a_connection_closing_while_another_process_has_the_file_open_leaves_its_commits_in_the_file(tmp_path):
    # SQLite's own checkpoint at close is only for the last connection: with another one open
    # (the other gunicorn worker, stopping at the same moment), only the backend's checkpoint
    # puts the commit into the file itself.
    path = make_database_file(tmp_path)
    other = sqlite3.connect(path)
    try:
        other.execute("SELECT COUNT(*) FROM clients").fetchone()
        subprocess.run([sys.executable, "-c", WRITE_AND_CLOSE], cwd=ROOT, env=gateway_env(path), check=True, capture_output=True)
        alone = tmp_path / "file-alone.db"
        alone.write_bytes(path.read_bytes())  # the file without its -wal
    finally:
        other.close()
    copy = sqlite3.connect(alone)
    try:
        assert copy.execute("SELECT COUNT(*) FROM clients WHERE email = 'closer@example.com'").fetchone() == (1,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()
