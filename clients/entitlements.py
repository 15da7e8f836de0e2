"""May this client open this demo now? The one answer behind POST /api/entitlements/check (programs)
and POST /api/me/demos/{slug}/open (a signed-in client), decided from the database at that moment.

One indexed read (the client by id or e-mail, the demo by slug and the access row, joined), and
with `record` and an OK one write transaction: access_count + 1 in the UPDATE itself (never
read, add, write back: concurrent opens each count), last_accessed_at, the demo.open audit row.
The read runs before the write transaction, not in it: the one write lock (SQLite's, the queue
of ltplabs/sqlite/write_queue.py) is held for the count alone, about two thirds of a create's
hold in-process (bench/README.md, "The check's hold of the write lock"). The UPDATE counts only while the
rules still allow the open (clients/rules.py's SQL: client active, demo enabled, access row
current); what changed since the read (a revoke, a deactivation, an expiry) leaves it counting
nothing, and the check decides again under the lock. Plain SQL on this path: the ORM's query
building was most of a check's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from ltplabs import metrics

from . import rules
from .audit import Actor, append, audit_row
from .legacy_time import as_utc, format_time, now
from .models import AuditLog, ClientDemoAccess

OK = "OK"
_LAST_ACCESSED = ClientDemoAccess._meta.get_field("last_accessed_at")
# Each refusal's sentence (the client route's 403 says it; the check answers the code).
REFUSALS = {
    "UNKNOWN_CLIENT": "No such client.",
    "UNKNOWN_DEMO": "No such demo.",
    "CLIENT_INACTIVE": "The client's account is deactivated.",
    "CLIENT_EXPIRED": "The client's access has ended.",
    "DEMO_DISABLED": "The demo is disabled.",
    "NO_ACCESS": "The client has no access to this demo.",
    "ACCESS_EXPIRED": "The client's access to this demo has ended.",
}

# The client (by its primary key, or its e-mail's unique index: NOCASE on SQLite, citext on
# PostgreSQL), the demo (its slug's unique index) and the access row (the (client, demo) unique
# index), in one statement: the check's only read.
_READ = (
    "SELECT c.id, c.is_active, c.access_end_date, d.id, d.is_active, a.id, a.expires_at FROM clients c "
    "LEFT JOIN demos d ON d.slug = %s LEFT JOIN client_demo_access a ON a.client_id = c.id AND a.demo_id = d.id "
    "WHERE c.{column} = %s"
)
# One open, counted only if the rules still allow it: `at` (the open's time) is each time's parameter.
_COUNT = (
    "UPDATE client_demo_access SET access_count = access_count + 1, last_accessed_at = %s "
    f"WHERE id = %s AND {rules.access_current_sql('client_demo_access')} "
    f"AND EXISTS (SELECT 1 FROM clients c WHERE c.id = client_demo_access.client_id AND {rules.active_sql('c')}) "
    "AND EXISTS (SELECT 1 FROM demos d WHERE d.id = client_demo_access.demo_id AND d.is_active)"
)


@dataclass(frozen=True)
class Entitlement:
    allowed: bool
    code: str
    demo: str
    client_id: int | None
    expires_at: str | None  # when this answer stops being OK: the access row's end, else the client's (the sooner)
    days_remaining: int | None

    def as_dict(self) -> dict:
        return dict(vars(self))  # asdict()'s answer for these plain fields, without its deep copy (5 µs of a check)


def check(*, actor: Actor, demo: str, client_id: int | None = None, email: str | None = None, record: bool = False) -> Entitlement:
    """The contract's code for (client, demo); with `record` and OK, the open is counted and audited."""
    answer, access_id = _decide(demo, client_id, email)
    if record and answer.allowed:
        opened = _open_row(actor, answer, access_id)  # built before the write lock (audit_row)
        with transaction.atomic():
            if not _count(opened, access_id):
                # Changed since the read: decided again, under the write lock on SQLite.
                answer, access_id = _decide(demo, client_id, email)
                if answer.allowed and not _count(_open_row(actor, answer, access_id), access_id):
                    answer = _refused(answer, "NO_ACCESS")  # changed once more meanwhile (PostgreSQL)
    metrics.entitlement_checked(answer.code)
    return answer


def _decide(slug: str, client_id: int | None, email: str | None) -> tuple[Entitlement, int | None]:
    at = now()
    with connection.cursor() as cursor:
        cursor.execute(
            _READ.format(column="id" if client_id is not None else "email"), [slug, client_id if client_id is not None else email]
        )
        row = cursor.fetchone()
    if row is None:
        return Entitlement(False, "UNKNOWN_CLIENT", slug, client_id, None, None), None
    found_id, client_active, client_end = row[0], bool(row[1]), as_utc(row[2])
    demo_id, demo_active, access_id, access_end = row[3], bool(row[4]), row[5], as_utc(row[6])
    ends = [end for end in (client_end, access_end) if end is not None]
    end = min(ends) if ends else None
    if demo_id is None:
        return _answer("UNKNOWN_DEMO", slug, found_id, client_end, at), None
    status = rules.status(client_active, client_end, at)
    if status == rules.INACTIVE:
        code = "CLIENT_INACTIVE"
    elif status == rules.EXPIRED:
        code = "CLIENT_EXPIRED"
    elif not demo_active:
        code = "DEMO_DISABLED"
    elif access_id is None:
        code = "NO_ACCESS"
    elif not rules.access_current(access_end, at):
        code = "ACCESS_EXPIRED"
    else:
        code = OK
    return _answer(code, slug, found_id, end, at), access_id


def _answer(code: str, slug: str, client_id: int, end: datetime | None, at: datetime) -> Entitlement:
    return Entitlement(code == OK, code, slug, client_id, format_time(end), rules.days_remaining(end, at))


def _refused(answer: Entitlement, code: str) -> Entitlement:
    return Entitlement(False, code, answer.demo, answer.client_id, answer.expires_at, answer.days_remaining)


def _open_row(actor: Actor, answer: Entitlement, access_id: int) -> AuditLog:
    """The demo.open audit row of one open of `access_id`."""
    details = {"demo": answer.demo, "access_id": access_id}
    return audit_row(actor=actor, action="demo.open", entity_type="client", entity_id=answer.client_id, details=details)


def _count(opened: AuditLog, access_id: int) -> bool:
    """One open, if the rules still allow it: access_count + 1, last_accessed_at, the audit row
    `opened` (inside check's transaction). False, and nothing written, when they no longer do."""
    at = _LAST_ACCESSED.get_db_prep_save(now(), connection)  # the legacy text on SQLite
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [at, access_id, at, at])
        if not cursor.rowcount:
            return False
    append(opened)
    return True
