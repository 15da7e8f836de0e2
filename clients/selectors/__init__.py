"""Reads that the API and the admin share."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from clients import rules
from clients.legacy_time import format_time, now
from clients.models import ActiveClient, AuditLog, Client, ClientDemoAccess

from .active_page import JSONRow, active_page_rows
from .client_rows import CLIENT_FIELDS, DEMO_COUNT_SQL, DETAIL_FIELDS, present_client

CLIENT_STATUSES = (*rules.STATUSES, "all")


def encode_cursor(row: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{row['created_at']}|{row['id']}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, client_id = raw.split("|")
        when = parse_datetime(created_at)
        if when is None:
            raise ValueError
        return when.replace(tzinfo=now().tzinfo), int(client_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError({"cursor": ["Not a cursor this API gave out."]}) from None


def client_queryset(*, status: str = "active", search: str | None = None, company: str | None = None) -> QuerySet:
    """Clients in the view's columns, newest created_at first (ties: newest id first)."""
    if status == "active":
        queryset = ActiveClient.objects.all()
    else:
        queryset = getattr(Client.objects, status)() if status != "all" else Client.objects.all()
        queryset = queryset.annotate(demo_count=RawSQL(DEMO_COUNT_SQL, ()))
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(email__icontains=search) | Q(company__icontains=search))
    if company:
        queryset = queryset.filter(company=company)
    return queryset.order_by("-created_at", "-id")


def client_page(
    *,
    status: str = "active",
    search: str | None = None,
    company: str | None = None,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]] | orjson.Fragment, dict[str, Any]]:
    """One page of clients and its pagination block; no COUNT of the whole list. The default
    list on SQLite comes as one JSON array already written (orjson.Fragment), others as dicts."""
    after = decode_cursor(cursor) if cursor else None
    if after is not None:
        offset = 0
    if status == "active" and not search and not company:
        data = active_page_rows(limit=limit + 1, offset=offset, after=after)
    else:
        queryset = client_queryset(status=status, search=search, company=company)
        if after is not None:
            created_at, client_id = after
            queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=client_id))
        fields = CLIENT_FIELDS + ("days_remaining", "demo_count") if status == "active" else CLIENT_FIELDS + ("demo_count",)
        at = now()
        data = [present_client(row, at) for row in queryset.values(*fields)[offset : offset + limit + 1]]
    has_more = len(data) > limit
    data = data[:limit]
    pagination = {
        "limit": limit,
        "offset": offset,
        "count": len(data),
        "has_more": has_more,
        "next_offset": offset + limit if has_more and not cursor else None,
        "next_cursor": encode_cursor(data[-1]._asdict() if isinstance(data[-1], JSONRow) else data[-1]) if has_more else None,
    }
    if data and isinstance(data[0], JSONRow):
        # The rows are JSON already: the response splices them in without parsing them again.
        data = orjson.Fragment("[" + ",".join(row.json for row in data) + "]")
    return data, pagination


CLIENT_DETAIL_COLUMNS = CLIENT_FIELDS + DETAIL_FIELDS + ("demo_count",)
CLIENT_DETAIL_SQL = f"SELECT {', '.join(CLIENT_DETAIL_COLUMNS[:-1])}, {DEMO_COUNT_SQL} FROM clients WHERE id = %s"


def client_detail(client_id: int) -> dict[str, Any] | None:
    # One plain query, read as raw rows: every update answers with this, so the ORM's query
    # building and per-field converters were a fifth of a request.
    if not -(2**63) <= client_id < 2**63:
        return None  # no such row, and more than SQLite's INTEGER can be asked for
    with connection.cursor() as cursor:
        cursor.execute(CLIENT_DETAIL_SQL, [client_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return present_client(dict(zip(CLIENT_DETAIL_COLUMNS, row, strict=True)), now())


def created_client_detail(client: Client, *, demo_count: int) -> dict[str, Any]:
    """client_detail() of a client that services.client_create() has just written, from the values
    it wrote: the INSERT sets every column (no default, and clients has no insert trigger), so
    reading the row back would give these; `demo_count` is the number of demo access rows written
    with it. Saves POST /api/clients a query."""
    item = {name: getattr(client, name) for name in CLIENT_FIELDS + DETAIL_FIELDS}
    return present_client({**item, "demo_count": demo_count}, now())


def client_demo_rows(client_id: int) -> list[dict[str, Any]]:
    rows = ClientDemoAccess.objects.filter(client_id=client_id).select_related("demo").order_by("demo__slug")
    return [
        {
            "demo": access.demo.slug,
            "name": access.demo.name,
            "url": access.demo.url,
            "granted_at": format_time(access.granted_at),
            "expires_at": format_time(access.expires_at),
            "granted_by": access.granted_by,
            "access_count": access.access_count,
            "last_accessed_at": format_time(access.last_accessed_at),
        }
        for access in rows
    ]


def client_open_demos(client: Client) -> list[str]:
    """Slugs of the active demos a client may open now (its own expiry, or the client's)."""
    at = now()
    return list(
        ClientDemoAccess.objects.filter(client=client, demo__is_active=True)
        .filter(rules.access_current_q(at))
        .order_by("demo__slug")
        .values_list("demo__slug", flat=True)
    )


AUDIT_OFFSET_MAX = 10_000


def encode_audit_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(str(entry_id).encode()).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValidationError({"cursor": ["Not a cursor this API gave out."]}) from None


def audit_queryset(**filters: Any) -> QuerySet:
    """Audit entries, newest first: by id, descending.

    id order is the order the rows were written, which is created_at order: the log is
    append-only (its triggers refuse UPDATE and DELETE) and each row's created_at is the time of
    its INSERT, under SQLite's one write lock. Keyset paging needs an index that yields the
    order; the legacy schema has none on (created_at, id) and we may not add one, but the primary
    key yields id order, and idx_audit_entity (entity_type, entity_id) holds each entity's rows in
    id order too (SQLite keeps the rowid in every index entry; PostgreSQL's planner does the same
    walking the primary key). So a page is LIMIT n after `id < cursor`, at any depth."""
    queryset = AuditLog.objects.all()
    if filters.get("entity_type") is not None:
        queryset = audit_entity_type_filter(queryset, filters["entity_type"], with_entity_id=filters.get("entity_id") is not None)
    for field in ("entity_id", "action", "actor_id", "actor_type"):
        if filters.get(field) is not None:
            queryset = queryset.filter(**{field: filters[field]})
    if filters.get("since") is not None:
        queryset = queryset.filter(created_at__gte=filters["since"])
    if filters.get("until") is not None:
        queryset = queryset.filter(created_at__lte=filters["until"])
    return queryset.order_by("-id")


def audit_entity_type_filter(queryset: QuerySet, entity_type: str, *, with_entity_id: bool) -> QuerySet:
    """Audit entries of one entity type, in a way that keeps the page in id order on an index."""
    if with_entity_id or connection.vendor != "sqlite":
        return queryset.filter(entity_type=entity_type)
    # entity_type alone: idx_audit_entity is in (entity_id, id) order under it, and SQLite, which
    # prefers it without statistics, sorted every matching row for each page (1.6 s on 2,000,000
    # rows). The unary + keeps it on the primary key, walked backwards: a page costs the rows it
    # passes over, not the table's size (clients/tests/test_query_plans.py checks the plan).
    return queryset.extra(where=["+entity_type = %s"], params=[entity_type])


def audit_page(*, limit: int, offset: int = 0, cursor: str | None = None, **filters: Any) -> tuple[list[AuditLog], dict[str, Any]]:
    """One page of audit entries and its pagination block; after a cursor, offset is not used."""
    queryset = audit_queryset(**filters)
    if cursor:
        queryset, offset = queryset.filter(id__lt=decode_audit_cursor(cursor)), 0
    rows = list(queryset[offset : offset + limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_offset = offset + limit if has_more and not cursor and offset + limit <= AUDIT_OFFSET_MAX else None
    pagination = {"limit": limit, "offset": offset, "count": len(rows), "has_more": has_more, "next_offset": next_offset,
                  "next_cursor": encode_audit_cursor(rows[-1].id) if has_more else None}  # fmt: skip
    return rows, pagination


def latest_audit_id(entity_type: str, entity_id: int) -> int | None:
    """The newest audit entry of one entity (idx_audit_entity: its rows are in id order there)."""
    return AuditLog.objects.filter(entity_type=entity_type, entity_id=entity_id).order_by("-id").values_list("id", flat=True).first()


def client_changes_since(client_id: int, after_id: int, limit: int = 10) -> list[str]:
    """One line per change of a client after audit entry `after_id`, oldest first: who, when, what
    ("staff alice at 2026-12-01 11:30:02: client.update (name, notes)")."""
    from django.contrib.auth import get_user_model

    entries = list(AuditLog.objects.filter(entity_type="client", entity_id=client_id, id__gt=after_id).order_by("id")[:limit])
    staff_ids = {entry.actor_id for entry in entries if entry.actor_type == "staff" and entry.actor_id is not None}
    names = dict(get_user_model().objects.filter(pk__in=staff_ids).values_list("pk", "username")) if staff_ids else {}
    lines = []
    for entry in entries:
        who = names.get(entry.actor_id) if entry.actor_type == "staff" else None
        who = f"staff {who}" if who else entry.actor_type if entry.actor_id is None else f"{entry.actor_type} {entry.actor_id}"
        details = entry.details if isinstance(entry.details, dict) else {}
        fields = sorted((details.get("after") or {}).keys()) or details.get("fields") or []
        what = f"{entry.action} ({', '.join(fields)})" if fields else entry.action
        lines.append(f"{who} at {format_time(entry.created_at)}: {what}")
    return lines
