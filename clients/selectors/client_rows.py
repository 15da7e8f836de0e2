"""A client as the API answers with it: the one presenter of client rows, and the columns it
is built from. What leaves is these keys and no others (ClientOutput / ClientDetailOutput,
checked by clients/tests/test_client_rows.py): password_hash is in no list here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from clients import rules
from clients.legacy_time import as_text, as_utc

CLIENT_FIELDS = (
    "id", "name", "email", "company", "phone", "data_registo", "access_end_date", "is_active",
    "last_login_at", "created_by", "created_at", "updated_at",
)  # fmt: skip
TIME_FIELDS = ("data_registo", "access_end_date", "last_login_at", "created_at", "updated_at")
# Computed for each row, after the columns above (and `notes` for one client).
COMPUTED_FIELDS = ("days_remaining", "demo_count", "status")
DETAIL_FIELDS = ("notes",)
# demo_count as v_active_clients counts it, over `clients` (an alias replaces the table's name).
DEMO_COUNT_SQL = "(SELECT COUNT(*) FROM client_demo_access a WHERE a.client_id = clients.id)"


def demo_count_sql(alias: str = "clients") -> str:
    return DEMO_COUNT_SQL.replace("clients.id", f"{alias}.id")


def present_client(item: dict[str, Any], at: datetime, *, days_at: datetime | None = None) -> dict[str, Any]:
    """A row of CLIENT_FIELDS and demo_count (and notes, and days_remaining when the view gave
    it), as read from either backend or from a model, made the API's client: is_active a boolean,
    status and days_remaining as of `at` (days_remaining as of `days_at` when given), times as the
    legacy text. Changes and returns `item`."""
    end = as_utc(item["access_end_date"])
    item["is_active"] = bool(item["is_active"])
    item["status"] = rules.status(item["is_active"], end, at)
    if "days_remaining" not in item:
        item["days_remaining"] = rules.days_remaining(end, days_at or at)
    for field in TIME_FIELDS:
        item[field] = as_text(item[field])
    return item
