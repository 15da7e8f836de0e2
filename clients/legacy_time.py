"""Times as ltplabs.db keeps them: UTC text 'YYYY-MM-DD HH:MM:SS', no fraction, no offset.

Other programs (demo-service, analytics) read and compare these values as text, so every time
the gateway writes or answers with is in this one format (as djangoproject.com's
tracdb/tractime.py keeps Trac's). On PostgreSQL they are timestamps, shown in the same text.
"""

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

FORMAT = "%Y-%m-%d %H:%M:%S"
TEXT_LENGTH = 19  # len("2026-01-02 03:04:05")


def now() -> datetime:
    """The current UTC time at the database's one-second resolution."""
    return timezone.now().replace(microsecond=0)


def format_time(value: datetime | None) -> str | None:
    return value.strftime(FORMAT) if value is not None else None


def parse_time(text: str) -> datetime:
    """The aware UTC time of a text in FORMAT."""
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)


def as_text(value) -> str | None:
    """A time read from either backend as FORMAT text; SQLite's own text passes through as it is."""
    if value is None or (type(value) is str and len(value) == TEXT_LENGTH and value[10] == " "):
        return value
    return format_time(parse_datetime(value) if isinstance(value, str) else value)


def as_utc(value) -> datetime | None:
    """A time read from either backend (text on SQLite) as an aware UTC datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def sqlite_text(column: str) -> str:
    """SQL (SQLite) giving `column` as FORMAT text: stored times are that text already; anything
    else SQLite can read is normalised. '%' doubled for the DB-API's paramstyle."""
    return f"CASE WHEN length({column}) = {TEXT_LENGTH} THEN {column} ELSE strftime('{FORMAT.replace('%', '%%')}', {column}) END"
