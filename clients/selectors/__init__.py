"""Reads that the API and the admin share."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clients.models import ActiveClient, AuditLog, Client, ClientDemoAccess, now
from clients.services import days_remaining

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


# The default list (active clients, no search or company) is the API's hot path. Selecting
# from v_active_clients ... ORDER BY created_at DESC makes SQLite compute the view for every
# active client and sort them all (USE TEMP B-TREE FOR ORDER BY) before it returns one row, so a
# page costs as much as the whole table. This query reads `clients` instead, walking
# idx_clients_created_at newest-first and stopping after limit + 1 rows; joining the view back on
# the page's ids would double its cost. So it repeats the view here, in this one place: its WHERE,
# its columns and demo_count; days_remaining is computed as the view does (services.days_remaining).
# Keep it in step with v_active_clients in database/schema.sql and schema.postgres.sql: the schema
# check refuses a file whose view differs from those, and tests/test_query_plans.py compares pages
# and columns with the view's. `c.is_active` is tested bare, not `= 1`: that reads PostgreSQL's
# boolean and SQLite's 0/1 alike, and it keeps SQLite from choosing idx_clients_active_end, which
# would bring the sort back (the test checks the plan).
ACTIVE_PAGE_SQL = """
SELECT {columns}
FROM clients AS c
WHERE c.is_active AND (c.access_end_date IS NULL OR c.access_end_date > %s){after}
ORDER BY c.created_at DESC, c.id DESC
LIMIT %s OFFSET %s
"""
ACTIVE_PAGE_COLUMNS = CLIENT_FIELDS + ("demo_count",)
PAGE_DEMO_COUNT_SQL = DEMO_COUNT_SQL.replace("clients.id", "c.id")
ACTIVE_PAGE_ROW = ", ".join(f"c.{field}" for field in CLIENT_FIELDS) + f", {PAGE_DEMO_COUNT_SQL} AS demo_count"
TIME_FIELDS = ("data_registo", "access_end_date", "last_login_at", "created_at", "updated_at")


def _json_time(column: str) -> str:
    # Stored times are already the API's text; anything else SQLite can read is normalised.
    return f"CASE WHEN length({column}) = 19 THEN {column} ELSE strftime('%%Y-%%m-%%d %%H:%%M:%%S', {column}) END"


# On SQLite the page is written as JSON by SQLite itself (json_object, in C), one text per row:
# building a dict per row in Python was half the time of a page of 1000. days_remaining is the
# view's own expression, with the same `now` as the WHERE clause.
ACTIVE_PAGE_JSON = (
    "json_object("
    + ", ".join(
        f"'{name}', {_json_time('c.' + name) if name in TIME_FIELDS else 'c.' + name}" for name in CLIENT_FIELDS if name != "is_active"
    )
    + ", 'is_active', json('true')"
    + ", 'days_remaining', CASE WHEN c.access_end_date IS NULL THEN NULL"
    " ELSE CAST(julianday(c.access_end_date) - julianday(%s) AS INTEGER) END"
    + f", 'demo_count', {PAGE_DEMO_COUNT_SQL}, 'status', 'active'), c.created_at, c.id"
)
# A cursor page starts after (created_at, id): the first term bounds the index walk.
AFTER_CURSOR_SQL = " AND c.created_at <= %s AND (c.created_at < %s OR c.id < %s)"


def active_page_query(
    *, limit: int, offset: int = 0, after: tuple[datetime, int] | None = None, as_json: bool = False
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of v_active_clients, newest first (see ACTIVE_PAGE_SQL).

    as_json (SQLite only): each row is (the client as a JSON object, created_at, id)."""
    adapt = connection.ops.adapt_datetimefield_value
    # As the view: whole seconds in the WHERE clause (datetime('now')), the exact time in
    # days_remaining (julianday('now')).
    params: list[Any] = [adapt(timezone.now()), adapt(now())] if as_json else [adapt(now())]
    if after is not None:
        created_at, client_id = after
        params += [adapt(created_at), adapt(created_at), client_id]
    params += [limit, offset]
    columns = ACTIVE_PAGE_JSON if as_json else ACTIVE_PAGE_ROW
    return ACTIVE_PAGE_SQL.format(columns=columns, after=AFTER_CURSOR_SQL if after is not None else ""), params


class JSONRow(NamedTuple):
    json: str
    created_at: str
    id: int


def _time_text(value) -> str | None:
    # SQLite keeps times as 'YYYY-MM-DD HH:MM:SS' text, the API's own format: passed through.
    if value is None or (type(value) is str and len(value) == 19 and value[10] == " "):
        return value
    return fmt_time(parse_datetime(value) if isinstance(value, str) else value)


def _as_utc(value) -> datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _active_page(*, limit: int, offset: int, after: tuple[datetime, int] | None) -> list:
    """Up to `limit` rows of the active list: on SQLite (created_at, id, the row as JSON text),
    elsewhere the row as a dict."""
    as_json = connection.vendor == "sqlite"
    sql, params = active_page_query(limit=limit, offset=offset, after=after, as_json=as_json)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if as_json:
        return [JSONRow(*row) for row in rows]
    at = timezone.now()
    data = []
    for row in rows:
        item = dict(zip(ACTIVE_PAGE_COLUMNS, row, strict=True))
        end = item["access_end_date"]
        item["days_remaining"] = None if end is None else days_remaining(_as_utc(end), at)
        item["is_active"] = bool(item["is_active"])
        for field in TIME_FIELDS:
            item[field] = _time_text(item[field])
        item["status"] = "active"  # every row of the view is, by its definition
        data.append(item)
    return data


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
        data = _active_page(limit=limit + 1, offset=offset, after=after)
    else:
        queryset = client_queryset(status=status, search=search, company=company)
        if after is not None:
            created_at, client_id = after
            queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=client_id))
        fields = CLIENT_FIELDS + ("days_remaining", "demo_count") if status == "active" else CLIENT_FIELDS + ("demo_count",)
        at = now()
        data = [_present(row, at) for row in queryset.values(*fields)[offset : offset + limit + 1]]
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


CLIENT_DETAIL_COLUMNS = CLIENT_FIELDS + ("notes", "demo_count")
CLIENT_DETAIL_SQL = f"SELECT {', '.join(CLIENT_FIELDS)}, notes, {DEMO_COUNT_SQL} FROM clients WHERE id = %s"


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
    return _detail(dict(zip(CLIENT_DETAIL_COLUMNS, row, strict=True)))


def created_client_detail(client: Client) -> dict[str, Any]:
    """client_detail() of a client that services.client_create() has just written, from the values
    it wrote: the INSERT sets every column (no default, and clients has no insert trigger), so
    reading the row back would give these. `client.demo_count` is the service's count of the
    demo access rows it wrote. Saves POST /api/clients a query."""
    return _detail({**{name: getattr(client, name) for name in CLIENT_FIELDS}, "notes": client.notes, "demo_count": client.demo_count})


def _detail(item: dict[str, Any]) -> dict[str, Any]:
    at, end = now(), _as_utc(item["access_end_date"])
    item["is_active"] = bool(item["is_active"])
    item["status"] = client_status({"is_active": item["is_active"], "access_end_date": end}, at)
    item["days_remaining"] = days_remaining(end, at)
    for field in TIME_FIELDS:
        item[field] = _time_text(item[field])
    return item


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
