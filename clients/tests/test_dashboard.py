"""The admin's home page as a dashboard: its figures against SQL on the same file, its extend
buttons (a POST through client_extend, CSRF-protected), and who sees what."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from clients import services
from clients.audit import audit, insert
from clients.legacy_time import format_time, now
from clients.models import AuditLog, Client
from clients.selectors import dashboard
from clients.tests.test_admin import make_client
from tests.fixtures import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]
INDEX = reverse("admin:index")


@pytest.fixture
def browser(staff_user):
    browser = Browser(HTTP_USER_AGENT="pytest-dashboard")
    browser.force_login(staff_user)
    return browser


@pytest.fixture
def mix():
    """Clients in every state, at the edges of the 7 and 30 day windows."""
    # Made in another order than their ends, so the soonest-first order is not the ids' order.
    ends = {"in-29": 29.5, "in-7": 7.2, "gone-2": -2, "in-1": 0.5, "in-31": 31, "in-6": 6.9, "gone-40": -40}
    made = {key: make_client(f"Client {key}", f"{key}@example.com", end_in_days=days) for key, days in ends.items()}
    made["none"] = make_client("Client none", "none@example.com", end_in_days=None)
    made["off"] = make_client("Client off", "off@example.com", end_in_days=3, active=False)
    made["off-gone"] = make_client("Client off-gone", "off-gone@example.com", end_in_days=-3, active=False)
    return made


def sql_counts() -> dict[str, int]:
    """The same figures straight from the database: v_active_clients and plain WHERE clauses."""
    at = now()
    text = (lambda when: format_time(when)) if connection.vendor == "sqlite" else (lambda when: when)
    queries = {
        "active": ("SELECT COUNT(*) FROM v_active_clients", []),
        "expired": ("SELECT COUNT(*) FROM clients WHERE is_active AND access_end_date <= %s", [text(at)]),
        "inactive": ("SELECT COUNT(*) FROM clients WHERE NOT is_active", []),
    }
    for days in (7, 30):
        queries[f"expiring_{days}"] = (
            "SELECT COUNT(*) FROM v_active_clients WHERE access_end_date <= %s",
            [text(at + timedelta(days=days))],
        )
    with connection.cursor() as cursor:
        found = {}
        for key, (sql, params) in queries.items():
            cursor.execute(sql, params)
            found[key] = cursor.fetchone()[0]
    return found


def shown_counts(response) -> dict[str, int]:
    html = response.content.decode()
    found = {}
    for key in ("active", "expired", "inactive", "expiring-7", "expiring-30"):
        match = re.search(rf'id="count-{key}"[^>]*><span class="ltp-card-number">(\d+)</span>', html)
        found[key.replace("-", "_")] = int(match.group(1))
    return found


def test_dashboard_counts_equal_sql_counts_on_the_same_database(browser, mix):
    response = browser.get(INDEX)
    assert response.status_code == 200
    expected = sql_counts()
    assert shown_counts(response) == expected
    assert expected == {"active": 6, "expired": 2, "inactive": 2, "expiring_7": 2, "expiring_30": 4}


def test_soonest_expiring_are_listed_soonest_first_with_days_left(browser, mix):
    rows = browser.get(INDEX).context["dashboard"]["expiring"]
    assert [row["name"] for row in rows] == ["Client in-1", "Client in-6", "Client in-7", "Client in-29"]
    assert [row["days_remaining"] for row in rows] == [0, 6, 7, 29]


def test_soonest_list_stops_at_twenty(browser):
    for number in range(23):
        make_client(f"Soon {number:02d}", f"soon{number}@example.com", end_in_days=1 + number / 10)
    rows = browser.get(INDEX).context["dashboard"]["expiring"]
    assert [row["name"] for row in rows] == [f"Soon {number:02d}" for number in range(20)]


def test_sign_ins_per_day_count_client_login_rows_of_the_last_30_days(browser, mix):
    client = mix["in-31"]
    for _ in range(3):
        services.client_login(email=client.email, password="ltplabs-demo")
    # Out of the window: a sign-in 45 days ago (audit_log is append-only, so written so).
    insert(
        AuditLog(
            created_at=now() - timedelta(days=45),
            actor_type="client",
            actor_id=client.id,
            action="client.login",
            entity_type="client",
            entity_id=client.id,
        )
    )
    bars = browser.get(INDEX).context["dashboard"]["sign_ins"]
    assert len(bars) == 30 and bars[-1].label == now().strftime("%Y-%m-%d")
    assert bars[-1].value == 3 and sum(bar.value for bar in bars) == 3


def test_demo_opens_are_counted_per_demo_from_demo_open_rows(browser, mix):
    actor = services.Actor.client(mix["in-31"].id)
    for slug in ("pricing-lab", "pricing-lab", "route-optimizer"):
        audit(actor=actor, action="demo.open", entity_type="client", entity_id=mix["in-31"].id, details={"demo": slug})
    bars = {bar.label: bar.value for bar in browser.get(INDEX).context["dashboard"]["demo_opens"]}
    assert len(bars) == 6 and sum(bars.values()) == 3 and sorted(bars.values())[-2:] == [1, 2]


def test_new_clients_per_month_counts_created_at(browser, mix):
    bars = browser.get(INDEX).context["dashboard"]["new_clients"]
    assert len(bars) == 12 and bars[-1].label == now().strftime("%Y-%m")
    assert bars[-1].value == Client.objects.count() == 10


def test_each_bar_of_each_chart_says_its_number(browser, mix):
    services.client_login(email=mix["in-31"].email, password="ltplabs-demo")
    html = browser.get(INDEX).content.decode()
    for chart in ("chart-sign-ins", "chart-demo-opens", "chart-new-clients"):
        svg = html.split(f'id="{chart}"')[1].split("</svg>")[0]
        assert "<svg" in svg and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
        titles = re.findall(r"<g class=\"ltp-bar\"><title>([^<]+): (\d+)</title>", svg)
        assert titles and len(titles) == svg.count("<rect")
    assert f"<title>{now():%Y-%m-%d}: 1</title>" in html
    assert f"<title>{now():%Y-%m}: 10</title>" in html


def test_recent_actions_come_from_the_audit_log_with_names(browser, staff_user, mix):
    services.client_extend(actor=services.Actor.staff(staff_user), client_id=mix["in-1"].id, days=5)
    html = browser.get(INDEX).content.decode()
    recent = html.split('id="recent-actions-module"')[1]
    assert "client.extend" in recent and "Client in-1" in recent and "by staff" in recent
    assert "None available" not in recent


def test_extend_button_posts_through_client_extend_and_returns_to_the_dashboard(browser, staff_user, mix):
    client = mix["in-1"]
    url = reverse("admin:clients_client_extend", args=[client.id])
    assert f'action="{url}"' in browser.get(INDEX).content.decode()
    before = client.access_end_date
    response = browser.post(url, {"days": "30", "next": INDEX})
    assert response.status_code == 302 and response["Location"] == INDEX
    client.refresh_from_db()
    assert client.access_end_date == before + timedelta(days=30)
    row = AuditLog.objects.filter(action="client.extend", entity_id=client.id).get()
    assert (row.actor_type, row.actor_id, row.details["days"]) == ("staff", staff_user.id, 30)


def test_extend_needs_the_csrf_token_a_get_changes_nothing_and_bad_days_are_refused(staff_user, mix):
    client = mix["in-1"]
    url = reverse("admin:clients_client_extend", args=[client.id])
    attacker = Browser(enforce_csrf_checks=True)
    attacker.force_login(staff_user)
    assert attacker.post(url, {"days": "30"}).status_code == 403  # a forged cross-site form
    assert attacker.get(url).status_code == 405
    browser = Browser()
    browser.force_login(staff_user)
    for days in ("0", "-5", "abc", "3651"):
        response = browser.post(url, {"days": days}, follow=True)
        assert "ensure" in response.content.decode().lower() or "enter a whole number" in response.content.decode().lower()
    response = browser.post(url, {"days": "5", "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:clients_client_change", args=[client.id])  # no open redirect
    client_after = Client.objects.get(pk=client.id)
    assert client_after.access_end_date == client.access_end_date + timedelta(days=5)
    assert AuditLog.objects.filter(action="client.extend").count() == 1


def test_a_viewer_sees_the_figures_but_no_extend_button_and_cannot_post_one(viewer_user, mix):
    browser = Browser()
    browser.force_login(viewer_user)
    html = browser.get(INDEX).content.decode()
    assert 'id="count-active"' in html and 'class="ltp-extend"' not in html
    response = browser.post(reverse("admin:clients_client_extend", args=[mix["in-1"].id]), {"days": "30"})
    assert response.status_code == 403
    assert not AuditLog.objects.filter(action="client.extend").exists()


def test_staff_without_client_permission_sees_no_dashboard():
    user = make_staff("nobody")
    browser = Browser()
    browser.force_login(user)
    html = browser.get(INDEX).content.decode()
    assert 'id="count-active"' not in html and 'class="ltp-charts"' not in html


def test_dashboard_queries_do_not_grow_with_the_number_of_clients(browser, mix, django_assert_max_num_queries):
    for number in range(30):
        make_client(f"More {number}", f"more{number}@example.com", end_in_days=2)
    with django_assert_max_num_queries(14):
        browser.get(INDEX)


def test_the_selector_reads_each_window_edge_as_the_rules_do(mix):
    counts = dashboard.client_counts(now())
    assert counts["active"] == Client.objects.active().count()
    assert counts["expired"] == Client.objects.expired().count()
    assert counts["inactive"] == Client.objects.inactive().count()
