"""Counting every answer Django gives (ltplabs.metrics), and GET /metrics.

GET /metrics is answered by metrics_application, straight from ltplabs/wsgi.py as /health is:
Prometheus scrapes the pod by its IP over plain HTTP inside the cluster, which Django's host
check (ALLOWED_HOSTS) and HTTPS redirect would refuse; the token is what guards it. Scrapes are
therefore not counted. The Django route (metrics_view) serves the same answer where the WSGI
entry point is not in front (the test client, runserver).

The bare GET /health probe never reaches Django either and is not counted: it is the kubelet's,
every few seconds, and its failures show in the probe and the pod's state. /health/live and
/health/ready are counted like any route.
"""

import hmac
import json
import time

from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ltplabs import metrics
from ltplabs.api.errors import error_body

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # a 404 for no route: its path is whatever a scanner sent


class MetricsMiddleware:
    """ltplabs_http_requests_total and the latency histogram, labelled by route pattern.
    Off (out of the chain) unless METRICS_TOKEN is set."""

    def __init__(self, get_response):
        from django.conf import settings

        if not settings.METRICS_TOKEN:
            raise MiddlewareNotUsed
        self.get_response = get_response
        # labels() takes a lock and builds a key each call; the label sets are few and fixed.
        self.children: dict[tuple[str, str, int], tuple] = {}

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        route = match.route if match is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        key = (route, method, response.status_code)
        children = self.children.get(key)
        if children is None:
            children = (metrics.REQUESTS.labels(route, method, str(response.status_code)), metrics.REQUEST_DURATION.labels(route))
            self.children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if response.status_code == 429:
            metrics.THROTTLED.labels(route).inc()
        return response


def metrics_answer(method: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
    """404 unless METRICS_TOKEN is set, 401 without it as the bearer token, else the exposition."""
    from django.conf import settings

    def error(status: int, message: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json", **headers}, json.dumps(error_body(message)).encode()

    token = settings.METRICS_TOKEN
    if not token:
        return error(404, "Not found.")
    if method not in ("GET", "HEAD"):
        return error(405, f'Method "{method}" not allowed.', Allow="GET, HEAD")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        return error(401, "The metrics token is missing or wrong.", **{"WWW-Authenticate": "Bearer"})
    return 200, {"Content-Type": CONTENT_TYPE_LATEST}, metrics.exposition()


def metrics_application(environ, start_response):
    status, headers, body = metrics_answer(environ.get("REQUEST_METHOD", ""), environ.get("HTTP_AUTHORIZATION", ""))
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}[status]
    start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def metrics_view(request):
    status, headers, body = metrics_answer(request.method, request.META.get("HTTP_AUTHORIZATION", ""))
    return HttpResponse(body, status=status, headers=headers)
