"""The list's query: SQLite walks idx_clients_created_at without sorting, and every page of
GET /api/clients (offset or cursor, shallow or deep) holds exactly the ids of the same page of
v_active_clients, in the view's order."""

import random

import pytest
from django.db import connection

from clients import selectors
from clients.legacy_time import format_time
from clients.models import Client
from clients.sample import load_sample
from clients.selectors.active_page import active_page_query
from tests.fixtures import IS_POSTGRES

VIEW_ORDER = "ORDER BY created_at DESC, id DESC"


def view_ids(limit: int | None = None, offset: int = 0) -> list[int]:
    sql = f"SELECT id FROM v_active_clients {VIEW_ORDER}"
    params = []
    if limit is not None:
        sql += " LIMIT %s OFFSET %s"
        params = [limit, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def api_page(api, **query) -> tuple[list[int], dict]:
    response = api.get("/api/clients", query)
    assert response.status_code == 200, response.content
    body = response.json()
    return [row["id"] for row in body["data"]], body["pagination"]


@pytest.fixture
def sample_clients(db):
    """Sample clients (active, expired and deactivated ones), some sharing one created_at so
    that the order falls to the id."""
    load_sample(500, seed=11)
    ids = list(Client.objects.order_by("id").values_list("id", flat=True))
    tied = ids[10:400:9]
    Client.objects.filter(id__in=tied).update(created_at=Client.objects.get(id=ids[0]).created_at)
    return len(view_ids())


def plan_of(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.sqlite_only
@pytest.mark.skipif(IS_POSTGRES, reason="EXPLAIN QUERY PLAN is SQLite's")
@pytest.mark.parametrize("page", ["first", "offset", "cursor"])
def test_list_query_walks_the_created_at_index_without_a_sort(sample_clients, page):
    after = selectors.decode_cursor(selectors.encode_cursor({"created_at": "2025-01-01 00:00:00", "id": 100}))
    sql, params = active_page_query(limit=101, offset=250 if page == "offset" else 0, after=after if page == "cursor" else None)
    plan = plan_of(sql, params)
    assert "USE TEMP B-TREE" not in plan, plan
    assert "idx_clients_created_at" in plan, plan


@pytest.mark.sqlite_only
@pytest.mark.skipif(IS_POSTGRES, reason="EXPLAIN QUERY PLAN is SQLite's")
def test_the_view_itself_would_sort(sample_clients):
    """Why the list does not select from v_active_clients with ORDER BY (see clients/selectors/active_page.py)."""
    assert "USE TEMP B-TREE" in plan_of(f"SELECT * FROM v_active_clients {VIEW_ORDER} LIMIT 101", ())


def test_random_pages_are_the_views_pages(api, sample_clients):
    total = sample_clients
    rng = random.Random(7)
    pages = [(100, 0), (1, 0), (1000, 0), (7, total - 3), (50, total - 50), (50, total), (10, total + 100)]
    pages += [(rng.randint(1, 150), rng.randint(0, total)) for _ in range(25)]
    for limit, offset in pages:
        ids, pagination = api_page(api, limit=limit, offset=offset)
        assert ids == view_ids(limit, offset), (limit, offset)
        assert pagination["has_more"] == (offset + limit < total), (limit, offset)
        assert pagination["next_offset"] == (offset + limit if offset + limit < total else None)


def test_cursor_pages_walk_the_whole_view_in_order(api, sample_clients):
    seen, query = [], {"limit": 37}
    while True:
        ids, pagination = api_page(api, **query)
        seen += ids
        if not pagination["has_more"]:
            break
        query = {"limit": 37, "cursor": pagination["next_cursor"]}
    assert seen == view_ids()


def test_a_cursor_from_a_random_page_leads_to_the_views_next_page(api, sample_clients):
    rng = random.Random(3)
    for _ in range(15):
        limit, offset = rng.randint(1, 60), rng.randint(0, sample_clients - 61)
        _, pagination = api_page(api, limit=limit, offset=offset)
        ids, _ = api_page(api, limit=limit, cursor=pagination["next_cursor"])
        assert ids == view_ids(limit, offset + limit), (limit, offset)


def test_a_page_holds_the_views_columns(api, sample_clients):
    response = api.get("/api/clients", {"limit": 1000})
    rows = response.json()["data"]
    columns = ("id", "name", "email", "company", "phone", "created_by", "days_remaining", "demo_count")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}, created_at, access_end_date FROM v_active_clients {VIEW_ORDER}")
        expected = cursor.fetchall()
    assert len(rows) == len(expected) == sample_clients
    for row, view_row in zip(rows, expected, strict=True):
        assert tuple(row[column] for column in columns) == view_row[: len(columns)]
        assert row["created_at"] == (format_time(view_row[-2]) if IS_POSTGRES else view_row[-2])
        assert row["is_active"] is True and row["status"] == "active"
    assert any(row["access_end_date"] is None for row in rows) and any(row["demo_count"] for row in rows)


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's query plans")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "walks"),
    [({"entity_type": "client"}, "PRIMARY KEY"), ({}, "PRIMARY KEY"), ({"entity_type": "client", "entity_id": 5}, "idx_audit_entity")],
    ids=["entity_type", "no filter", "one entity"],
)
def test_an_audit_page_after_a_cursor_walks_an_index_in_id_order_without_sorting(filters, walks):
    queryset = selectors.audit_queryset(**filters).filter(id__lt=1_000_000)[:101]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(row[-1] for row in cursor.fetchall())
    assert walks in plan and "TEMP B-TREE" not in plan, plan
