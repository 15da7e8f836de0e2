"""Reads that the API and the admin share."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from .models import ActiveClient, AuditLog, Client, ClientDemoAccess, now
from .services import days_remaining

CLIENT_FIELDS = (
    "id", "name", "email", "company", "phone", "data_registo", "access_end_date", "is_active",
    "last_login_at", "created_by", "created_at", "updated_at",
)  # fmt: skip
CLIENT_STATUSES = ("active", "expired", "inactive", "all")
DEMO_COUNT_SQL = "(SELECT COUNT(*) FROM client_demo_access a WHERE a.client_id = clients.id)"


def fmt_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def client_status(row: dict[str, Any], at: datetime) -> str:
    if not row["is_active"]:
        return "inactive"
    end = row["access_end_date"]
    return "expired" if end is not None and end <= at else "active"


def _present(row: dict[str, Any], at: datetime) -> dict[str, Any]:
    row["status"] = client_status(row, at)
    if "days_remaining" not in row:
        row["days_remaining"] = days_remaining(row["access_end_date"], at)
    for field in ("data_registo", "access_end_date", "last_login_at", "created_at", "updated_at"):
        row[field] = fmt_time(row[field])
    return row


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
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of clients and its pagination block; no COUNT of the whole list."""
    queryset = client_queryset(status=status, search=search, company=company)
    if cursor:
        created_at, client_id = decode_cursor(cursor)
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=client_id))
        offset = 0
    fields = CLIENT_FIELDS + ("days_remaining", "demo_count") if status == "active" else CLIENT_FIELDS + ("demo_count",)
    rows = list(queryset.values(*fields)[offset : offset + limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    at = now()
    data = [_present(row, at) for row in rows]
    pagination = {
        "limit": limit,
        "offset": offset,
        "count": len(data),
        "has_more": has_more,
        "next_offset": offset + limit if has_more and not cursor else None,
        "next_cursor": encode_cursor(data[-1]) if has_more else None,
    }
    return data, pagination


def client_detail(client_id: int) -> dict[str, Any] | None:
    row = (
        Client.objects.filter(pk=client_id)
        .annotate(demo_count=RawSQL(DEMO_COUNT_SQL, ()))
        .values(*CLIENT_FIELDS, "notes", "demo_count")
        .first()
    )
    return _present(row, now()) if row else None


def client_demo_rows(client_id: int) -> list[dict[str, Any]]:
    rows = ClientDemoAccess.objects.filter(client_id=client_id).select_related("demo").order_by("demo__slug")
    return [
        {
            "demo": access.demo.slug,
            "name": access.demo.name,
            "url": access.demo.url,
            "granted_at": fmt_time(access.granted_at),
            "expires_at": fmt_time(access.expires_at),
            "granted_by": access.granted_by,
            "access_count": access.access_count,
            "last_accessed_at": fmt_time(access.last_accessed_at),
        }
        for access in rows
    ]


def client_open_demos(client: Client) -> list[str]:
    """Slugs of the active demos a client may open now (its own expiry, or the client's)."""
    at = now()
    return list(
        ClientDemoAccess.objects.filter(client=client, demo__is_active=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by("demo__slug")
        .values_list("demo__slug", flat=True)
    )


def audit_queryset(**filters: Any) -> QuerySet:
    queryset = AuditLog.objects.all()
    for field in ("entity_type", "entity_id", "action", "actor_id", "actor_type"):
        if filters.get(field) is not None:
            queryset = queryset.filter(**{field: filters[field]})
    if filters.get("since") is not None:
        queryset = queryset.filter(created_at__gte=filters["since"])
    if filters.get("until") is not None:
        queryset = queryset.filter(created_at__lte=filters["until"])
    return queryset.order_by("-created_at", "-id")
