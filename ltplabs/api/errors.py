"""One place that turns every error into the contract's envelope:
{"success": false, "error": "<one sentence>", "details"?: {field: [messages]}}."""

import logging
import sqlite3

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ltplabs import metrics
from ltplabs.exceptions import ServiceError

logger = logging.getLogger(__name__)

READ_ONLY_MESSAGE = "The gateway is read-only: writes are disabled (DATABASE_READ_ONLY=1)."


def error_body(message: str, details=None) -> dict:
    body = {"success": False, "error": message}
    if details:
        body["details"] = details
    return body


def _first_sentence(detail) -> str:
    if isinstance(detail, (list, tuple)) and detail:
        return _first_sentence(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_sentence(next(iter(detail.values())))
    return str(detail)


def _field_details(detail) -> dict:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, (list, tuple)) else [v])] for k, v in detail.items()}
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, (list, tuple)) else [detail])]}


def database_error_response(exc: DatabaseError) -> tuple[int, dict, dict]:
    """503 for a database that is busy, full, read-only, damaged or gone; the reason, never the SQL."""
    cause, body, headers = database_error_cause(exc)
    return 503, body, headers


def database_error_cause(exc: DatabaseError) -> tuple[str, dict, dict]:
    """The cause (one of metrics.UNAVAILABLE_CAUSES), the envelope and the headers of a database error's 503."""
    code, message = _sqlite_error_name(exc), _message_without_path(exc)
    headers = {"Retry-After": "1"}
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in message or "not a database" in message:
        return "damaged", error_body("The database file is damaged; the operators have to restore it."), {"Retry-After": "60"}
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in message or "busy" in message:
        return "busy", error_body("The database is busy; try again shortly."), headers
    if code.startswith("SQLITE_READONLY") or "readonly" in message or "read-only" in message or "read only" in message:
        return "read-only", error_body(READ_ONLY_MESSAGE if _read_only() else "The database is read-only; writes are refused."), headers
    if code == "SQLITE_FULL" or "full" in message or "no space left" in message:
        return "full", error_body("The database is full; writes are refused until space is freed."), {"Retry-After": "30"}
    return "unavailable", error_body("The database is unavailable."), {"Retry-After": "5"}


def _sqlite_error_name(exc: BaseException) -> str:
    """SQLite's own code (SQLITE_BUSY, SQLITE_FULL, …) of the error Django wrapped, if any."""
    while exc is not None:
        name = getattr(exc, "sqlite_errorname", None)
        if name:
            return name
        exc = exc.__cause__
    return ""


def _message_without_path(exc: BaseException) -> str:
    # The file's path says nothing of the reason: a folder named "read-only" is not one.
    from django.conf import settings

    message = str(exc).lower()
    path = str(settings.DATABASES["default"].get("NAME") or "").lower()
    for part in (path, path.rsplit("/", 1)[0]):
        if len(part) > 1:
            message = message.replace(part, "")
    return message


def _read_only() -> bool:
    from django.conf import settings

    return settings.DATABASE_READ_ONLY


def api_exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        body = error_body(exc.message)
        if getattr(exc, "code", None):
            body["code"] = exc.code
        return Response(body, status=exc.status)
    if isinstance(exc, ValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body(_first_sentence(list(details.values())), details), status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("The request body is larger than 1 MB."), status=413)
    if isinstance(exc, (IntegrityError, sqlite3.IntegrityError)):
        # A UNIQUE index refused a write that lost a race (the services turn the ones they expect
        # into a Conflict with its own sentence): the caller's request conflicts, the database is
        # fine, so 409 and no Retry-After. Before the DatabaseError branch, which it is a case of.
        logger.info("integrity error on %s: %s", context["request"].path, exc)
        return Response(error_body("The request conflicts with the current data; read it again."), status=409)
    if isinstance(exc, (OperationalError, sqlite3.OperationalError, DatabaseError)):
        logger.warning("database error on %s: %s", context["request"].path, exc)
        cause, body, headers = database_error_cause(exc)
        metrics.unavailable(cause)
        return Response(body, status=503, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    if isinstance(exc, exceptions.ValidationError):
        details = _field_details(detail)
        response.data = error_body(_first_sentence(detail), details)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body("The request body is not valid JSON.")
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        response.data = error_body("Send the request body as application/json.")
    elif isinstance(exc, exceptions.NotAuthenticated):
        response.data = error_body("Authentication credentials were not provided.")
    elif isinstance(exc, exceptions.AuthenticationFailed):
        response.data = error_body(_first_sentence(detail) if not isinstance(detail, dict) else "The token is invalid or expired.")
    else:
        response.data = error_body(_first_sentence(detail))
    if response.status_code == 503:  # the read-only gate (ltplabs.api.views.ReadOnlyGateway)
        metrics.unavailable("read-only" if getattr(exc, "default_code", "") == "read_only" else "unavailable")
    return response


def json_error_view(status_code: int, message: str):
    def view(request, exception=None):
        return JsonResponse(error_body(message), status=status_code)

    return view


handler400 = json_error_view(status.HTTP_400_BAD_REQUEST, "Bad request.")
handler403 = json_error_view(status.HTTP_403_FORBIDDEN, "You do not have permission to do this.")
handler404 = json_error_view(status.HTTP_404_NOT_FOUND, "Not found.")
handler500 = json_error_view(status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal server error.")
