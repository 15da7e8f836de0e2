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


# Values that are public because this repository prints them (the development defaults in
# settings.py, the compose file, the k8s examples, the README and docs): never a key outside
# development. The markers catch their variants ("…-replace-me-2"); tests/test_keys.py checks
# that every key-like value in those files is refused.
EXAMPLE_KEY_MARKERS = ("not-a-real", "replace-me", "do-not-deploy", "dev-only", "build-only", "example", "changeme", "change-me")


def secret(name: str, dev_default: str, *, debug: bool, min_length: int = 0, unit: str = "characters", required: bool = True) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (a mounted Kubernetes Secret).

    Outside development, with a min_length, a shorter value (characters, or bytes in UTF-8) or a
    known example value stops start-up with a sentence naming NAME; so does a missing one, when
    required. The development default applies only with debug."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not value and path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE names {path}, which cannot be read: {exc.strerror}.") from exc
    if value:
        if min_length and not debug:
            refuse_weak(name, value, min_length, unit)
        return value
    if debug or not required:
        return dev_default if debug else ""
    raise ImproperlyConfigured(not_set(name))


def not_set(name: str, alternative: str = "") -> str:
    """The sentence that refuses a start without the secret `name` (or `alternative`)."""
    either = f" or {alternative}" if alternative else ""
    return (
        f"{name}{either} is not set: the gateway refuses to start outside development without it "
        f"(set {name}, {name}_FILE{either}, or DJANGO_DEBUG=1 for a development run)."
    )


def refuse_weak(name: str, value: str, min_length: int, unit: str) -> None:
    length = len(value.encode()) if unit == "bytes" else len(value)
    if length < min_length:
        raise ImproperlyConfigured(
            f"{name} is {length} {unit} long: outside development it must be at least {min_length} "
            f"(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    folded = value.lower()
    if any(marker in folded for marker in EXAMPLE_KEY_MARKERS):
        raise ImproperlyConfigured(
            f"{name} is an example value printed in this repository or its docs: anyone can read it. "
            f"Set a key of your own (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(64))')."
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
