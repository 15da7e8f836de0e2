"""The rules of a client's record that the models, selectors, serializers, admin forms, services
and the hand-written SQL all read: the active / expired / inactive status, whether an access row
is still current, days_remaining, and the field limits.

The source of truth for status and days_remaining is the view v_active_clients of
database/schema.sql (and schema.postgres.sql); each rule is written here once in Python and
once as the SQL fragment built beside it, and clients/tests/test_rules.py checks both against
the view on the same rows.
"""

import hashlib
import math
from datetime import datetime, timedelta

from django.db.models import Q

# --- field limits (the API's serializers, the admin's forms and the services) -------------
NAME_MAX_CHARS = 200
EMAIL_MAX_CHARS = 254
COMPANY_MAX_CHARS = 200
PHONE_MAX_CHARS = 50
NOTES_MAX_CHARS = 10000
TEXT_MAX_CHARS = {"name": NAME_MAX_CHARS, "company": COMPANY_MAX_CHARS, "phone": PHONE_MAX_CHARS, "notes": NOTES_MAX_CHARS}
ACCESS_DAYS_DEFAULT = 30
ACCESS_DAYS_MAX = 3650
# An end of access is at most ACCESS_DAYS_MAX days ahead, however it is set (a create's
# access_days, an extend, an access_end_date given outright): the services and the admin's forms.
END_TOO_LATE = f"Must be at most {ACCESS_DAYS_MAX} days from now."
DEMO_INACTIVE = "This demo is disabled: it cannot be granted."


def latest_end(at: datetime) -> datetime:
    """The latest end of access allowed at `at`."""
    return at + timedelta(days=ACCESS_DAYS_MAX)


# --- status ------------------------------------------------------------------------------
ACTIVE, EXPIRED, INACTIVE = STATUSES = ("active", "expired", "inactive")


def status(is_active: bool, access_end_date: datetime | None, at: datetime) -> str:
    """As v_active_clients decides: active while is_active and the end (if any) is after `at`."""
    if not is_active:
        return INACTIVE
    if access_end_date is not None and access_end_date <= at:
        return EXPIRED
    return ACTIVE


def status_q(name: str, at: datetime) -> Q:
    """The same rule as an ORM filter, for ClientQuerySet."""
    if name == ACTIVE:
        return Q(is_active=True) & (Q(access_end_date__isnull=True) | Q(access_end_date__gt=at))
    if name == EXPIRED:
        return Q(is_active=True, access_end_date__lte=at)
    return Q(is_active=False)


def active_sql(alias: str) -> str:
    """The same rule as a WHERE clause over `clients AS alias`, `at` its one parameter.

    `is_active` is tested bare, not `= 1`: that reads PostgreSQL's boolean and SQLite's 0/1
    alike, and it keeps SQLite from choosing idx_clients_active_end for the active page, which
    would bring back its sort (clients/tests/test_query_plans.py checks the plan)."""
    return f"{alias}.is_active AND ({alias}.access_end_date IS NULL OR {alias}.access_end_date > %s)"


# --- a demo access row ----------------------------------------------------------------------
# An access row (client_demo_access) lets its client open its demo while it has no end of its
# own (expires_at NULL: it follows the client's) or its end is after `at`.


def access_current(expires_at: datetime | None, at: datetime) -> bool:
    return expires_at is None or expires_at > at


def access_current_q(at: datetime) -> Q:
    """The same rule as an ORM filter over ClientDemoAccess."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=at)


def access_current_sql(alias: str) -> str:
    """The same rule as a WHERE clause over `client_demo_access AS alias`, `at` its one parameter."""
    return f"({alias}.expires_at IS NULL OR {alias}.expires_at > %s)"


# --- days_remaining ------------------------------------------------------------------------


def days_remaining(end: datetime | None, at: datetime) -> int | None:
    """As v_active_clients computes it: whole days from `at` to the end, truncated toward zero."""
    if end is None:
        return None
    return math.trunc((end - at).total_seconds() / 86400)


def days_remaining_sqlite(column: str) -> str:
    """The same on SQLite, as the view writes it, `at` its one parameter."""
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE CAST(julianday({column}) - julianday(%s) AS INTEGER) END"


# --- a client's version (ETag) -----------------------------------------------------------
# The fields a write can change (the API's, the admin's, a password), as values: two edits
# within one second still give two versions. Not last_login_at, nor updated_at (the database's
# trigger moves it on every UPDATE, a sign-in's too): a sign-in is not an edit, and an ETag that
# moved with each one would refuse edits for nothing.
ETAG_FIELDS = ("id", "name", "email", "company", "phone", "notes", "is_active", "access_end_date", "password_hash")


def client_etag(client) -> str:
    """The strong ETag of a client's row as GET /api/clients/{id} sends it (quoted)."""
    text = "\x1f".join("" if value is None else str(value) for value in (getattr(client, field) for field in ETAG_FIELDS))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """An If-Match / If-None-Match value against the current ETag: `*`, or a list that holds it
    (a weak `W/` form compares equal: a proxy that compressed the answer may have weakened it)."""
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


# --- who may deactivate and reactivate -----------------------------------------------------
# DELETE /api/clients/{id} deactivates; so does PATCH {"is_active": false} and the admin's
# action. One rule for all of them: changing is_active either way needs delete_client on top of
# change_client, so a `change`-only viewer cannot do with PATCH what DELETE refuses it.
ACTIVATION_PERMISSION = "clients.delete_client"


def permissions_for_changes(fields) -> tuple[str, ...]:
    """The permissions a change of these client fields needs."""
    return ("clients.change_client", ACTIVATION_PERMISSION) if "is_active" in fields else ("clients.change_client",)
