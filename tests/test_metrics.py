"""/metrics against a real gunicorn: counts exact across two workers, a worker killed and replaced
losing and doubling nothing, and each 503 cause counted under its label when the faults of
tests/test_faults.py are driven the same way."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests import test_faults as faults
from tests.fixtures import IS_POSTGRES, make_database_file
from tests.reliability import call, rows, worker_pids

pytestmark = [pytest.mark.http, pytest.mark.skipif(IS_POSTGRES, reason="gunicorn on the SQLite file")]

TOKEN = "metrics-test-token-not-a-secret"
LIST = {"route": "api/clients$", "method": "GET", "status": "200"}
volume = faults.volume  # a 3 MB tmpfs (root)


def metrics_env(tmp_path: Path, name: str = "metrics") -> dict:
    """Metrics on, their files in the test's own folder."""
    return {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": tmp_path / name}


def scrape(gateway) -> dict[tuple[str, frozenset], float]:
    answer = call(f"{gateway.url}/metrics", token=TOKEN, timeout=30)
    assert answer.status == 200, answer
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.raw.decode())
        for sample in family.samples
    }


def sample(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def served_by_pid(folder: Path, **labels) -> dict[int, float]:
    """ltplabs_http_requests_total{labels} as each worker's own file holds it."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, key_labels, _ = json.loads(key)
            if name == "ltplabs_http_requests_total" and key_labels == labels:
                counts[pid] = counts.get(pid, 0) + value
    return counts


def send_lists(gateway, token: str, count: int, threads: int = 8) -> list[int]:
    """`count` GET /api/clients, from `threads` connections at once (so that both workers take some)."""
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(share: int) -> None:
        for _ in range(share):
            status = call(f"{gateway.url}/api/clients?limit=1", token=token, timeout=30).status
            with lock:
                statuses.append(status)

    shares = [count // threads + (1 if n < count % threads else 0) for n in range(threads)]
    running = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    return statuses


def test_requests_over_two_workers_and_a_killed_one_read_back_exactly(gateway_factory, tmp_path):
    folder = tmp_path / "metrics"
    gateway = gateway_factory(clients=3, workers=2, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=folder)
    token = gateway.staff_token()
    master = gateway.process.pid
    first = set(worker_pids(master))
    sent = []
    # Until both workers have answered some (the kernel shares the connections out; 25 rounds at most).
    for _ in range(25):
        sent += send_lists(gateway, token, 40)
        if len([pid for pid, count in served_by_pid(folder, **LIST).items() if pid in first and count]) == 2:
            break
    assert len({pid for pid, count in served_by_pid(folder, **LIST).items() if count} & first) == 2, served_by_pid(folder, **LIST)

    victim = max(first)
    os.kill(victim, signal.SIGKILL)  # between requests: all it answered was counted
    assert faults.wait_for(lambda: len(worker_pids(master)) == 2 and victim not in worker_pids(master), 30)
    (replacement,) = worker_pids(master) - first
    for _ in range(25):
        sent += send_lists(gateway, token, 40)
        if served_by_pid(folder, **LIST).get(replacement):
            break
    by_pid = served_by_pid(folder, **LIST)
    assert by_pid.get(replacement) and by_pid.get(victim), by_pid

    scraped = scrape(gateway)
    assert sent == [200] * len(sent)
    assert sample(scraped, "ltplabs_http_requests_total", **LIST) == len(sent)  # the dead worker's counts are kept, once
    assert sample(scraped, "ltplabs_http_request_duration_seconds_count", route="api/clients$") == len(sent)
    assert sample(scraped, "ltplabs_gunicorn_workers") == 2  # child_exit dropped the killed worker's live gauge


def test_metrics_folder_is_emptied_when_gunicorn_starts(gateway_factory, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: would be counted again, or break the scrape
    gateway = gateway_factory(workers=2, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=folder)
    assert not (folder / "counter_999999.db").exists()
    assert sample(scrape(gateway), "ltplabs_gunicorn_workers") == 2


def causes(scraped: dict) -> dict[str, float]:
    return {
        cause: sample(scraped, "ltplabs_http_503_answers_total", cause=cause)
        for cause in ("busy", "full", "read-only", "damaged", "unavailable")
    }


def test_busy_503s_are_counted_as_busy_with_their_lock_waits(gateway_factory, tmp_path):
    gateway = gateway_factory(workers=2, **metrics_env(tmp_path))
    token = gateway.staff_token()
    assert call(f"{gateway.url}/api/clients", "POST", faults.new_client("mbusy", "before"), token).status == 201
    before = scrape(gateway)
    holder = subprocess.Popen(
        [sys.executable, "-c", faults.LOCK_HOLDER, str(gateway.db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        answers = [call(f"{gateway.url}/api/clients", "POST", faults.new_client("mbusy", n), token, timeout=30) for n in range(2)]
    finally:
        holder.communicate("\n", timeout=10)
    assert [answer.status for answer in answers] == [503, 503]
    assert call(f"{gateway.url}/api/clients", "POST", faults.new_client("mbusy", "after"), token).status == 201
    after = scrape(gateway)
    assert causes(after) == {**causes(before), "busy": causes(before)["busy"] + 2}
    # Three writes, three waits for the lock: the two that failed after busy_timeout included.
    waits = "ltplabs_sqlite_write_lock_wait_seconds_count"
    assert sample(after, waits) - sample(before, waits) == 3
    assert (
        sample(after, "ltplabs_sqlite_write_lock_wait_seconds_bucket", le="+Inf")
        - sample(before, "ltplabs_sqlite_write_lock_wait_seconds_bucket", le="+Inf")
        == 3
    )
    assert (
        sample(after, "ltplabs_audit_rows_written_total", action="client.create")
        - sample(before, "ltplabs_audit_rows_written_total", action="client.create")
        == 1
    )
    wal = Path(f"{gateway.db_path}-wal")
    assert sample(after, "ltplabs_sqlite_wal_bytes") == wal.stat().st_size > 0  # nothing written since the scrape


def test_read_only_gateway_503s_are_counted_as_read_only(gateway_factory, tmp_path):
    db_path = make_database_file(tmp_path, clients=2, name="ro.db")
    token = faults.staff_token_for(db_path)
    gateway = gateway_factory(workers=2, db_path=db_path, DATABASE_READ_ONLY="1", **metrics_env(tmp_path))
    answers = [call(f"{gateway.url}/api/clients", "POST", faults.new_client("mro", n), token) for n in range(3)]
    assert [answer.status for answer in answers] == [503] * 3
    assert causes(scrape(gateway)) == {"busy": 0, "full": 0, "read-only": 3, "damaged": 0, "unavailable": 0}


def test_a_deleted_file_counts_unavailable_and_a_damaged_one_damaged(gateway_factory, tmp_path):
    gateway = gateway_factory(workers=2, **metrics_env(tmp_path))
    token = gateway.staff_token()
    gateway.db_path.unlink()
    answers = [call(f"{gateway.url}/api/clients", token=token, timeout=10) for _ in range(4)]
    assert [answer.status for answer in answers] == [503] * 4
    assert causes(scrape(gateway)) == {"busy": 0, "full": 0, "read-only": 0, "damaged": 0, "unavailable": 4}

    db_path = make_database_file(tmp_path, clients=300, name="damaged.db")
    token = faults.staff_token_for(db_path)
    root_page = rows(db_path, "SELECT rootpage FROM sqlite_master WHERE name = 'clients'")[0][0]
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    faults.damage(db_path, root_page)
    damaged = gateway_factory(workers=1, db_path=db_path, **metrics_env(tmp_path, "metrics-damaged"))
    listed = [call(f"{damaged.url}/api/clients?status=all", token=token, timeout=10) for _ in range(2)]
    assert [answer.status for answer in listed] == [503, 503], listed
    assert causes(scrape(damaged)) == {"busy": 0, "full": 0, "read-only": 0, "damaged": 2, "unavailable": 0}


def test_a_full_disk_503_is_counted_as_full(volume, tmp_path):
    db_path = make_database_file(volume, clients=5)
    with faults.serving(db_path, tmp_path, **metrics_env(tmp_path)) as gateway:
        token = gateway.staff_token()
        filler = faults.fill(volume)
        answers = []
        for index in range(60):
            answers.append(call(f"{gateway.url}/api/clients", "POST", faults.new_client("mfull", index), token, timeout=30))
            if answers[-1].status == 503:
                break
        filler.unlink()
        scraped = scrape(gateway)
    full = sum(1 for answer in answers if answer.status == 503)
    assert full == 1 and answers[-1].error.startswith("The database is full"), answers
    assert causes(scraped) == {"busy": 0, "full": 1, "read-only": 0, "damaged": 0, "unavailable": 0}
