"""Programs against real gunicorn, on the backend the suite runs on (SQLite: a file of the test's
own; PostgreSQL: a database of the test's own): 2,000 recorded opens at once, a revoke and an
expiry seen within the contract's second on two gunicorn instances, and guessed or replayed keys."""

import json
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures import IS_POSTGRES, ROOT, Gateway, gateway_env, make_database_file, manage
from tests.reliability import call, record, summary

pytestmark = pytest.mark.http

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"
OPENS, CONNECTIONS = 2000, 32


class Database:
    """The test's own database: the env a gateway or manage.py needs for it, and SQL on it."""

    def __init__(self, tmp_path: Path, clients: int = 1):
        self.tmp_path = tmp_path
        if IS_POSTGRES:
            from tests.postgres import scratch_database

            self.url = scratch_database("programs")
            self.path = tmp_path / "unused.db"
            self.extra = {"DATABASE_URL": self.url}
            manage(gateway_env(self.path, **self.extra), "initdb", "--sample", str(clients))
        else:
            self.url = None
            self.path = make_database_file(tmp_path, clients)
            self.extra = {}

    def query(self, sql: str, params=()):
        if IS_POSTGRES:
            import psycopg

            with psycopg.connect(self.url) as pg:
                cursor = pg.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # commits an UPDATE
                return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def integrity(self) -> str:
        return "n/a (PostgreSQL)" if IS_POSTGRES else ", ".join(row[0] for row in self.query("PRAGMA integrity_check"))

    def gateway(self, workers: int = 4) -> Gateway:
        return Gateway(self.path, workers=workers, **self.extra)

    def new_key(self, name: str, *scopes: str, **env) -> str:
        args = ["api_key", "create", name, *(part for scope in scopes for part in ("--scope", scope))]
        return manage(gateway_env(self.path, **self.extra, **env), *args).stdout.strip().splitlines()[-1]


@pytest.fixture
def database(tmp_path):
    return Database(tmp_path)


@pytest.fixture
def gateways():
    started = []

    def start(database: Database, workers: int = 4) -> Gateway:
        gateway = database.gateway(workers).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def with_key(key: str) -> dict:
    return {"Authorization": f"Api-Key {key}"}


def new_client(gateway: Gateway, key: str, email: str, demos=("route-optimizer",)) -> int:
    answer = call(f"{gateway.url}/api/clients", "POST", {"name": "Program", "email": email, "password_hash": HASH, "demos": list(demos)},
                  headers=with_key(key))  # fmt: skip
    assert answer.status == 201, answer
    return answer.json["clientId"]


class ReaderHoldingASnapshot:
    """Another process with a read transaction open on the SQLite file (as analytics would hold one)."""

    CODE = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN'); db.execute('SELECT COUNT(*) FROM client_demo_access').fetchone()\n"
        "print('reading', flush=True); sys.stdin.readline(); db.execute('COMMIT')\n"
    )

    def __init__(self, path: Path):
        command = [sys.executable, "-c", self.CODE, str(path)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "reading"

    def still_reading(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.communicate("done\n", timeout=30)


def test_2000_recorded_opens_over_32_connections_count_exactly_2000_with_2000_audit_rows(database, gateways):
    gateway = gateways(database)
    writer = database.new_key("crm-sync", "clients:write")
    checker = database.new_key("demo-service", "entitlements:check")
    client_id = new_client(gateway, writer, "opens@example.com")
    reader = None if IS_POSTGRES else ReaderHoldingASnapshot(database.path)
    barrier = threading.Barrier(CONNECTIONS)
    body = {"client_id": client_id, "demo": "route-optimizer", "record": True}

    def opener(index: int) -> list:
        barrier.wait()
        outcomes = []
        for _ in range(OPENS // CONNECTIONS + (index < OPENS % CONNECTIONS)):
            try:
                answer = call(f"{gateway.url}/api/entitlements/check", "POST", body, headers=with_key(checker), timeout=120)
                outcomes.append(answer.status if answer.status != 200 else answer.json["data"]["code"])
            except OSError as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    try:
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            outcomes = [outcome for part in pool.map(opener, range(CONNECTIONS)) for outcome in part]
        held = reader is None or reader.still_reading()
    finally:
        if reader is not None:
            reader.stop()
    (count,) = database.query("SELECT access_count FROM client_demo_access WHERE client_id = ?", (client_id,))[0]
    (audited,) = database.query("SELECT COUNT(*) FROM audit_log WHERE action = 'demo.open' AND entity_id = ?", (client_id,))[0]
    check = database.integrity()
    oks = outcomes.count("OK")
    where = "PostgreSQL" if IS_POSTGRES else "SQLite, another process holding a read transaction open"
    record(f"{OPENS} recorded opens of one demo over {CONNECTIONS} connections, one gunicorn of 4 workers ({where})", kind="fault",
           tries=len(outcomes), answered=summary(outcomes) + f"; access_count {count}, {audited} demo.open rows",
           rows_lost=abs(count - oks) + abs(audited - oks), integrity=check)  # fmt: skip
    assert held
    assert outcomes == ["OK"] * OPENS, summary(outcomes)
    assert count == OPENS and audited == OPENS
    assert check in ("ok", "n/a (PostgreSQL)")


def test_a_revoke_and_an_expiry_are_seen_within_a_second_on_two_gunicorn_instances(database, gateways):
    first, second = gateways(database, workers=2), gateways(database, workers=2)
    writer = database.new_key("crm-sync", "clients:write")
    client_id = new_client(first, writer, "replicas@example.com")
    body = {"client_id": client_id, "demo": "route-optimizer"}
    outcomes = []
    for key_end in ("revoke", "expire", "account"):
        key = database.new_key(f"demo-{key_end}", "entitlements:check")
        prefix = key.split(".")[0]
        for gateway in (first, second, first, second):  # both workers of both, roughly
            assert call(f"{gateway.url}/api/entitlements/check", "POST", body, headers=with_key(key)).status == 200
        if key_end == "revoke":
            manage(gateway_env(database.path, **database.extra), "api_key", "revoke", prefix)
        elif key_end == "expire":
            database.query("UPDATE gateway_api_key SET expires_at = ? WHERE prefix = ?", ("2000-01-01 00:00:00", prefix))
        else:
            database.query("UPDATE gateway_service_account SET is_active = ? WHERE name = ?", (False, f"demo-{key_end}"))
        time.sleep(1)  # the contract's bound: each worker may take a key it verified on its word for api_keys.FRESH_SECONDS
        statuses = [call(f"{gateway.url}/api/entitlements/check", "POST", body, headers=with_key(key)).status
                    for gateway in (first, second, first, second, first, second)]  # fmt: skip
        outcomes += statuses
        assert statuses == [401] * 6, (key_end, statuses)
    record("a revoked key, an expired key and a deactivated service account, each used 1 s later on two gunicorn instances",
           kind="attack", tries=len(outcomes), answered=outcomes, rows_lost=None, integrity=database.integrity())  # fmt: skip


def test_guessed_keys_and_a_stored_hash_replayed_are_all_refused(database, gateways):
    gateway = gateways(database, workers=2)
    key = database.new_key("demo-service", "entitlements:check", "clients:read")
    prefix = key.split(".")[0]
    (stored,) = database.query("SELECT secret_hash FROM gateway_api_key WHERE prefix = ?", (prefix,))[0]
    guesses = [f"{secrets.token_hex(6)}.{secrets.token_urlsafe(32)}" for _ in range(100)]
    guesses += [f"{prefix}.{secrets.token_urlsafe(32)}" for _ in range(100)]
    guesses += [f"{prefix}.{stored}", stored, f"{prefix}.{stored.upper()}", f"{prefix}.{stored[:43]}"]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda guess: call(f"{gateway.url}/api/demos", headers=with_key(guess)).status, guesses))
    accepted = sum(status == 200 for status in statuses)
    record("API keys guessed (100 random, 100 with a real prefix) and the stored hash replayed (4 forms)", kind="attack",
           tries=len(guesses), answered=statuses, rows_lost=None, integrity=database.integrity())  # fmt: skip
    assert accepted == 0 and set(statuses) == {401}
    assert call(f"{gateway.url}/api/demos", headers=with_key(key)).status == 200


def readme_flow() -> str:
    """The sh block under the README's "A program's whole flow"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### A program's whole flow", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readmes_program_flow_runs_as_written(tmp_path, gateways):
    database = Database(tmp_path, clients=0)
    env = gateway_env(database.path, **database.extra)
    manage(env, "shell", "-c", "from clients.sample import load_sample; load_sample(0)")  # the demos, no client
    gateway = gateways(database, workers=2)
    client_id = new_client(gateway, database.new_key("crm-sync", "clients:write"), "flow@example.com")
    assert client_id == 1  # the README's client
    script = readme_flow()
    assert "curl" in script and "api_key create" in script
    script = script.replace("http://localhost:3000", gateway.url).replace("python manage.py", f"{sys.executable} manage.py")
    ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    answers = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert [answer["data"]["code"] for answer in answers] == ["OK", "OK"] and all(answer["success"] for answer in answers)
    assert answers[0]["data"]["client_id"] == 1 and answers[0]["data"]["days_remaining"] in (29, 30)
    # The record again, as a retry: the same Idempotency-Key counts once.
    last_curl = script[script.rindex("curl") :]
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", f"KEY={ran_key(database)}\n{last_curl}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert json.loads(again.stdout)["data"]["code"] == "OK"
    (count,) = database.query("SELECT access_count FROM client_demo_access WHERE client_id = 1")[0]
    (audited,) = database.query("SELECT COUNT(*) FROM audit_log WHERE action = 'demo.open'")[0]
    assert count == 1 and audited == 1


def ran_key(database: Database) -> str:
    """A second key of demo-service (the flow's own was printed once and is gone with its shell)."""
    return database.new_key("demo-service", "entitlements:check")
