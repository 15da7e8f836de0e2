"""WSGI entry point for gunicorn: `gunicorn ltplabs.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ltplabs.settings")

application = get_wsgi_application()
