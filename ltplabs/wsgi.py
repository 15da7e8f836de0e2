"""WSGI entry point for gunicorn: `gunicorn ltplabs.wsgi`."""

import os

import django
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ltplabs.settings")

django.setup(set_prefix=False)

from health.views import health_application  # noqa: E402  (needs the apps loaded)
from ltplabs.staticfiles import static_files_problem  # noqa: E402

# Before the middleware is built: whitenoise's would only warn about a missing folder, and the
# pages would answer 500. gunicorn.conf.py says this already; this is for any other server.
if problem := static_files_problem():
    raise ImproperlyConfigured(problem)

django_application = WSGIHandler()  # what get_wsgi_application() returns


def application(environ, start_response):
    # GET /health, the probe, skips Django's handler and middleware (see health_application);
    # every other request, /health/live and /health/ready included, goes through Django.
    if environ.get("PATH_INFO") == "/health" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        return health_application(environ, start_response)
    return django_application(environ, start_response)
