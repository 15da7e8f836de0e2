"""Probes for Kubernetes and operators; no authentication, plain Django (no DRF) to stay cheap."""

import functools
import json
import logging
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from ltplabs.http.middleware import request_id
from ltplabs.schema import LEGACY_TABLES, schema_problems
from ltplabs.staticfiles import static_files_problem

logger = logging.getLogger(__name__)


class _ThisThread(threading.local):
    database = None  # this thread's wrapper of the default database, once looked up


_this_thread = _ThisThread()


def _database() -> BaseDatabaseWrapper:
    """This thread's wrapper of the default database, the one `connection` is. Django makes one per
    thread and keeps it for the thread's life; looking it up in `connections` (an asgiref
    context-local, which asks for a running event loop first) cost the probe an eighth of its time."""
    db = _this_thread.database
    if db is None:
        db = _this_thread.database = connections[DEFAULT_DB_ALIAS]
    return db


def _database_problem() -> str | None:
    db = _database()
    file_problem = getattr(db, "file_problem", None)
    problem = file_problem() if file_problem else None
    if problem:
        db.close()  # the next request opens the file at the path afresh, or fails clearly
        return problem
    try:
        if db.connection is None:  # once open, ensure_connection would only look for an event loop
            db.ensure_connection()
        # The driver's own execute (sqlite3's and psycopg's): a SELECT 1 needs none of Django's
        # cursor wrapping (query logging, parameter conversion, error translation).
        db.connection.execute("SELECT 1").fetchone()
    except (DatabaseError, db.Database.Error) as exc:
        db.close()
        return str(exc)
    return None


def _answer(problem: str | None, **extra) -> JsonResponse:
    return JsonResponse({**_report(problem), **extra}, status=503 if problem else 200)


def _report(problem: str | None) -> dict:
    if problem:
        logger.warning("health check failed: %s", problem)
    return {
        "status": "unhealthy" if problem else "healthy",
        "database": "disconnected" if problem else "connected",
        "timestamp": _timestamp(),
    }


_second = (0, "")  # the last whole second _timestamp wrote, and its date and time of day


def _timestamp() -> str:
    """Now in UTC, ISO-8601 to the microsecond with a Z (2026-12-02T03:56:06.718936Z): the timestamp
    of every health answer. The date and time of day are written once a second: the probe answers
    thousands of times in one, and datetime.isoformat cost it a sixth of its time."""
    global _second
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{micros:06d}Z"


HEALTHY = b'{"status": "healthy", "database": "connected", "timestamp": "%s"}'


@require_safe
def live(request):
    return JsonResponse({"status": "alive", "timestamp": _timestamp()})


@require_safe
def ready(request):
    problem = _database_problem()
    if problem:
        return _answer(problem)
    try:
        differences = schema_problems(connection)
        with connection.cursor() as cursor:
            # A first row of each table: cheap, and finds a damaged root page. A full
            # integrity_check reads the whole file; that is `manage.py dbcheck`'s job.
            for table in LEGACY_TABLES:
                cursor.execute(f"SELECT * FROM {table} LIMIT 1")
                cursor.fetchall()
    except DatabaseError as exc:
        connection.close()
        return _answer(str(exc))
    # The admin and the API docs could not render without their static files (a 500 on every page).
    static_problem = static_files_problem()
    if differences or static_problem:
        body = {
            "status": "unhealthy",
            "database": "connected",
            "schema": "incompatible" if differences else "ok",
            "static_files": "missing" if static_problem else "ok",
            "problems": differences + ([static_problem] if static_problem else []),
            "timestamp": _timestamp(),
        }
        logger.warning("readiness check failed: %s", "; ".join(body["problems"]))
        return JsonResponse(body, status=503)
    return _answer(None, schema="ok", static_files="ok")


@functools.cache
def probe_headers() -> tuple[tuple[str, str], ...]:
    """The probe's content type and the headers SecurityMiddleware and XFrameOptionsMiddleware add
    to a plain-HTTP answer, from the settings they read (HSTS only goes on HTTPS answers, and the
    probe is plain HTTP). Settings do not change in a running process: worked out once."""
    headers = [("Content-Type", "application/json")]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    return tuple(headers)


def health_application(environ, start_response):
    """GET /health, the one implementation: a bare WSGI application, which ltplabs/wsgi.py routes
    the probe to (settings.HEALTH_APPLICATION) without Django's request, middleware and URL
    resolving, and which Django's own /health route (`health`, below) runs too. Probes and load
    balancers call it often; it does the one thing it reports on, a SELECT 1, and carries
    X-Request-ID. No access line is logged for it (the request-log middleware does not run)."""
    problem = _database_problem()
    if problem:
        payload = json.dumps(_report(problem)).encode()
    else:  # _report(None) as json.dumps writes it (health/tests), less building and encoding a dict
        payload = HEALTHY % _timestamp().encode()
    headers = [*probe_headers(), ("Content-Length", str(len(payload))), ("X-Request-ID", request_id(environ))]
    start_response("503 Service Unavailable" if problem else "200 OK", headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [payload]


@require_safe
def health(request):
    """/health reached through Django (the test client, or a route past ltplabs/wsgi.py): the same
    application's answer, which the middleware then sees like any other."""
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = int(status.split()[0]), headers

    body = b"".join(health_application(request.META, start_response))
    response = HttpResponse(body, status=answer["status"])
    for name, value in answer["headers"]:
        response[name] = value
    return response
