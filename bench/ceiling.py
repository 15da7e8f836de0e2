"""The ceiling row of `make bench`: the most requests a second gunicorn, with the gateway's
gunicorn.conf.py on the same interpreter, answers on this machine. A constant answer with the
headers and body size of GET /health's (health.views.health_application), so that W1 / ceiling is
the share of gunicorn's own rate that the probe's work (its SELECT 1, its report) leaves."""

import json

BODY = json.dumps({"status": "healthy", "database": "connected", "timestamp": "2026-01-01T00:00:00.000000+00:00"}).encode()
HEADERS = [
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Content-Length", str(len(BODY))),
    ("X-Request-ID", "0" * 32),
]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
