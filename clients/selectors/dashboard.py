"""What the admin's home page shows: the counts, who expires soon, sign-ins, demo opens and new
clients over time, and the latest audit entries with names. A handful of aggregate queries, each
on an index of the schema (idx_clients_active_end, idx_clients_created_at, idx_audit_created_at),
so the page stays cheap on 100,000 clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from clients import rules
from clients.legacy_time import format_time
from clients.models import AuditLog, Client, Demo

EXPIRING_WINDOWS = (7, 30)
SOONEST_LISTED = 20
CHART_DAYS = 30
CHART_MONTHS = 12
LATEST_AUDIT = 10


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def _param(at: datetime) -> Any:
    # SQLite keeps times as text in legacy_time's format, compared as text; PostgreSQL as timestamptz.
    return format_time(at) if connection.vendor == "sqlite" else at


def _prefix_sql(column: str, size: int) -> str:
    """A time's first `size` characters of 'YYYY-MM-DD HH:MM:SS': its day (10) or month (7)."""
    if connection.vendor == "sqlite":
        return f"substr({column}, 1, {size})"
    return f"substr(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 1, {size})"


def client_counts(at: datetime) -> dict[str, int]:
    """Clients active, expired and inactive (the rule of rules.status), and expiring in 7 / 30 days."""
    windows = {
        f"expiring_{days}": Count("id", filter=Q(is_active=True, access_end_date__gt=at, access_end_date__lte=at + timedelta(days=days)))
        for days in EXPIRING_WINDOWS
    }
    return Client.objects.aggregate(
        **{status: Count("id", filter=rules.status_q(status, at)) for status in rules.STATUSES},
        **windows,
    )


def expiring_soonest(at: datetime, *, days: int = EXPIRING_WINDOWS[-1], limit: int = SOONEST_LISTED) -> list[dict[str, Any]]:
    """Active clients whose access ends within `days`, the soonest first."""
    rows = (
        Client.objects.filter(is_active=True, access_end_date__gt=at, access_end_date__lte=at + timedelta(days=days))
        .order_by("access_end_date", "id")
        .values("id", "name", "email", "company", "access_end_date")[:limit]
    )
    return [{**row, "days_remaining": rules.days_remaining(row["access_end_date"], at)} for row in rows]


def _per_prefix(sql: str, params: list[Any]) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {prefix: count for prefix, count in cursor.fetchall()}


def sign_ins_per_day(at: datetime, *, days: int = CHART_DAYS) -> list[Bar]:
    """client.login audit rows per UTC day, the last `days` days (today included), zeros kept."""
    first = (at - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0)
    day = _prefix_sql("created_at", 10)
    counts = _per_prefix(
        f"SELECT {day}, COUNT(*) FROM audit_log WHERE created_at >= %s AND action = 'client.login' GROUP BY 1",
        [_param(first)],
    )
    labels = [(first + timedelta(days=offset)).strftime("%Y-%m-%d") for offset in range(days)]
    return [Bar(label, counts.get(label, 0)) for label in labels]


def demo_opens_per_demo(at: datetime, *, days: int = CHART_DAYS) -> list[Bar]:
    """demo.open audit rows of the last `days` days per demo (its slug in details), every demo listed."""
    demo_sql = "json_extract(details, '$.demo')" if connection.vendor == "sqlite" else "details->>'demo'"
    counts = _per_prefix(
        f"SELECT {demo_sql}, COUNT(*) FROM audit_log WHERE created_at >= %s AND action = 'demo.open' GROUP BY 1",
        [_param(at - timedelta(days=days))],
    )
    return [Bar(demo.name, counts.get(demo.slug, 0)) for demo in Demo.objects.order_by("name")]


def new_clients_per_month(at: datetime, *, months: int = CHART_MONTHS) -> list[Bar]:
    """Clients created per calendar month (UTC), the last `months` months, zeros kept."""
    year, month = at.year, at.month
    labels = []
    for _step in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    labels.reverse()
    first = datetime.fromisoformat(labels[0] + "-01").replace(tzinfo=at.tzinfo)
    month_sql = _prefix_sql("created_at", 7)
    counts = _per_prefix(f"SELECT {month_sql}, COUNT(*) FROM clients WHERE created_at >= %s GROUP BY 1", [_param(first)])
    return [Bar(label, counts.get(label, 0)) for label in labels]


def latest_audit(limit: int = LATEST_AUDIT) -> list[dict[str, Any]]:
    """The newest audit rows, each with its actor's and its client's name."""
    entries = list(AuditLog.objects.order_by("-created_at", "-id")[:limit])
    names = audit_names(entries)
    return [
        {"entry": entry, "actor": names.actor(entry), "entity": names.entity(entry), "client_id": names.client_id(entry)}
        for entry in entries
    ]


ACTOR_TYPE_NAMES = dict(AuditLog.ACTOR_TYPES)  # "system", said in the admin's language


class AuditNames:
    """Staff users and clients of some audit rows by name: two queries for any number of rows."""

    def __init__(self, staff: dict[int, str], clients: dict[int, str]):
        self.staff, self.clients = staff, clients

    def actor(self, entry: AuditLog) -> str:
        if entry.actor_id is None:
            return str(ACTOR_TYPE_NAMES.get(entry.actor_type, entry.actor_type))
        if entry.actor_type == "staff":
            return self.staff.get(entry.actor_id) or _("staff %(id)s") % {"id": entry.actor_id}
        if entry.actor_type == "client":
            return self.clients.get(entry.actor_id) or _("client %(id)s") % {"id": entry.actor_id}
        return f"{entry.actor_type} {entry.actor_id}"

    def client_id(self, entry: AuditLog) -> int | None:
        return entry.entity_id if entry.entity_type == "client" else None

    def entity(self, entry: AuditLog) -> str:
        if entry.entity_type == "client" and entry.entity_id is not None:
            return self.clients.get(entry.entity_id) or _("client %(id)s") % {"id": entry.entity_id}
        if entry.entity_type == "staff_user" and entry.entity_id is not None and entry.entity_id in self.staff:
            return self.staff[entry.entity_id]
        return f"{entry.entity_type} {entry.entity_id if entry.entity_id is not None else ''}".strip()


def audit_names(entries: list[AuditLog]) -> AuditNames:
    staff_ids = {entry.actor_id for entry in entries if entry.actor_type == "staff" and entry.actor_id is not None}
    staff_ids |= {entry.entity_id for entry in entries if entry.entity_type == "staff_user" and entry.entity_id is not None}
    client_ids = {entry.actor_id for entry in entries if entry.actor_type == "client" and entry.actor_id is not None}
    client_ids |= {entry.entity_id for entry in entries if entry.entity_type == "client" and entry.entity_id is not None}
    staff = dict(get_user_model().objects.filter(pk__in=staff_ids).values_list("pk", "username")) if staff_ids else {}
    clients = dict(Client.objects.filter(pk__in=client_ids).values_list("pk", "name")) if client_ids else {}
    return AuditNames(staff, clients)


def dashboard(at: datetime, *, with_audit: bool = True) -> dict[str, Any]:
    return {
        "counts": client_counts(at),
        "expiring": expiring_soonest(at),
        "sign_ins": sign_ins_per_day(at),
        "demo_opens": demo_opens_per_demo(at),
        "new_clients": new_clients_per_month(at),
        "latest_audit": latest_audit() if with_audit else [],
    }
