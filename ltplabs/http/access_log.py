"""The access line of every request, written by the JSON formatter of ltplabs/logging.py."""

import logging
import time

from django.core.exceptions import MiddlewareNotUsed
from django.utils.functional import empty

access_logger = logging.getLogger("ltplabs.access")


def user_label(request) -> str | None:
    """Who made the request, without costing a query: a session user the view never looked at stays unnamed."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    if getattr(user, "_wrapped", None) is empty:
        return None
    if not getattr(user, "is_authenticated", False):
        return None
    if hasattr(user, "client"):
        return f"client:{user.pk}"
    own = getattr(user, "principal", None)  # a service account: "service:<id>"
    if isinstance(own, str):
        return own
    return f"staff:{user.get_username()}"


class RequestLogMiddleware:
    """One access line a request: method, path (never the query string, which may carry a token),
    status, duration, user and request id; health probes only when they fail.
    DJANGO_ACCESS_LOG=0 removes it from the chain."""

    def __init__(self, get_response):
        from django.conf import settings

        if not settings.ACCESS_LOG:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        status = response.status_code
        if status < 400 and request.path.startswith("/health"):
            return response  # the kubelet's probes, every few seconds: only their failures are news
        level = logging.ERROR if status >= 500 else logging.INFO
        if access_logger.isEnabledFor(level):
            # makeRecord + handle is what Logger.log does, less finding the caller's file and line
            # in the stack (a third of the line's cost), which the access line does not carry.
            extra = {
                "request_id": getattr(request, "request_id", None),
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": duration_ms,
                "user": user_label(request),
            }
            args = (request.method, request.path, status)
            access_logger.handle(access_logger.makeRecord(access_logger.name, level, __file__, 0, "%s %s %s", args, None, extra=extra))
        return response
