"""Settings for the test suite: the real settings with test-only keys, plain HTTP and the
cheapest bcrypt cost the contract allows. The database file is made per session by
conftest.py (a real file from database/schema.sql); DATABASE_URL=postgres://… runs the
same suite on PostgreSQL."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-django-secret-key-not-for-any-deployment")
os.environ.setdefault("JWT_SECRET", "test-only-jwt-secret-not-for-any-deployment-0123456789")
os.environ.setdefault("DJANGO_TLS", "0")
os.environ.setdefault("BCRYPT_ROUNDS", "10")
os.environ.setdefault("DJANGO_CACHE_DIR", tempfile.mkdtemp(prefix="ltplabs-test-cache-"))
os.environ.setdefault("DATABASE_PATH", os.path.join(tempfile.gettempdir(), "ltplabs-test-placeholder.db"))

from ltplabs.settings import *  # noqa: E402,F403

# Staff users' Django passwords: a fast hasher keeps the suite quick (clients' bcrypt is unaffected).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
