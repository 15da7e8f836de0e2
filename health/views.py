"""Probes for Kubernetes and operators; no authentication, plain Django (no DRF) to stay cheap."""

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from ltplabs.db import schema_problems

logger = logging.getLogger(__name__)


def _database_problem() -> str | None:
    file_problem = getattr(connection, "file_problem", None)
    problem = file_problem() if file_problem else None
    if problem:
        connection.close()  # the next request opens the file at the path afresh, or fails clearly
        return problem
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        connection.close()
        return str(exc)
    return None


def _answer(problem: str | None, **extra) -> JsonResponse:
    body = {
        "status": "unhealthy" if problem else "healthy",
        "database": "disconnected" if problem else "connected",
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        **extra,
    }
    if problem:
        logger.warning("health check failed: %s", problem)
    return JsonResponse(body, status=503 if problem else 200)


@require_safe
def health(request):
    return _answer(_database_problem())


@require_safe
def live(request):
    return JsonResponse({"status": "alive", "timestamp": timezone.now().isoformat().replace("+00:00", "Z")})


@require_safe
def ready(request):
    problem = _database_problem()
    if problem:
        return _answer(problem)
    try:
        differences = schema_problems(connection)
    except DatabaseError as exc:
        return _answer(str(exc))
    if differences:
        body = {
            "status": "unhealthy",
            "database": "connected",
            "schema": "incompatible",
            "problems": differences,
            "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        }
        return JsonResponse(body, status=503)
    return _answer(None, schema="ok")
