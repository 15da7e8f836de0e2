"""Concurrent writers and retries against real gunicorn with several workers, on the backend the
suite runs on: SQLite (a file of the test's own) or PostgreSQL (a database of the test's own on
scripts/with-postgres.sh's server). The contract's "Safe retries and concurrent edits"."""

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from tests.fixtures import IS_POSTGRES, Gateway, gateway_env, make_database_file, manage

pytestmark = pytest.mark.http

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"
WORKERS = 4


class Served:
    """A gateway with WORKERS gunicorn processes, a staff token, and SQL on its database."""

    def __init__(self, gateway: Gateway, query):
        self.gateway, self.query = gateway, query
        self.url = gateway.url
        self.token = gateway.staff_token()

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, dict]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}", **(headers or {})},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    def together(self, count: int, method: str, path: str, body=None, headers=None) -> list[tuple[int, dict, dict]]:
        """`count` requests sent at once: each thread waits at a barrier, then sends."""
        barrier = threading.Barrier(count)

        def one(_index):
            barrier.wait()
            return self.call(method, path, body, headers)

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))

    def new_client(self, email: str) -> int:
        status, body, _ = self.call("POST", "/api/clients", {"name": "Race", "email": email, "password_hash": HASH, "access_days": 10})
        assert status == 201, body
        return body["clientId"]


@pytest.fixture
def served(tmp_path):
    if IS_POSTGRES:
        import psycopg

        from tests.postgres import scratch_database

        url = scratch_database("concurrency")
        manage(gateway_env(tmp_path / "unused.db", DATABASE_URL=url), "initdb", "--sample", "1")  # the demos, one client

        def query(sql: str):
            with psycopg.connect(url) as pg:
                return pg.execute(sql.replace("?", "%s")).fetchall()

        gateway = Gateway(tmp_path / "pg.db", workers=WORKERS, DATABASE_URL=url)
    else:
        path = make_database_file(tmp_path, 1)  # the demos, one client

        def query(sql: str):
            db = sqlite3.connect(path)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()

        gateway = Gateway(path, workers=WORKERS)
    gateway.start()
    try:
        yield Served(gateway, query)
    finally:
        gateway.stop()


def as_time(value) -> datetime:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else datetime.strptime(value, "%Y-%m-%d %H:%M:%S")


def test_fifty_concurrent_extends_by_one_day_move_the_end_by_fifty_days_with_chained_audit_rows(served):
    client_id = served.new_client("extend-race@example.com")
    (start,) = served.query(f"SELECT access_end_date FROM clients WHERE id = {client_id}")[0]
    answers = served.together(50, "POST", f"/api/clients/{client_id}/extend", {"days": 1})
    assert sorted(status for status, _, _ in answers) == [200] * 50, [body for status, body, _ in answers if status != 200][:3]
    (end,) = served.query(f"SELECT access_end_date FROM clients WHERE id = {client_id}")[0]
    assert as_time(end) - as_time(start) == timedelta(days=50)
    details = [
        row[0] if isinstance(row[0], dict) else json.loads(row[0])
        for row in served.query(f"SELECT details FROM audit_log WHERE action = 'client.extend' AND entity_id = {client_id} ORDER BY id")
    ]
    assert len(details) == 50
    chain = [entry["before"]["access_end_date"] for entry in details] + [details[-1]["after"]["access_end_date"]]
    for entry, following in zip(details, details[1:], strict=False):
        assert entry["after"]["access_end_date"] == following["before"]["access_end_date"]
    assert len(set(chain)) == 51


def test_fifty_concurrent_grants_of_one_demo_give_one_201_and_forty_nine_409(served):
    # Five rounds, one demo each: the check-then-insert window is a few milliseconds, and every
    # round is another chance for a loser to slip through it (on main, one did: a 503).
    client_id = served.new_client("grant-race@example.com")
    demos = ["route-optimizer", "demand-forecast", "workforce-planner", "pricing-lab", "inventory-sim"]
    for demo in demos:
        answers = served.together(50, "POST", f"/api/clients/{client_id}/demos", {"demo": demo})
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [201] + [409] * 49, (demo, statuses)
        assert all(body["success"] is False and "already" in body["error"] for status, body, _ in answers if status == 409)
    assert served.query(f"SELECT COUNT(*) FROM client_demo_access WHERE client_id = {client_id}") == [(len(demos),)]
    assert served.query(f"SELECT COUNT(*) FROM audit_log WHERE action = 'access.grant' AND entity_id = {client_id}") == [(len(demos),)]


def test_twenty_concurrent_retries_of_one_create_with_one_key_create_one_client_and_answer_one_body(served):
    body = {"name": "Retried", "email": "retried@example.com", "password": "retried-pass-123", "demos": ["route-optimizer"]}
    answers = served.together(20, "POST", "/api/clients", body, {"Idempotency-Key": "create-retried-1"})
    created = [answer for status, answer, _ in answers if status == 201]
    # The first answers 201; a retry that arrives while it runs is told so (409); one after it
    # gets the same answer again.
    assert created and all(status in (201, 409) for status, _, _ in answers), [status for status, _, _ in answers]
    assert all(answer == created[0] for answer in created)
    replayed = [headers.get("Idempotent-Replayed") for status, _, headers in answers if status == 201]
    assert replayed.count(None) == 1 and replayed.count("true") == len(created) - 1
    assert served.query("SELECT COUNT(*) FROM clients WHERE email = 'retried@example.com'") == [(1,)]
    assert served.query("SELECT COUNT(*) FROM audit_log WHERE action = 'client.create' AND actor_type = 'staff'") == [(1,)]
    status, again, headers = served.call("POST", "/api/clients", body, {"Idempotency-Key": "create-retried-1"})
    assert (status, again, headers.get("Idempotent-Replayed")) == (201, created[0], "true")
    assert served.query("SELECT COUNT(*) FROM clients WHERE name = 'Retried'") == [(1,)]


def test_a_stale_if_match_writes_nothing_and_no_audit_row(served):
    client_id = served.new_client("stale@example.com")
    status, _, headers = served.call("GET", f"/api/clients/{client_id}")
    seen = headers["ETag"]
    assert served.call("PATCH", f"/api/clients/{client_id}", {"notes": "first"}, {"If-Match": seen})[0] == 200
    before = served.query(f"SELECT notes, is_active, access_end_date, updated_at FROM clients WHERE id = {client_id}")
    audit_rows = served.query("SELECT COUNT(*) FROM audit_log")
    for method, path, body in (
        ("PATCH", f"/api/clients/{client_id}", {"notes": "second"}),
        ("POST", f"/api/clients/{client_id}/extend", {"days": 5}),
        ("DELETE", f"/api/clients/{client_id}", None),
    ):
        answers = served.together(5, method, path, body, {"If-Match": seen})
        assert [status for status, _, _ in answers] == [412] * 5, (method, answers[0])
    assert served.query(f"SELECT notes, is_active, access_end_date, updated_at FROM clients WHERE id = {client_id}") == before
    assert served.query("SELECT COUNT(*) FROM audit_log") == audit_rows
