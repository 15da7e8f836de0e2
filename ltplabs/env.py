"""Reading the environment: the helpers settings.py reads it with, and the database URLs.

Nothing else reads os.environ; `migrate_to_postgres --to URL` reads its URL as settings read
DATABASE_URL, through postgres_database().
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from exc


def secret(name: str, dev_default: str, *, debug: bool) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (a mounted Kubernetes Secret)."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE names {path}, which cannot be read: {exc.strerror}.") from exc
    if value:
        return value
    if debug:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set: the gateway refuses to start outside development without it "
        f"(set {name} or {name}_FILE, or DJANGO_DEBUG=1 for a development run)."
    )


def postgres_database(url: str) -> dict:
    """The DATABASES entry for a postgres:// URL (also the target of `migrate_to_postgres --to`)."""
    parts = urlsplit(url)
    options = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


def sqlite_path(url: str, default: str) -> str:
    """The file of a file: or sqlite:/// DATABASE_URL (absolute, ~ expanded); `default` without one."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]  # sqlite:////abs/path or sqlite:///relative/path
    elif url.startswith("file:"):
        path = urlsplit(url).path
    elif url:
        raise ImproperlyConfigured(f"DATABASE_URL must start with file:, sqlite:/// or postgres://, not {url.split(':')[0]!r}.")
    else:
        path = default
    return str(Path(unquote(path)).expanduser().absolute())
