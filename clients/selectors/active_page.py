"""The default list (active clients, no search or company): the API's hot path, in one module.

Selecting from v_active_clients ... ORDER BY created_at DESC makes SQLite compute the view for
every active client and sort them all (USE TEMP B-TREE FOR ORDER BY) before it returns one row,
so a page costs as much as the whole table. This query reads `clients` instead, walking
idx_clients_created_at newest-first and stopping after limit + 1 rows; joining the view back on
the page's ids would double its cost. So it repeats the view here, in this one place: its WHERE
(rules.active_sql), its columns (client_rows.CLIENT_FIELDS) and demo_count, and days_remaining
as the view computes it (rules.days_remaining_sqlite, rules.days_remaining). Keep it in step with
v_active_clients in database/schema.sql and schema.postgres.sql: the schema check refuses a file
whose view differs from those, and clients/tests/test_query_plans.py checks the plan and compares
pages and columns with the view's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from clients import rules
from clients.legacy_time import now, sqlite_text

from .client_rows import CLIENT_FIELDS, TIME_FIELDS, demo_count_sql, present_client

ACTIVE_PAGE_SQL = f"""
SELECT {{columns}}
FROM clients AS c
WHERE {rules.active_sql("c")}{{after}}
ORDER BY c.created_at DESC, c.id DESC
LIMIT %s OFFSET %s
"""
ACTIVE_PAGE_COLUMNS = CLIENT_FIELDS + ("demo_count",)
ACTIVE_PAGE_ROW = ", ".join(f"c.{field}" for field in CLIENT_FIELDS) + f", {demo_count_sql('c')} AS demo_count"

# On SQLite the page is written as JSON by SQLite itself (json_object, in C), one text per row:
# building a dict per row in Python was half the time of a page of 1000. The keys are the
# presenter's (client_rows), is_active and status are constants (every row of the view is
# active, by its WHERE), days_remaining is the view's own expression, with the same `now` as the
# WHERE clause.
JSON_VALUES = {
    **{name: sqlite_text(f"c.{name}") if name in TIME_FIELDS else f"c.{name}" for name in CLIENT_FIELDS if name != "is_active"},
    "is_active": "json('true')",
    "days_remaining": rules.days_remaining_sqlite("c.access_end_date"),
    "demo_count": demo_count_sql("c"),
    "status": f"'{rules.ACTIVE}'",
}
ACTIVE_PAGE_JSON = "json_object(" + ", ".join(f"'{name}', {value}" for name, value in JSON_VALUES.items()) + "), c.created_at, c.id"
# A cursor page starts after (created_at, id): the first term bounds the index walk.
AFTER_CURSOR_SQL = " AND c.created_at <= %s AND (c.created_at < %s OR c.id < %s)"


def active_page_query(
    *, limit: int, offset: int = 0, after: tuple[datetime, int] | None = None, as_json: bool = False, at: datetime | None = None
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of v_active_clients, newest first (see ACTIVE_PAGE_SQL).

    as_json (SQLite only): each row is (the client as a JSON object, created_at, id)."""
    adapt = connection.ops.adapt_datetimefield_value
    at = at or now()
    # As the view: whole seconds in the WHERE clause (datetime('now')), the exact time in
    # days_remaining (julianday('now')).
    params: list[Any] = [adapt(timezone.now()), adapt(at)] if as_json else [adapt(at)]
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


def active_page_rows(*, limit: int, offset: int, after: tuple[datetime, int] | None) -> list:
    """Up to `limit` rows of the active list: on SQLite (the row as JSON text, created_at, id),
    elsewhere the row as the presenter's dict."""
    as_json = connection.vendor == "sqlite"
    at = now()
    sql, params = active_page_query(limit=limit, offset=offset, after=after, as_json=as_json, at=at)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if as_json:
        return [JSONRow(*row) for row in rows]
    days_at = timezone.now()  # as the view: the exact time in days_remaining
    return [present_client(dict(zip(ACTIVE_PAGE_COLUMNS, row, strict=True)), at, days_at=days_at) for row in rows]
