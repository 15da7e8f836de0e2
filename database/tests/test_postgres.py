"""The PostgreSQL backend on a real server (scripts/with-postgres.sh): its schema, and
`migrate_to_postgres` from a real ltplabs.db to a gateway that answers as SQLite did."""

import json
import re
import sqlite3
import urllib.error
import urllib.request
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from clients import rules, services
from clients.models import AuditLog, Client, now
from ltplabs.schema import LEGACY_TABLES, postgres_schema_problems
from tests.fixtures import IS_POSTGRES, Gateway, gateway_env, make_database_file, manage
from tests.postgres import scratch_database

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL: scripts/with-postgres.sh .venv/bin/pytest")

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"


def make_client(email: str, **fields) -> Client:
    return services.client_create(actor=services.Actor.system(), name="PG Client", email=email, password_hash=HASH, **fields)


def scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- the schema ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_schema_check_is_clean_then_names_a_changed_view_a_missing_table_and_a_wrong_version():
    with connection.cursor() as cursor:
        assert postgres_schema_problems(cursor) == []
        with transaction.atomic():  # DDL is transactional: rolled back with the savepoint
            cursor.execute(
                "DROP VIEW v_active_clients; CREATE VIEW v_active_clients AS SELECT id, name FROM clients; "
                "DROP TABLE audit_log; DROP INDEX idx_clients_company; UPDATE schema_version SET version = 4"
            )
            problems = postgres_schema_problems(cursor)
            transaction.set_rollback(True)
        assert postgres_schema_problems(cursor) == []
    assert "schema_version is 4, expected 3" in problems
    assert "table audit_log is missing" in problems
    assert "index idx_clients_company is missing" in problems
    assert any(problem.startswith("view v_active_clients differs from schema version 3") for problem in problems)


@pytest.mark.django_db
def test_audit_log_refuses_updates_and_deletes():
    row = services.audit(actor=services.Actor.system(), action="test.append", entity_type="client", entity_id=1)
    for statement in ("UPDATE audit_log SET action = 'x' WHERE id = %s", "DELETE FROM audit_log WHERE id = %s"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [row.id])
    assert AuditLog.objects.get(pk=row.id).action == "test.append"


@pytest.mark.django_db
def test_an_update_that_leaves_updated_at_alone_moves_it_to_now():
    client = make_client("trigger@example.com")
    Client.objects.filter(pk=client.pk).update(updated_at=now() - timedelta(days=3))
    Client.objects.filter(pk=client.pk).update(notes="touched")
    updated_at = Client.objects.get(pk=client.pk).updated_at
    assert abs((updated_at - now()).total_seconds()) < 60
    assert updated_at.microsecond == 0


@pytest.mark.django_db
def test_email_ignores_case_for_lookups_and_uniqueness():
    client = make_client("Mixed.Case@Example.com")
    assert Client.objects.by_email("mixed.case@EXAMPLE.COM").get() == client
    with pytest.raises(services.Conflict):
        make_client("MIXED.CASE@example.com")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO clients (name, email, password_hash) VALUES ('Dup', 'mixed.case@example.com', 'x')")


@pytest.mark.django_db
def test_times_are_whole_second_timestamps_and_booleans_are_booleans():
    client = make_client("types@example.com")
    with connection.cursor() as cursor:
        cursor.execute("SELECT created_at, access_end_date, is_active, pg_typeof(is_active)::text FROM clients WHERE id = %s", [client.id])
        created_at, end, is_active, kind = cursor.fetchone()
    assert created_at.microsecond == 0 and end.microsecond == 0 and created_at.utcoffset() == timedelta(0)
    assert (is_active, kind) == (True, "boolean")


@pytest.mark.django_db
def test_active_clients_view_truncates_days_remaining_like_sqlite():
    at = now()
    ends = {"p1@example.com": at + timedelta(days=1, hours=23), "p2@example.com": at + timedelta(hours=5), "p3@example.com": None}
    ids = {email: make_client(email).id for email in [*ends, "gone@example.com"]}
    for email, end in ends.items():
        Client.objects.filter(pk=ids[email]).update(access_end_date=end)
    Client.objects.filter(pk=ids["gone@example.com"]).update(access_end_date=at - timedelta(seconds=1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, days_remaining, demo_count FROM v_active_clients WHERE id = ANY(%s)", [list(ids.values())])
        rows = {email: (days, demos) for email, days, demos in cursor.fetchall()}
    assert rows == {"p1@example.com": (1, 0), "p2@example.com": (0, 0), "p3@example.com": (None, 0)}
    assert rules.days_remaining(ends["p1@example.com"], at) == 1


@pytest.mark.django_db
def test_failing_audit_insert_rolls_back_the_client_and_its_access():
    def counts():
        return Client.objects.count(), AuditLog.objects.count(), scalar("SELECT COUNT(*) FROM client_demo_access")

    before = counts()
    with connection.cursor() as cursor:  # dropped with the test's transaction
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$; "
            "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
        )
    with pytest.raises(DatabaseError, match="audit refused"):
        make_client("rb@example.com", demos=["pricing-lab"])
    assert counts() == before
    assert not Client.objects.filter(email="rb@example.com").exists()


@pytest.mark.django_db
def test_sample_rows_with_explicit_ids_leave_the_sequences_ready():
    from clients.sample import load_sample

    load_sample(3, seed=11)
    highest = scalar("SELECT MAX(id) FROM clients")
    assert make_client("after-sample@example.com").id == highest + 1


# --- initdb and dbcheck on a database of their own ----------------------------------------


def test_initdb_creates_the_schema_once_and_dbcheck_passes(tmp_path):
    url = scratch_database("initdb")
    env = gateway_env(tmp_path / "unused.db", DATABASE_URL=url)
    first = manage(env, "initdb", "--sample", "25")
    assert "Created the ltplabs schema in PostgreSQL." in first.stdout
    assert "Added 25 sample clients" in first.stdout
    again = manage(env, "initdb", "--sample", "25")
    assert "already holds the ltplabs schema" in again.stdout and "no sample rows were added" in again.stdout
    check = manage(env, "dbcheck")
    assert "schema: version 3" in check.stdout
    with psycopg.connect(url) as db:
        assert db.execute("SELECT COUNT(*), MAX(id) FROM clients").fetchone() == (25, 25)
        assert db.execute("SELECT COUNT(*) FROM auth_user").fetchone() == (0,)


# --- migrate_to_postgres ------------------------------------------------------------------


def call(url: str, token: str | None = None, method: str = "GET", body=None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def checksum_table(output: str) -> dict[str, tuple[int, str, str, str]]:
    """The command's verification lines: table → (rows, ltplabs.db checksum, postgresql checksum, verdict)."""
    lines = re.findall(r"^(\w+)\s+(\d+)\s+([0-9a-f]{16})\s+([0-9a-f]{16})\s+(ok|DIFFERENT)$", output, re.MULTILINE)
    return {table: (int(rows), source, target, verdict) for table, rows, source, target, verdict in lines}


def test_twenty_thousand_clients_move_to_postgresql_and_the_gateway_answers_the_same(tmp_path):
    source = make_database_file(tmp_path, 20000)
    env = gateway_env(source, DJANGO_DEBUG="1")
    manage(env, "create_dev_staff", "--username", "mover", "--password", "mover-pass-123")
    target_url = scratch_database("migrated")

    result = manage(env, "migrate_to_postgres", "--to", target_url, check=False)
    assert result.returncode == 0, result.stderr
    table = checksum_table(result.stdout)
    db = sqlite3.connect(source)
    source_tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert set(table) == source_tables
    assert {"auth_user", "django_migrations", "django_content_type", "token_blacklist_outstandingtoken"} <= set(table)
    for name, (rows, source_sum, target_sum, verdict) in table.items():
        assert rows == db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
        assert (source_sum, verdict) == (target_sum, "ok"), name
    staff_rows = db.execute("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'staff_user'").fetchone()[0]  # create_dev_staff's
    assert table["clients"][0] == 20000 and table["audit_log"][0] == 20000 + staff_rows
    db.close()
    with psycopg.connect(target_url) as pg:
        assert {name: pg.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in LEGACY_TABLES} == {
            name: table[name][0] for name in LEGACY_TABLES
        }

    again = manage(env, "migrate_to_postgres", "--to", target_url, check=False)
    assert again.returncode != 0 and "already holds rows" in again.stderr and "--replace" in again.stderr

    gateways = [Gateway(source, workers=1), Gateway(tmp_path / "pg", workers=1, DATABASE_URL=target_url)]
    try:
        for gateway in gateways:
            gateway.start()
        tokens = [
            call(f"{g.url}/api/auth/token", method="POST", body={"username": "mover", "password": "mover-pass-123"}) for g in gateways
        ]
        assert [status for status, _ in tokens] == [200, 200]  # the staff user and its password came along
        sqlite_gw, pg_gw = [(g.url, body["access"]) for g, (_, body) in zip(gateways, tokens, strict=True)]
        first = call(f"{sqlite_gw[0]}/api/clients?limit=50", sqlite_gw[1])[1]
        paths = [
            "/api/clients",
            "/api/clients?limit=1000&offset=9000",
            "/api/clients?status=all&limit=200&offset=19900",
            "/api/clients?status=expired&limit=100",
            "/api/clients?status=inactive&limit=100&offset=100",
            "/api/clients?search=silva&limit=100",
            "/api/clients?company=EDP&status=all&limit=100",
            f"/api/clients?limit=50&cursor={first['pagination']['next_cursor']}",
            "/api/clients/777",
            "/api/clients/777/demos",
            "/api/demos",
            "/api/demos/usage",
            "/api/audit-log?entity_type=client&entity_id=777",
        ]
        for path in paths:
            on_sqlite, on_postgres = call(sqlite_gw[0] + path, sqlite_gw[1]), call(pg_gw[0] + path, pg_gw[1])
            assert on_sqlite[0] == 200, (path, on_sqlite)
            assert on_postgres == on_sqlite, path
        new = {"name": "After Move", "email": "after.move@example.com", "password_hash": HASH, "demos": ["pricing-lab"]}
        created = [call(f"{url}/api/clients", token, "POST", new) for url, token in (sqlite_gw, pg_gw)]
        assert created[0][0] == created[1][0] == 201
        assert created[0][1]["clientId"] == created[1][1]["clientId"] == 20001  # the sequences were moved past the copied ids
    finally:
        for gateway in gateways:
            gateway.stop()


def test_a_copy_that_does_not_match_exits_non_zero_leaves_the_target_as_it_was_and_can_run_again(tmp_path):
    source = make_database_file(tmp_path, 30)
    db = sqlite3.connect(source)
    db.execute("UPDATE clients SET access_end_date = '2031-05-01 10:00:00.700' WHERE id = 7")  # PostgreSQL keeps whole seconds
    db.commit()
    target_url = scratch_database("mismatch")
    env = gateway_env(source)
    failed = manage(env, "migrate_to_postgres", "--to", target_url, check=False)
    assert failed.returncode != 0
    assert "clients: 30 rows in ltplabs.db, 30 in PostgreSQL, first difference at id=7" in failed.stderr
    with psycopg.connect(target_url) as pg:
        assert pg.execute("SELECT COUNT(*) FROM clients").fetchone() == (0,)

    db.execute("UPDATE clients SET access_end_date = '2031-05-01 10:00:00' WHERE id = 7")
    db.commit()
    db.close()
    fixed = manage(env, "migrate_to_postgres", "--to", target_url, check=False)
    assert fixed.returncode == 0, fixed.stderr
    assert checksum_table(fixed.stdout)["clients"][3] == "ok"
    replaced = manage(env, "migrate_to_postgres", "--to", target_url, "--replace", check=False)
    assert replaced.returncode == 0, replaced.stderr
    with psycopg.connect(target_url) as pg:
        assert pg.execute("SELECT COUNT(*), MAX(id) FROM audit_log").fetchone() == (30, 30)


def test_the_copy_is_one_snapshot_while_another_process_goes_on_writing(tmp_path):
    import threading

    source = make_database_file(tmp_path, 200)
    target_url = scratch_database("snapshot")
    stop = threading.Event()

    def writer():  # like demo-service: a client and its audit row in one transaction, again and again
        db = sqlite3.connect(source, timeout=10, isolation_level=None)
        number = 0
        while not stop.is_set():
            number += 1
            db.execute("BEGIN IMMEDIATE")
            client_id = db.execute(
                "INSERT INTO clients (name, email, password_hash) VALUES ('Writer', ?, ?)", [f"writer{number}@example.com", HASH]
            ).lastrowid
            db.execute(
                "INSERT INTO audit_log (actor_type, action, entity_type, entity_id) VALUES ('system', 'writer', 'client', ?)", [client_id]
            )
            db.execute("COMMIT")
            stop.wait(0.005)
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = manage(gateway_env(source), "migrate_to_postgres", "--to", target_url, check=False)
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    with psycopg.connect(target_url) as pg:
        copied = pg.execute("SELECT COUNT(*) FROM clients WHERE name = 'Writer'").fetchone()[0]
        assert pg.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'writer'").fetchone()[0] == copied
    db = sqlite3.connect(source)
    written = db.execute("SELECT COUNT(*) FROM clients WHERE name = 'Writer'").fetchone()[0]
    db.close()
    assert copied < written  # what was written after the snapshot stayed behind, whole transactions only


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("UPDATE clients SET notes = 'before' || char(0) || 'after' WHERE id = 4", "0x00"),
        (
            "INSERT INTO audit_log (actor_type, action, entity_type, entity_id, details) "
            "VALUES ('system', 'nul.json', 'client', 4, '{\"note\": \"a\\u0000b\"}')",
            "\\u0000",
        ),
        ("INSERT INTO clients (id, name, email, password_hash) VALUES (2147483648, 'Far', 'far@example.com', 'x')", "out of range"),
    ],
    ids=["NUL in text", "NUL escaped in JSON", "id past 2**31"],
)
def test_a_value_postgresql_cannot_keep_stops_the_copy_and_commits_nothing(tmp_path, change, said):
    source = make_database_file(tmp_path, 10)
    db = sqlite3.connect(source)
    db.execute(change)
    db.commit()
    db.close()
    target_url = scratch_database("refused")
    result = manage(gateway_env(source), "migrate_to_postgres", "--to", target_url, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the copy stopped, nothing of it was committed" in result.stderr and said in result.stderr, result.stderr
    with psycopg.connect(target_url) as pg:
        assert pg.execute("SELECT (SELECT COUNT(*) FROM clients) + (SELECT COUNT(*) FROM audit_log)").fetchone() == (0,)


def test_a_source_whose_django_migrations_are_not_this_codes_is_refused_before_any_row_is_copied(tmp_path):
    source = make_database_file(tmp_path, 10)
    db = sqlite3.connect(source)
    latest = "SELECT MAX(name) FROM django_migrations WHERE app = 'token_blacklist'"
    db.execute(f"DELETE FROM django_migrations WHERE app = 'token_blacklist' AND name = ({latest})")  # one not applied
    db.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('clients', '9999_from_another_branch', '2026-01-01 00:00:00')")
    db.commit()
    db.close()
    target_url = scratch_database("foreign")
    result = manage(gateway_env(source), "migrate_to_postgres", "--to", target_url, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the Django tables of the source are not at this code's migrations" in result.stderr, result.stderr
    assert "unknown here: 1" in result.stderr and "run `manage.py migrate` on it first" in result.stderr
    with psycopg.connect(target_url) as pg:
        assert pg.execute("SELECT COUNT(*) FROM clients").fetchone() == (0,)
        assert pg.execute("SELECT COUNT(*) FROM auth_user").fetchone() == (0,)


def test_service_accounts_and_their_keys_move_to_postgresql_and_the_keys_still_work(tmp_path):
    source = make_database_file(tmp_path, 10)
    env = gateway_env(source)
    key = manage(env, "api_key", "create", "demo-service", "--scope", "entitlements:check").stdout.strip().splitlines()[-1]
    revoked = manage(env, "api_key", "create", "demo-service", "--scope", "clients:read").stdout.strip().splitlines()[-1]
    manage(env, "api_key", "revoke", revoked.split(".")[0])
    target_url = scratch_database("keys")
    result = manage(env, "migrate_to_postgres", "--to", target_url, check=False)
    assert result.returncode == 0, result.stderr
    table = checksum_table(result.stdout)
    assert table["gateway_service_account"][0] == 1 and table["gateway_api_key"][0] == 2
    assert table["gateway_service_account"][3] == table["gateway_api_key"][3] == "ok"
    gateway = Gateway(tmp_path / "pg", workers=1, DATABASE_URL=target_url)
    try:
        gateway.start()
        check = {"client_id": 1, "demo": "route-optimizer"}
        answers = [
            urllib.request.Request(f"{gateway.url}/api/entitlements/check", data=json.dumps(check).encode(), method="POST",
                                   headers={"Content-Type": "application/json", "Authorization": f"Api-Key {value}"})
            for value in (key, revoked)
        ]  # fmt: skip
        with urllib.request.urlopen(answers[0], timeout=30) as response:
            assert response.status == 200 and json.load(response)["data"]["client_id"] == 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(answers[1], timeout=30)
        assert refused.value.code == 401
    finally:
        gateway.stop()
