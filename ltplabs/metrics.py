"""The one home of the gateway's Prometheus metrics: every name, label and bucket, and /metrics.

Under gunicorn the counts are exact across workers: gunicorn.conf.py points
PROMETHEUS_MULTIPROC_DIR at a folder of this pod's own (cleaned in on_starting, before any
worker imports prometheus_client) and each worker writes its values into its own files there;
a scrape, answered by whichever worker, sums every file. A dead worker's counter files stay, so
nothing it counted is lost; child_exit marks it dead, which drops its live gauges. Without that
folder (manage.py, the in-process tests) the values live in the process.

Label values are bounded: route patterns (never paths), a fixed set of methods, causes and codes.
Nothing here imports Django's settings at import time: gunicorn.conf.py's post_fork imports it.
"""

import os
import struct

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from . import metrics_pid

metrics_pid.install()

REQUESTS = Counter("ltplabs_http_requests", "Answers, by route pattern, method and status.", ["route", "method", "status"])
REQUEST_DURATION = Histogram(
    "ltplabs_http_request_duration_seconds",
    "Time from the request reaching Django to its answer, by route pattern.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Decided by the one exception handler (ltplabs/api/errors.py).
UNAVAILABLE_CAUSES = ("busy", "full", "read-only", "damaged", "unavailable")
UNAVAILABLE = Counter("ltplabs_http_503_answers", "503 answers of the API, by the database's state.", ["cause"])
SIGN_IN_KINDS = ("staff", "client")
SIGN_IN_FAILURES = Counter("ltplabs_sign_in_failures", "Sign-ins refused for bad credentials, by kind.", ["kind"])
THROTTLED = Counter("ltplabs_throttled_answers", "429 answers (throttles), by route pattern.", ["route"])
# The contract's codes of POST /api/entitlements/check, in its order.
ENTITLEMENT_CODES = (
    "UNKNOWN_CLIENT", "UNKNOWN_DEMO", "CLIENT_INACTIVE", "CLIENT_EXPIRED", "DEMO_DISABLED", "NO_ACCESS", "ACCESS_EXPIRED", "OK",
)  # fmt: skip
ENTITLEMENT_CHECKS = Counter("ltplabs_entitlement_checks", "Entitlement checks answered, by code.", ["code"])
AUDIT_ROWS = Counter("ltplabs_audit_rows_written", "audit_log rows committed, by action.", ["action"])
SQLITE_WRITE_LOCK_WAIT = Histogram(
    "ltplabs_sqlite_write_lock_wait_seconds",
    "Time a write transaction waited for SQLite's write lock (BEGIN IMMEDIATE), failed waits included.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0),
)
SQLITE_CHECKPOINTS = Counter("ltplabs_sqlite_checkpoints", "WAL checkpoints the gateway ran itself (as a connection closes).")
WORKERS = Gauge("ltplabs_gunicorn_workers", "gunicorn workers alive.", multiprocess_mode="livesum")

for _cause in UNAVAILABLE_CAUSES:  # every series exists from the start at 0: rate() and alerts need no first event
    UNAVAILABLE.labels(_cause)
for _kind in SIGN_IN_KINDS:
    SIGN_IN_FAILURES.labels(_kind)
for _code in ENTITLEMENT_CODES:
    ENTITLEMENT_CHECKS.labels(_code)


def unavailable(cause: str) -> None:
    UNAVAILABLE.labels(cause).inc()


def sign_in_failed(kind: str) -> None:
    if kind not in SIGN_IN_KINDS:
        raise ValueError(f"unknown sign-in kind {kind!r}")
    SIGN_IN_FAILURES.labels(kind).inc()


def entitlement_checked(code: str) -> None:
    """Count one entitlement check (issue 15's check calls this with the code it answered)."""
    if code not in ENTITLEMENT_CODES:
        raise ValueError(f"unknown entitlement code {code!r}")
    ENTITLEMENT_CHECKS.labels(code).inc()


def wal_state(path: str) -> tuple[int, int]:
    """The -wal file's size and its header's checkpoint sequence (bumped each time a writer
    restarts the WAL after a complete checkpoint, by any process); (0, 0) without a WAL."""
    try:
        with open(f"{path}-wal", "rb") as wal:
            header = wal.read(16)
            size = os.fstat(wal.fileno()).st_size
    except OSError:
        return 0, 0
    sequence = struct.unpack(">I", header[12:16])[0] if len(header) == 16 else 0
    return size, sequence


class SQLiteCollector:
    """Read at scrape time, from the file itself: costs the request path nothing."""

    def __init__(self, path: str):
        self.path = path

    def collect(self):
        size, sequence = wal_state(self.path)
        yield GaugeMetricFamily("ltplabs_sqlite_wal_bytes", "Size of ltplabs.db-wal.", value=size)
        yield GaugeMetricFamily(
            "ltplabs_sqlite_wal_checkpoint_sequence",
            "The WAL header's checkpoint sequence (resets when the -wal file is removed).",
            value=sequence,
        )


def exposition() -> bytes:
    """Every worker's counts (multiprocess mode) or this process's, and the SQLite gauges."""
    from django.conf import settings
    from prometheus_client import REGISTRY, values
    from prometheus_client.multiprocess import MultiProcessCollector

    if values.ValueClass is not values.MutexValue:  # multiprocess mode, chosen when prometheus_client was imported
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "ltplabs.sqlite":
        sqlite = CollectorRegistry()
        sqlite.register(SQLiteCollector(str(database["NAME"])))
        output += generate_latest(sqlite)
    return output
