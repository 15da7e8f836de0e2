"""ltplabs/metrics.py in one process: the token of /metrics, route patterns as labels, and each
counter counting what it names. Exactness across gunicorn workers: tests/test_metrics.py."""

import io

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from clients import services
from ltplabs import metrics
from tests.fixtures import IS_POSTGRES, ROOT

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-not-a-secret"
HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def wsgi_get(path: str, **headers) -> tuple[str, dict, bytes]:
    """One request through ltplabs.wsgi.application, the entry point gunicorn serves."""
    from ltplabs.wsgi import application

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "10.1.2.3", "SERVER_PORT": "3000", "HTTP_HOST": "10.1.2.3:3000",
               "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(), **headers}  # fmt: skip
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(response_headers)

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


def test_metrics_without_a_token_configured_is_404_whatever_is_sent(settings):
    settings.METRICS_TOKEN = ""
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
    status, _, body = wsgi_get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status.startswith("404") and b"ltplabs_" not in body


@pytest.mark.parametrize(
    "authorization", ["", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer ", f"Token {TOKEN}"]
)
def test_metrics_with_a_wrong_or_missing_token_is_401(metrics_on, authorization):
    response = APIClient().get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert b"ltplabs_" not in response.content
    status, _, body = wsgi_get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert status.startswith("401") and b"ltplabs_" not in body


def test_metrics_with_the_token_answers_prometheus_text_past_the_host_check(metrics_on):
    # Prometheus sends the pod IP as Host over plain HTTP: ALLOWED_HOSTS would answer 400.
    status, headers, body = wsgi_get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status.startswith("200"), body
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE ltplabs_http_requests_total counter" in body
    assert b'ltplabs_http_503_answers_total{cause="busy"}' in body
    assert (b"ltplabs_sqlite_wal_bytes" in body) == (not IS_POSTGRES)  # SQLite's gauges, on SQLite only
    assert wsgi_get("/api/clients")[0].startswith("400")  # every other path still meets the host check


def test_requests_are_counted_by_route_pattern_never_by_path(metrics_on, api):
    ids = [
        services.client_create(actor=services.Actor.system(), name="R", email=f"r{n}@example.com", password_hash=HASH).id for n in range(3)
    ]
    for client_id in ids:
        assert api.get(f"/api/clients/{client_id}").status_code == 200
    routes = {
        sample.labels["route"]: sample.value
        for family in REGISTRY.collect()
        if family.name == "ltplabs_http_requests"
        for sample in family.samples
        if sample.name == "ltplabs_http_requests_total" and sample.labels["method"] == "GET" and sample.labels["status"] == "200"
    }
    detail = [route for route in routes if "clients" in route and ("<" in route or "(?P" in route)]
    assert detail, routes
    assert not [route for route in routes if any(str(client_id) in route for client_id in ids)], routes
    assert sum(routes[route] for route in detail) >= 3


def test_unmatched_paths_share_one_label(metrics_on, api):
    before = value("ltplabs_http_requests_total", route="<unmatched>", method="GET", status="404")
    for n in range(3):
        assert api.get(f"/no/such/path/{n}").status_code == 404
    assert value("ltplabs_http_requests_total", route="<unmatched>", method="GET", status="404") == before + 3


def test_nothing_is_counted_per_request_without_a_token(settings, api):
    settings.METRICS_TOKEN = ""
    before = value("ltplabs_http_requests_total", route="api/demos", method="GET", status="200")
    assert api.get("/api/demos").status_code == 200
    assert value("ltplabs_http_requests_total", route="api/demos", method="GET", status="200") == before


def test_audit_rows_are_counted_once_committed(metrics_on, api, django_capture_on_commit_callbacks):
    body = {"name": "Audit", "email": "audit-metric@example.com", "password_hash": HASH}
    before = value("ltplabs_audit_rows_written_total", action="client.create")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/clients", body, format="json").status_code == 201
    assert value("ltplabs_audit_rows_written_total", action="client.create") == before + 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert api.post("/api/clients", body, format="json").status_code == 409  # rolled back: no row, no count
    assert callbacks == []
    assert value("ltplabs_audit_rows_written_total", action="client.create") == before + 1


def test_an_audit_row_rolled_back_with_its_use_case_is_not_counted(django_capture_on_commit_callbacks):
    from django.db import transaction

    from clients.audit import Actor, audit

    before = value("ltplabs_audit_rows_written_total", action="client.update")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            audit(actor=Actor.system(), action="client.update", entity_type="client", entity_id=None)
            raise RuntimeError("the use case failed after its audit row")
    assert value("ltplabs_audit_rows_written_total", action="client.update") == before
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            audit(actor=Actor.system(), action="client.update", entity_type="client", entity_id=None)
    assert value("ltplabs_audit_rows_written_total", action="client.update") == before + 1


def test_sign_in_failures_are_counted_by_kind(metrics_on, staff_user):
    services.client_create(actor=services.Actor.system(), name="S", email="s@example.com", password_hash=HASH)
    client_before, staff_before = (
        value("ltplabs_sign_in_failures_total", kind="client"),
        value("ltplabs_sign_in_failures_total", kind="staff"),
    )
    anon = APIClient()
    assert anon.post("/api/client-auth/login", {"email": "s@example.com", "password": "wrong"}, format="json").status_code == 401
    assert anon.post("/api/client-auth/login", {"email": "s@example.com", "password": "ltplabs-demo"}, format="json").status_code == 200
    assert anon.post("/api/auth/token", {"username": "staff", "password": "wrong"}, format="json").status_code == 401
    assert anon.post("/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json").status_code == 200
    assert value("ltplabs_sign_in_failures_total", kind="client") == client_before + 1
    assert value("ltplabs_sign_in_failures_total", kind="staff") == staff_before + 1


def test_throttled_answers_are_counted_by_route(metrics_on, throttle_rates):
    throttle_rates(client_login_email="2/min")
    before = value("ltplabs_throttled_answers_total", route="api/client-auth/login")
    anon = APIClient()
    statuses = [
        anon.post("/api/client-auth/login", {"email": "t@example.com", "password": "x"}, format="json").status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 429, 429, 429]
    assert value("ltplabs_throttled_answers_total", route="api/client-auth/login") == before + 3


def test_entitlement_checks_count_the_contracts_codes_only():
    contract = (ROOT / "docs" / "gateway-contract.md").read_text()
    for code in metrics.ENTITLEMENT_CODES:
        assert f"`{code}`" in contract
        assert REGISTRY.get_sample_value("ltplabs_entitlement_checks_total", {"code": code}) is not None  # there from the start
    before = value("ltplabs_entitlement_checks_total", code="NO_ACCESS")
    metrics.entitlement_checked("NO_ACCESS")
    assert value("ltplabs_entitlement_checks_total", code="NO_ACCESS") == before + 1
    with pytest.raises(ValueError):
        metrics.entitlement_checked("no_access; DROP")  # a label value nobody bounded


FORKED_COUNTS = """
import os, sys
from ltplabs import metrics
metrics.AUDIT_ROWS.labels("client.create").inc()
child = os.fork()
if child == 0:
    metrics.AUDIT_ROWS.labels("client.create").inc(5)
    os._exit(0)
os.waitpid(child, 0)
metrics.AUDIT_ROWS.labels("client.create").inc(2)
print(child)
"""


def test_each_process_counts_into_its_own_file_after_a_fork_without_asking_its_pid_each_time(tmp_path):
    """ltplabs/metrics_pid.py: the remembered pid is the child's own after a fork, so a forked
    worker's counts go to its file and are never added to, or reset with, its parent's."""
    import subprocess
    import sys

    from prometheus_client.mmap_dict import MmapedDict

    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", FORKED_COUNTS], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    child = int(out.stdout)
    counted = {}
    for path in tmp_path.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        counted[pid] = sum(entry[1] for entry in MmapedDict.read_all_values_from_file(str(path)) if "client.create" in entry[0])
    assert counted[child] == 5
    assert sorted(counted.values()) == [3, 5]  # the parent's 1 + 2 in its own file
