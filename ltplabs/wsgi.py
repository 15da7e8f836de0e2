"""WSGI entry point for gunicorn: `gunicorn ltplabs.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ltplabs.settings")

django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (configured by now)
from django.utils.module_loading import import_string  # noqa: E402

from ltplabs.http.metrics import metrics_application  # noqa: E402

if settings.JWT_KEYS_MISSING:  # commands may run without a token key; a server never does
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(settings.JWT_KEYS_MISSING)

health_application = import_string(settings.HEALTH_APPLICATION)


def application(environ, start_response):
    # GET /health, the probe, skips Django's handler and middleware (settings.HEALTH_APPLICATION);
    # /metrics, Prometheus' scrape of the pod IP over plain HTTP, skips them too, the host check
    # and the HTTPS redirect with them: its token guards it (ltplabs/http/metrics.py). Every other
    # request, /health/live and /health/ready included, goes through Django.
    path = environ.get("PATH_INFO")
    if path == "/health" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        return health_application(environ, start_response)
    if path == "/metrics":
        return metrics_application(environ, start_response)
    return django_application(environ, start_response)
