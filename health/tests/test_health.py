import json
import re
import sqlite3

import pytest
from django.db import connection

from tests.fixtures import IS_POSTGRES


@pytest.mark.django_db
def test_health_is_200_with_the_contracts_body(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["database"] == "connected"
    assert body["timestamp"].endswith("Z")
    assert response["X-Request-ID"]


def test_live_touches_no_database(client):
    assert client.get("/health/live").status_code == 200


@pytest.mark.django_db
def test_ready_is_200_on_the_schema_it_was_built_for(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["schema"] == "ok"


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite file")
def test_ready_is_503_naming_what_differs(client, tmp_path, settings, django_db_blocker):
    from ltplabs.schema import create_sqlite_database

    path = tmp_path / "v4.db"
    create_sqlite_database(path)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA user_version = 4; DROP VIEW v_demo_usage;")
    db.close()
    connection.close()
    connection.settings_dict["NAME"] = str(path)
    try:
        with django_db_blocker.unblock():
            response = client.get("/health/ready")
    finally:
        connection.close()
        connection.settings_dict["NAME"] = settings.DATABASES["default"]["NAME"]
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert "user_version is 4, expected 3" in body["problems"]
    assert "view v_demo_usage is missing" in body["problems"]


@pytest.mark.django_db
def test_ready_is_503_when_the_admin_could_not_render_for_lack_of_static_files(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "never-collected"
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        client.get("/admin/login/")  # what readiness foresees: the admin's pages would be 500s
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["schema"], body["static_files"]) == ("unhealthy", "connected", "ok", "missing")
    (problem,) = body["problems"]
    assert "manage.py collectstatic" in problem and str(tmp_path / "never-collected") in problem


def test_request_id_is_echoed_when_sane(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    replaced = [client.get("/health/live", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in replaced), replaced  # a new random id each time
    assert replaced[0] != replaced[1]


@pytest.mark.django_db
def test_gunicorns_entry_point_answers_health_itself_as_django_would(client):
    """ltplabs.wsgi routes GET /health past Django to the same application Django's route runs:
    the same body and the security headers the middleware would add, from the same settings."""
    from ltplabs.wsgi import application

    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "HTTP_X_REQUEST_ID": "probe-1", "wsgi.input": None}
    body = json.loads(b"".join(application(environ, start_response)))
    through_django = client.get("/health", HTTP_X_REQUEST_ID="probe-1")
    assert answer["status"] == "200 OK" and through_django.status_code == 200
    assert set(body) == set(through_django.json()) and body["status"] == "healthy"
    assert answer["headers"]["X-Request-ID"] == through_django["X-Request-ID"] == "probe-1"
    for name in ("Content-Type", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy"):
        assert answer["headers"][name] == through_django[name], name


def test_the_healthy_body_is_the_report_as_json_dumps_writes_it(monkeypatch):
    """health.views.HEALTHY, the probe's answer written without building a dict: byte for byte
    what json.dumps(_report(None)) gives, whatever the time."""
    from health import views

    for moment in ("2026-12-01T16:20:00.123456Z", "2026-12-31T23:59:59Z"):
        monkeypatch.setattr(views, "_timestamp", lambda moment=moment: moment)
        assert views.HEALTHY % views._timestamp().encode() == json.dumps(views._report(None)).encode()


def test_the_timestamp_is_the_clocks_second_after_the_second_it_remembered_has_passed(monkeypatch):
    """health.views._timestamp writes the date and time of day once a second: each answer must
    still carry the second it was made in, across seconds, minutes, days and back in time."""
    from datetime import UTC, datetime, timedelta

    from health import views

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [
        1_796_169_599_999_999_123,  # 2026-12-01T23:59:59.999999Z
        1_796_169_600_000_000_999,  # the next day, the first microsecond
        1_796_169_600_500_000_000,  # the same second again
        1_796_169_661_000_001_000,  # a minute later
        1_796_169_599_000_000_000,  # the clock set back
    ]
    for ns in moments:
        monkeypatch.setattr(views.time, "time_ns", lambda ns=ns: ns)
        expected = (epoch + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert views._timestamp() == expected
    monkeypatch.undo()
    written = datetime.strptime(views._timestamp(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - written) < timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_the_probe_checks_the_connection_of_the_thread_it_runs_in():
    """health.views keeps each thread's wrapper of the database (_database) instead of asking
    `connections` on every probe: it must be the thread's own, the one `connection` is there, and
    a probe must open it again after it was closed."""
    import threading

    from django.db import connections

    from health import views

    def probe() -> str:
        answer = {}
        b"".join(views.health_application({"REQUEST_METHOD": "GET"}, lambda status, headers: answer.update(status=status)))
        return answer["status"]

    here = connections["default"]
    here.close()
    assert probe() == "200 OK" and here.connection is not None  # this thread's, opened again
    seen = {}

    def in_another_thread():
        try:
            seen["status"] = probe()
            mine = connections["default"]
            seen["own"], seen["open"] = mine is not here, mine.connection is not None
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()
    assert seen == {"status": "200 OK", "own": True, "open": True}
