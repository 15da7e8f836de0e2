"""May this client open this demo now? The one answer behind POST /api/entitlements/check (programs)
and POST /api/me/demos/{slug}/open (a signed-in client), decided from the database at that moment.

Two indexed reads (the client by id or e-mail; the demo by slug with the client's access row
joined), and with `record` one write transaction: access_count + 1 in the UPDATE itself (never
read, add, write back: concurrent opens each count), last_accessed_at, the demo.open audit row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from ltplabs import metrics

from . import rules
from .audit import Actor, audit
from .legacy_time import as_utc, format_time, now
from .models import Client, ClientDemoAccess

OK = "OK"
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

_DEMO_AND_ACCESS = (
    "SELECT d.id, d.is_active, a.id, a.expires_at FROM demos d "
    "LEFT JOIN client_demo_access a ON a.demo_id = d.id AND a.client_id = %s WHERE d.slug = %s"
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
        return asdict(self)


def check(*, actor: Actor, demo: str, client_id: int | None = None, email: str | None = None, record: bool = False) -> Entitlement:
    """The contract's code for (client, demo); with `record` and OK, the open is counted and audited."""
    if record:
        with transaction.atomic():  # SQLite: the write lock first, so nothing changes between the reads and the count
            answer, access_id = _decide(demo, client_id, email)
            if answer.allowed and not _count(actor, answer, access_id):
                answer = _refused(answer, "NO_ACCESS")  # revoked between the read and the UPDATE (PostgreSQL)
    else:
        answer, _ = _decide(demo, client_id, email)
    metrics.entitlement_checked(answer.code)
    return answer


def _decide(slug: str, client_id: int | None, email: str | None) -> tuple[Entitlement, int | None]:
    at = now()
    clients = Client.objects.filter(pk=client_id) if client_id is not None else Client.objects.by_email(email or "")
    client = clients.values("id", "is_active", "access_end_date").first()
    if client is None:
        return Entitlement(False, "UNKNOWN_CLIENT", slug, client_id, None, None), None
    with connection.cursor() as cursor:
        cursor.execute(_DEMO_AND_ACCESS, [client["id"], slug])
        row = cursor.fetchone()
    client_end = as_utc(client["access_end_date"])
    if row is None:
        return _answer("UNKNOWN_DEMO", slug, client["id"], client_end, at), None
    demo_active, access_id, access_end = bool(row[1]), row[2], as_utc(row[3])
    ends = [end for end in (client_end, access_end) if end is not None]
    end = min(ends) if ends else None
    status = rules.status(bool(client["is_active"]), client_end, at)
    if status == rules.INACTIVE:
        code = "CLIENT_INACTIVE"
    elif status == rules.EXPIRED:
        code = "CLIENT_EXPIRED"
    elif not demo_active:
        code = "DEMO_DISABLED"
    elif access_id is None:
        code = "NO_ACCESS"
    elif access_end is not None and access_end <= at:
        code = "ACCESS_EXPIRED"
    else:
        code = OK
    return _answer(code, slug, client["id"], end, at), access_id


def _answer(code: str, slug: str, client_id: int, end: datetime | None, at: datetime) -> Entitlement:
    return Entitlement(code == OK, code, slug, client_id, format_time(end), rules.days_remaining(end, at))


def _refused(answer: Entitlement, code: str) -> Entitlement:
    return Entitlement(False, code, answer.demo, answer.client_id, answer.expires_at, answer.days_remaining)


def _count(actor: Actor, answer: Entitlement, access_id: int) -> bool:
    """One open: access_count + 1, last_accessed_at, the audit row (inside check's transaction)."""
    at = now()
    if not ClientDemoAccess.objects.filter(pk=access_id).update(access_count=F("access_count") + 1, last_accessed_at=at):
        return False
    audit(actor=actor, action="demo.open", entity_type="client", entity_id=answer.client_id,
          details={"demo": answer.demo, "access_id": access_id})  # fmt: skip
    return True
