"""The API from outside: a real gunicorn (2 workers) on a real file, as deployed."""

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures import ROOT, Gateway, gateway_env, make_database_file, manage

pytestmark = pytest.mark.http

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"


def call(url: str, method: str = "GET", body=None, token: str | None = None, timeout: float = 30) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def rows(path, sql: str):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def create_many(gateway, token: str, threads: int, per_thread: int, tag: str) -> list[int]:
    def worker(thread: int) -> list[int]:
        statuses = []
        for index in range(per_thread):
            body = {"name": f"Load {thread}-{index}", "email": f"{tag}-{thread}-{index}@example.com", "password_hash": HASH}
            statuses.append(call(f"{gateway.url}/api/clients", "POST", body, token)[0])
        return statuses

    with ThreadPoolExecutor(threads) as pool:
        return [status for result in pool.map(worker, range(threads)) for status in result]


def test_sixteen_threads_creating_clients_lose_nothing_and_see_no_5xx(gateway_factory):
    gateway = gateway_factory(clients=100, workers=2)
    token = gateway.staff_token()
    statuses = create_many(gateway, token, threads=16, per_thread=15, tag="c16")
    assert statuses.count(201) == len(statuses) == 240, sorted(set(statuses))
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM clients WHERE email LIKE 'c16-%'") == [(240,)]
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM audit_log WHERE action = 'client.create' AND actor_type = 'staff'") == [(240,)]
    assert rows(gateway.db_path, "SELECT COUNT(DISTINCT email) FROM clients WHERE email LIKE 'c16-%'") == [(240,)]
    assert rows(gateway.db_path, "PRAGMA integrity_check") == [("ok",)]


def test_another_process_holding_write_transactions_makes_writers_wait_not_fail(gateway_factory):
    gateway = gateway_factory(clients=10, workers=2)
    token = gateway.staff_token()
    stop, holding = threading.Event(), threading.Event()
    held = []

    def demo_service_like_writer():
        # What demo-service does: short write transactions that bump access counters.
        db = sqlite3.connect(gateway.db_path, timeout=10)
        while not stop.is_set():
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE client_demo_access SET access_count = access_count + 1 WHERE id = (SELECT MIN(id) FROM client_demo_access)")
            holding.set()
            time.sleep(0.2)  # hold the write lock far longer than a request takes
            db.commit()
            held.append(1)
            time.sleep(0.1)
        db.close()

    holder = threading.Thread(target=demo_service_like_writer)
    holder.start()
    try:
        assert holding.wait(10)  # the writes start while the other process holds the lock
        statuses = create_many(gateway, token, threads=8, per_thread=5, tag="wait")
    finally:
        stop.set()
        holder.join()
    assert held  # its transactions committed too
    assert statuses == [201] * 40
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM clients WHERE email LIKE 'wait-%'") == [(40,)]


def test_every_route_answers_under_gunicorn_on_a_file_made_by_the_database_component(gateway_factory, sample_db_file):
    manage(gateway_env(sample_db_file), "initdb")  # adds Django's tables, changes nothing else
    gateway = gateway_factory(db_path=sample_db_file)
    base, token = gateway.url, gateway.staff_token()
    assert call(f"{base}/health")[0] == 200
    assert call(f"{base}/health/live")[0] == 200
    assert call(f"{base}/health/ready")[0] == 200

    status, page = call(f"{base}/api/clients?limit=5", token=token)
    assert status == 200 and page["success"] and len(page["data"]) == 5
    view_ids = [row[0] for row in rows(sample_db_file, "SELECT id FROM v_active_clients ORDER BY created_at DESC, id DESC LIMIT 5")]
    assert [row["id"] for row in page["data"]] == view_ids
    assert call(f"{base}/api/clients?limit=5&cursor={page['pagination']['next_cursor']}", token=token)[0] == 200
    first = page["data"][0]["id"]
    assert call(f"{base}/api/clients/{first}", token=token)[0] == 200
    status, created = call(
        f"{base}/api/clients", "POST", {"name": "Via HTTP", "email": "via.http@example.com", "password": "ltplabs-demo"}, token
    )
    assert status == 201
    new_id = created["clientId"]
    assert call(f"{base}/api/clients/{new_id}", "PATCH", {"company": "Renova"}, token)[0] == 200
    assert call(f"{base}/api/clients/{new_id}/extend", "POST", {"days": 7}, token)[0] == 200
    assert call(f"{base}/api/clients/{new_id}/demos", "POST", {"demo": "pricing-lab"}, token)[0] == 201
    assert call(f"{base}/api/clients/{new_id}/demos", token=token)[0] == 200
    assert call(f"{base}/api/clients/{new_id}/demos/pricing-lab", "DELETE", token=token)[0] == 200
    assert call(f"{base}/api/demos", token=token)[0] == 200
    assert call(f"{base}/api/demos/usage", token=token)[0] == 200
    status, audit = call(f"{base}/api/audit-log?entity_type=client&entity_id={new_id}", token=token)
    assert [entry["action"] for entry in audit["data"]] == [
        "access.revoke",
        "access.grant",
        "client.extend",
        "client.update",
        "client.create",
    ]

    status, pair = call(f"{base}/api/client-auth/login", "POST", {"email": "VIA.HTTP@example.com", "password": "ltplabs-demo"})
    assert status == 200
    assert call(f"{base}/api/me", token=pair["access"])[0] == 200
    assert call(f"{base}/api/client-auth/refresh", "POST", {"refresh": pair["refresh"]})[0] == 200
    assert call(f"{base}/api/clients/{new_id}", "DELETE", token=token)[0] == 200
    assert call(f"{base}/api/me", token=pair["access"])[0] == 401
    assert call(f"{base}/api/clients/{new_id}", "PUT", {}, token)[0] == 405
    assert call(f"{base}/api/nowhere", token=token) == (404, {"success": False, "error": "Not found."})
    request = urllib.request.Request(f"{base}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "/api/clients" in json.load(response)["paths"]
    with urllib.request.urlopen(f"{base}/api/docs/", timeout=10) as response:
        assert b"swagger" in response.read().lower()
    assert rows(sample_db_file, "PRAGMA integrity_check") == [("ok",)]


def test_read_only_gateway_serves_reads_and_answers_503_to_writes(gateway_factory, tmp_path):
    writable = gateway_factory(clients=20)
    token = writable.staff_token()
    writable.stop()
    gateway = gateway_factory(db_path=writable.db_path, DATABASE_READ_ONLY="1")
    assert call(f"{gateway.url}/health")[0] == 200
    assert call(f"{gateway.url}/api/clients?limit=3", token=token)[0] == 200
    status, body = call(f"{gateway.url}/api/clients", "POST", {"name": "n", "email": "n@example.com", "password_hash": HASH}, token)
    assert status == 503 and "read-only" in body["error"]
    status, pair = call(f"{gateway.url}/api/auth/token", "POST", {"username": "http-staff", "password": "http-staff-pass-123"})
    assert status == 200 and pair["access"]


RAW_WRITE = """
import django
django.setup()
from django.db import connection
try:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE clients SET name = 'raw write' WHERE id = 1")
except Exception as error:
    print(f"refused: {type(error).__name__}: {error}")
else:
    print("written")
"""


def test_a_read_only_gateway_opens_the_file_read_only_so_sqlite_itself_refuses_a_write(gateway_factory):
    writable = gateway_factory(clients=5)
    token = writable.staff_token()
    writable.stop()  # the last connection closed: everything is in the file itself
    path = writable.db_path
    assert not Path(f"{path}-wal").exists()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    gateway = gateway_factory(db_path=path, DATABASE_READ_ONLY="1")
    status, page = call(f"{gateway.url}/api/clients?status=all", token=token)
    # The gateway's own settings and backend, in a process of their own: past the view's guard.
    raw = subprocess.run([sys.executable, "-c", RAW_WRITE], cwd=ROOT, env=gateway.env, capture_output=True, text=True, timeout=60)
    gateway.stop()
    assert status == 200 and len(page["data"]) == 5
    assert raw.stdout.strip() == "refused: OperationalError: attempt to write a readonly database", raw.stdout + raw.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # not a byte of the file changed
    assert rows(path, "SELECT COUNT(*) FROM clients WHERE name = 'raw write'") == [(0,)]


def test_each_gateway_counts_sign_ins_in_a_cache_folder_of_its_own(gateway_factory):
    first = gateway_factory(THROTTLE_STAFF_LOGIN="2/min")
    second = gateway_factory(db_path=first.db_path, THROTTLE_STAFF_LOGIN="2/min")
    first.staff_token()
    sign_in = {"username": "http-staff", "password": "http-staff-pass-123"}
    on_first = [call(f"{first.url}/api/auth/token", "POST", sign_in)[0] for _ in range(2)]
    on_second = call(f"{second.url}/api/auth/token", "POST", sign_in)[0]
    assert first.cache_dir != second.cache_dir
    assert on_first == [200, 429]  # the limit set here, counted on this gateway alone
    assert on_second == 200


def test_a_gateway_that_fails_to_start_is_stopped_before_the_error_is_raised(tmp_path):
    gateway = Gateway(make_database_file(tmp_path), workers=1)
    with pytest.raises(RuntimeError, match="did not answer"):
        gateway.start(timeout=0)
    assert gateway.process.poll() is not None  # no gunicorn left behind
    assert not gateway.cache_dir.exists()


def test_gateway_refuses_to_start_in_production_without_keys(tmp_path):
    env = gateway_env(tmp_path / "x.db")
    env.pop("JWT_SECRET")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "JWT_SECRET or JWT_SIGNING_KEY is not set" in result.stderr


def test_answers_arrive_whole_whether_or_not_the_gateway_read_the_body(gateway_factory):
    """gunicorn.conf.py's post_request closes a connection at once when nothing is left unread
    (ltplabs/http/quick_close.py), else gunicorn drains it first: close() on unread bytes would
    send a reset that can destroy the answer. A client that sends 64 KB of a 1 MB body which the
    gateway refuses unread (no token), and clients whose small bodies are read, all read their
    whole answer and then a clean end, never a reset."""
    import socket

    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()

    def exchange(head: bytes, body: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
            sock.sendall(head + body)
            chunks = []
            while chunk := sock.recv(65536):  # ConnectionResetError on a reset
                chunks.append(chunk)
        return b"".join(chunks)

    refused, created, resets = 0, 0, 0
    for index in range(20):
        try:
            answer = exchange(b"POST /api/clients HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 1000000\r\n\r\n", b" " * 65536)  # fmt: skip
            head, _, body = answer.partition(b"\r\n\r\n")
            refused += head.startswith(b"HTTP/1.1 401") and json.loads(body)["success"] is False
            small = json.dumps({"name": "Whole", "email": f"whole-{index}@example.com", "password_hash": HASH}).encode()
            answer = exchange(b"POST /api/clients HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: " + str(len(small)).encode()
                              + b"\r\n\r\n", small)  # fmt: skip
            head, _, body = answer.partition(b"\r\n\r\n")
            created += head.startswith(b"HTTP/1.1 201") and json.loads(body)["success"] is True
        except ConnectionResetError:
            resets += 1
    assert (refused, created, resets) == (20, 20, 0)
