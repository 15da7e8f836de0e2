"""The staff admin: each page, filter and action, and the audit rows its changes write."""

import csv
import io
import re
from datetime import timedelta

import bcrypt
import pytest
from django.contrib.auth.models import Permission
from django.test import Client as Browser
from django.urls import reverse
from rest_framework.test import APIClient

from clients import rules, selectors, services
from clients.legacy_time import format_time
from clients.models import AuditLog, Client, ClientDemoAccess, Demo, now
from tests.fixtures import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'
UA = "pytest-admin/1.0"
CLIENTS = reverse("admin:clients_client_changelist")
AUDIT = reverse("admin:clients_auditlog_changelist")


@pytest.fixture
def browser(staff_user):
    browser = Browser(HTTP_USER_AGENT=UA, REMOTE_ADDR="198.51.100.20")
    browser.force_login(staff_user)
    return browser


def make_client(name, email, *, company=None, end_in_days=30, active=True, demos=(), registered=None) -> Client:
    client = services.client_create(actor=services.Actor.system(), name=name, email=email, password_hash=HASH, company=company, demos=demos)
    changes = {"access_end_date": None if end_in_days is None else now() + timedelta(days=end_in_days), "is_active": active}
    Client.objects.filter(pk=client.pk).update(**changes, **({"data_registo": registered} if registered else {}))
    client.refresh_from_db()
    return client


@pytest.fixture
def people():
    return {
        "ana": make_client("Ana Silva", "ana@example.com", company="Sonae", demos=["pricing-lab", "route-optimizer"]),
        "rui": make_client("Rui Costa", "RUI@Example.com", company="EDP", end_in_days=-3),
        "zoe": make_client("Zoë 50% Off", "zoe_x@example.com", company="Galp", active=False, demos=["pricing-lab"]),
        "joao": make_client("João Nunes", "joao@example.com", end_in_days=None, registered=now() - timedelta(days=800)),
    }


def listed(response) -> set[str]:
    """The names in a client change list."""
    return {client.name for client in response.context["cl"].result_list}


def staff_entries(action):
    return AuditLog.objects.filter(action=action, actor_type="staff").order_by("id")


def assert_staff_origin(entry, user):
    assert (entry.actor_type, entry.actor_id, entry.ip_address, entry.user_agent) == ("staff", user.pk, "198.51.100.20", UA)


# --- pages --------------------------------------------------------------------------------


def test_index_says_ltp_labs_and_links_the_lists(browser):
    page = browser.get(reverse("admin:index")).content.decode()
    assert "LTP Labs" in page and "<title>Clients, demo access and the audit trail | LTP Labs admin</title>" in page
    assert f'href="{CLIENTS}?status=expired"' in page and f'href="{AUDIT}"' in page


def test_client_list_shows_status_days_left_demo_count_and_never_the_hash(browser, people):
    response = browser.get(CLIENTS)
    page = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == {"Ana Silva", "Rui Costa", "Zoë 50% Off", "João Nunes"}
    rows = {client.name: client for client in response.context["cl"].result_list}
    assert (rows["Ana Silva"].demo_count, rows["Zoë 50% Off"].demo_count, rows["Rui Costa"].demo_count) == (2, 1, 0)
    assert 'class="ltp-status ltp-status-active">Active<' in page
    assert 'class="ltp-status ltp-status-expired">Expired<' in page
    assert 'class="ltp-status ltp-status-inactive">Inactive<' in page
    cell = '<td class="field-days_remaining_display">{}</td>'.format
    assert cell("29 days") in page or cell("30 days") in page
    assert cell("expired 2 days ago") in page or cell("expired 3 days ago") in page  # not "-3"
    assert cell("no end date") in page  # in words, not "—"
    assert "$2b$" not in page and "password_hash" not in page


def test_client_list_runs_the_same_queries_for_5_or_50_clients(browser, people, django_assert_max_num_queries):
    for index in range(46):
        Client.objects.create(name=f"Bulk {index}", email=f"bulk{index}@example.com", password_hash=HASH)
    with django_assert_max_num_queries(12):
        response = browser.get(CLIENTS)
    assert len(response.context["cl"].result_list) == 50
    assert response.context["cl"].full_result_count is None  # no second COUNT(*) of the whole table


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("silva", {"Ana Silva"}),
        ("rui@example", {"Rui Costa"}),
        ("sonae", {"Ana Silva"}),
        ("50%", {"Zoë 50% Off"}),  # % and _ are literal characters, not LIKE wildcards
        ("zoe_x", {"Zoë 50% Off"}),
        ("e_x", {"Zoë 50% Off"}),
        ("o_x", set()),
        ("%", {"Zoë 50% Off"}),
        ("nobody", set()),
    ],
)
def test_search_by_name_email_and_company(browser, people, query, names):
    assert listed(browser.get(CLIENTS, {"q": query})) == names


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"status": "active"}, {"Ana Silva", "João Nunes"}),
        ({"status": "expired"}, {"Rui Costa"}),
        ({"status": "inactive"}, {"Zoë 50% Off"}),
        ({"company": "EDP"}, {"Rui Costa"}),
        ({"company__isnull": "True"}, {"João Nunes"}),
        ({"status": "active", "company": "Sonae"}, {"Ana Silva"}),
    ],
)
def test_filters_by_status_and_company(browser, people, params, names):
    assert listed(browser.get(CLIENTS, params)) == names


def test_filter_by_demo(browser, people):
    pricing = Demo.objects.get(slug="pricing-lab")
    route = Demo.objects.get(slug="route-optimizer")
    assert listed(browser.get(CLIENTS, {"demo": pricing.id})) == {"Ana Silva", "Zoë 50% Off"}
    assert listed(browser.get(CLIENTS, {"demo": route.id})) == {"Ana Silva"}
    assert browser.get(CLIENTS, {"demo": "not-a-number"}).status_code == 302  # ?e=1, not a 500


def test_date_hierarchy_lists_years_and_filters_by_them(browser, people):
    old_year = people["joao"].data_registo.year
    response = browser.get(CLIENTS)
    assert f"data_registo__year={old_year}" in response.content.decode()
    assert f"data_registo__year={now().year}" in response.content.decode()
    assert listed(browser.get(CLIENTS, {"data_registo__year": old_year})) == {"João Nunes"}
    months = browser.get(CLIENTS, {"data_registo__year": old_year}).content.decode()
    assert f"data_registo__month={people['joao'].data_registo.month}" in months


def test_client_change_page_links_its_audit_history_and_hides_the_hash(browser, people):
    ana = people["ana"]
    page = browser.get(reverse("admin:clients_client_change", args=[ana.id])).content.decode()
    assert f"{AUDIT}?entity_type=client&amp;entity_id={ana.id}" in page
    assert "$2b$" not in page and "password_hash" not in page
    assert 'name="demo_access-TOTAL_FORMS" value="2"' in page
    history = browser.get(AUDIT, {"entity_type": "client", "entity_id": ana.id})
    assert {entry.entity_id for entry in history.context["cl"].result_list} == {ana.id}
    assert {entry.action for entry in history.context["cl"].result_list} == {"client.create"}


def test_demo_list_shows_usage_from_v_demo_usage(browser, people):
    ClientDemoAccess.objects.filter(client=people["ana"], demo__slug="pricing-lab").update(access_count=7)
    ClientDemoAccess.objects.filter(client=people["zoe"], demo__slug="pricing-lab").update(access_count=5)
    response = browser.get(reverse("admin:clients_demo_changelist"))
    page = response.content.decode()
    pricing = Demo.objects.get(slug="pricing-lab")
    assert response.status_code == 200
    assert f'<a href="{CLIENTS}?demo={pricing.id}">2</a>' in page
    assert '<td class="field-total_accesses">12</td>' in page
    assert browser.get(reverse("admin:clients_demo_change", args=[pricing.id])).status_code == 200
    assert browser.get(reverse("admin:clients_demo_add")).status_code == 403


# --- actions ------------------------------------------------------------------------------


def run_action(browser, action, clients):
    return browser.post(CLIENTS, {"action": action, "_selected_action": [c.id for c in clients]}, follow=True)


def test_extend_action_moves_each_end_by_30_days_and_audits_it(browser, staff_user, people):
    ana, rui = people["ana"], people["rui"]
    response = run_action(browser, "extend_30_days", [ana, rui])
    assert "Extended access by 30 days for 2 clients." in response.content.decode()
    ana_end = Client.objects.get(pk=ana.pk).access_end_date
    assert ana_end == ana.access_end_date + timedelta(days=30)
    assert Client.objects.get(pk=rui.pk).access_end_date - now() > timedelta(days=29)  # from now, as it had ended
    entries = staff_entries("client.extend")
    assert {entry.entity_id for entry in entries} == {ana.id, rui.id}
    for entry in entries:
        assert_staff_origin(entry, staff_user)
        assert entry.details["days"] == 30


def test_deactivate_action_counts_only_the_clients_it_changed(browser, staff_user, people):
    response = run_action(browser, "deactivate", [people["ana"], people["zoe"]])
    assert "Deactivated 1 client." in response.content.decode()
    assert not Client.objects.get(pk=people["ana"].pk).is_active
    [entry] = staff_entries("client.deactivate")
    assert entry.entity_id == people["ana"].id
    assert entry.details == {"before": {"is_active": True}, "after": {"is_active": False}}
    assert_staff_origin(entry, staff_user)


def test_reactivate_action(browser, staff_user, people):
    response = run_action(browser, "reactivate", [people["zoe"], people["ana"]])
    assert "Reactivated 1 client." in response.content.decode()
    assert Client.objects.get(pk=people["zoe"].pk).is_active
    [entry] = staff_entries("client.reactivate")
    assert entry.entity_id == people["zoe"].id
    assert_staff_origin(entry, staff_user)


def test_there_is_no_delete_action_nor_delete_page(browser, people):
    actions = dict(browser.get(CLIENTS).context["action_form"].fields["action"].choices)
    assert set(actions) == {
        "", "extend_30_days", "extend_days", "grant_demo", "revoke_demo", "deactivate", "reactivate", "sign_out_everywhere"
    }  # fmt: skip
    assert browser.get(reverse("admin:clients_client_delete", args=[people["ana"].id])).status_code == 403


def test_a_viewer_sees_the_list_but_no_action_and_cannot_change(people):
    viewer = make_staff("viewer-only", ["clients.view_client", "clients.view_clientdemoaccess", "clients.view_auditlog"])
    browser = Browser()
    browser.force_login(viewer)
    response = browser.get(CLIENTS)
    assert response.status_code == 200 and response.context["action_form"] is None
    run_action(browser, "deactivate", [people["ana"]])
    assert Client.objects.get(pk=people["ana"].pk).is_active
    assert not AuditLog.objects.filter(actor_type="staff").exists()


# --- add and change, through the services -------------------------------------------------


def test_adding_a_client_goes_through_client_create_with_a_bcrypt_hash(browser, staff_user):
    pricing = Demo.objects.get(slug="pricing-lab")
    data = {
        "name": "Marta Gonçalves", "email": "marta@example.com", "password": "s3cret-pass", "company": "NOS", "phone": "",
        "notes": "", "access_days": "60", "demo_access-TOTAL_FORMS": "1", "demo_access-INITIAL_FORMS": "0",
        "demo_access-0-demo": str(pricing.id), "demo_access-0-expires_at_0": "", "demo_access-0-expires_at_1": "",
    }  # fmt: skip
    response = browser.post(reverse("admin:clients_client_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    client = Client.objects.get(email="marta@example.com")
    assert bcrypt.checkpw(b"s3cret-pass", client.password_hash.encode())
    assert (client.company, client.phone, client.created_by) == ("NOS", None, staff_user.pk)
    assert client.access_end_date - client.data_registo == timedelta(days=60)
    [created] = staff_entries("client.create")
    assert created.entity_id == client.id and created.details["access_days"] == 60
    assert_staff_origin(created, staff_user)
    [granted] = staff_entries("access.grant")
    assert (granted.entity_id, granted.details["demo"]) == (client.id, "pricing-lab")
    assert "s3cret-pass" not in str(list(AuditLog.objects.values_list("details", flat=True)))


def test_adding_refuses_a_short_password_and_a_taken_email_in_other_case(browser, people):
    base = {
        "name": "X",
        "company": "",
        "phone": "",
        "notes": "",
        "access_days": "30",
        "demo_access-TOTAL_FORMS": "0",
        "demo_access-INITIAL_FORMS": "0",
    }
    short = browser.post(reverse("admin:clients_client_add"), {**base, "email": "x@example.com", "password": "short"})
    assert "Must be at least 8 bytes long." in short.content.decode()
    taken = browser.post(reverse("admin:clients_client_add"), {**base, "email": "ANA@example.com", "password": "long-enough"})
    assert "Client with this Email already exists." in taken.content.decode()
    assert Client.objects.count() == 4
    assert not staff_entries("client.create").exists()


def change_data(client, **overrides):
    """The change form as the browser would send it back untouched, with `overrides`."""
    end = client.access_end_date
    data = {
        "name": client.name, "company": client.company or "", "phone": client.phone or "", "notes": client.notes or "",
        "access_end_date_0": end.strftime("%Y-%m-%d") if end else "", "access_end_date_1": end.strftime("%H:%M:%S") if end else "",
        "password": "", "demo_access-TOTAL_FORMS": "0", "demo_access-INITIAL_FORMS": "0",
        # the page's hidden version fields, as it was when opened (the stale-save check)
        "version": rules.client_etag(Client.objects.get(pk=client.pk)),
        "seen_audit_id": str(selectors.latest_audit_id("client", client.pk) or 0),
    }  # fmt: skip
    if client.is_active:
        data["is_active"] = "on"
    accesses = list(client.demo_access.order_by("id"))
    for index, access in enumerate(accesses):
        expires = access.expires_at
        data.update({
            f"demo_access-{index}-id": str(access.id), f"demo_access-{index}-client": str(client.id),
            f"demo_access-{index}-expires_at_0": expires.strftime("%Y-%m-%d") if expires else "",
            f"demo_access-{index}-expires_at_1": expires.strftime("%H:%M:%S") if expires else "",
        })  # fmt: skip
    data["demo_access-TOTAL_FORMS"] = data["demo_access-INITIAL_FORMS"] = str(len(accesses))
    data.update(overrides)
    return data


def post_change(browser, client, **overrides):
    response = browser.post(reverse("admin:clients_client_change", args=[client.id]), change_data(client, **overrides))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    return response


def test_unchanged_save_writes_no_audit_row(browser, people):
    post_change(browser, people["ana"])
    assert not AuditLog.objects.filter(actor_type="staff").exists()


def test_editing_fields_writes_one_client_update_row_with_before_and_after(browser, staff_user, people):
    post_change(browser, people["ana"], name="Ana M. Silva", company="")
    client = Client.objects.get(pk=people["ana"].pk)
    assert (client.name, client.company) == ("Ana M. Silva", None)
    [entry] = staff_entries("client.update")
    assert entry.details == {"before": {"name": "Ana Silva", "company": "Sonae"}, "after": {"name": "Ana M. Silva", "company": None}}
    assert_staff_origin(entry, staff_user)


def test_unticking_active_writes_client_deactivate(browser, people):
    data = change_data(people["ana"])
    del data["is_active"]
    browser.post(reverse("admin:clients_client_change", args=[people["ana"].id]), data)
    assert not Client.objects.get(pk=people["ana"].pk).is_active
    assert staff_entries("client.deactivate").count() == 1


def test_a_new_password_is_stored_as_bcrypt_through_client_set_password(browser, staff_user, people):
    before = people["ana"].password_hash
    post_change(browser, people["ana"], password="brand-new-pass")
    client = Client.objects.get(pk=people["ana"].pk)
    assert client.password_hash != before and client.password_hash.startswith("$2b$")
    assert bcrypt.checkpw(b"brand-new-pass", client.password_hash.encode())
    [entry] = staff_entries("client.password")
    assert entry.details == {"fields": ["password"]}
    assert_staff_origin(entry, staff_user)


def test_inline_grants_updates_and_revokes_demo_access_through_the_services(browser, staff_user, people):
    ana = people["ana"]
    pricing, route = (ana.demo_access.get(demo__slug=slug) for slug in ("pricing-lab", "route-optimizer"))
    forecast = Demo.objects.get(slug="demand-forecast")
    index = {access.id: position for position, access in enumerate(ana.demo_access.order_by("id"))}
    post_change(
        browser, ana, **{
            f"demo_access-{index[pricing.id]}-expires_at_0": "2031-05-01", f"demo_access-{index[pricing.id]}-expires_at_1": "12:00:00",
            f"demo_access-{index[route.id]}-DELETE": "on",
            "demo_access-TOTAL_FORMS": "3", "demo_access-2-client": str(ana.id), "demo_access-2-demo": str(forecast.id),
            "demo_access-2-expires_at_0": "", "demo_access-2-expires_at_1": "",
        },
    )  # fmt: skip
    assert sorted(ana.demo_access.values_list("demo__slug", flat=True)) == ["demand-forecast", "pricing-lab"]
    assert ana.demo_access.get(demo__slug="pricing-lab").expires_at.strftime("%Y-%m-%d %H:%M:%S") == "2031-05-01 12:00:00"
    [updated] = staff_entries("access.update")
    assert updated.details["after"] == {"expires_at": "2031-05-01 12:00:00"} and updated.details["demo"] == "pricing-lab"
    [revoked] = staff_entries("access.revoke")
    assert revoked.details["demo"] == "route-optimizer"
    [granted] = staff_entries("access.grant")
    assert granted.details["demo"] == "demand-forecast"
    for entry in (updated, revoked, granted):
        assert entry.entity_id == ana.id
        assert_staff_origin(entry, staff_user)


def test_a_duplicate_demo_in_the_inline_is_a_form_error_not_a_write(browser, people):
    ana = people["ana"]
    pricing = Demo.objects.get(slug="pricing-lab")
    data = change_data(ana, **{"demo_access-TOTAL_FORMS": "3", "demo_access-2-client": str(ana.id), "demo_access-2-demo": str(pricing.id)})
    response = browser.post(reverse("admin:clients_client_change", args=[ana.id]), data)
    assert response.status_code == 200
    assert not AuditLog.objects.filter(actor_type="staff").exists()


# --- the audit log ------------------------------------------------------------------------


@pytest.fixture
def entries(people, staff_user):
    services.client_extend(actor=services.Actor("staff", staff_user.pk, "203.0.113.9", "ua"), client_id=people["ana"].id, days=5)
    services.audit(
        actor=services.Actor.system(), action="demo.note", entity_type="demo", entity_id=3, details={"note": "<script>alert(1)</script>"}
    )
    return AuditLog.objects.order_by("id")


@pytest.mark.parametrize(
    ("params", "actions"),
    [
        ({"action": "client.extend"}, {"client.extend"}),
        ({"entity_type": "demo"}, {"demo.note"}),
        ({"actor_type": "staff"}, {"client.extend"}),
        ({"actor_type": "system", "entity_type": "client"}, {"client.create"}),
        ({"created_at__gte": "2000-01-01 00:00:00+00:00", "created_at__lt": "2001-01-01 00:00:00+00:00"}, set()),
    ],
)
def test_audit_filters_by_action_entity_actor_and_date(browser, entries, params, actions):
    response = browser.get(AUDIT, params)
    assert {entry.action for entry in response.context["cl"].result_list} == actions


def test_audit_date_filter_keeps_todays_rows(browser, entries):
    today = now().date()
    response = browser.get(
        AUDIT, {"created_at__gte": f"{today} 00:00:00+00:00", "created_at__lt": f"{today + timedelta(days=1)} 00:00:00+00:00"}
    )
    assert len(response.context["cl"].result_list) == entries.count()


def test_audit_list_links_each_client_entry_to_its_client(browser, entries, people):
    page = browser.get(AUDIT).content.decode()
    ana_url = reverse("admin:clients_client_change", args=[people["ana"].id])
    assert f'<a href="{ana_url}">Ana Silva</a>' in page  # by name, not "client 1"
    assert "demo 3" in page


def test_audit_entry_shows_details_as_escaped_indented_json_and_offers_no_change(browser, entries):
    note = entries.get(action="demo.note")
    response = browser.get(reverse("admin:clients_auditlog_change", args=[note.id]))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="ltp-json">{\n  &quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;\n}</pre>' in page
    assert "<script>alert(1)" not in page
    assert 'name="_save"' not in page and "deletelink" not in page


def test_audit_log_is_read_only_for_everyone_even_a_superuser(entries):
    superuser = make_staff("root", is_superuser=True)
    browser = Browser()
    browser.force_login(superuser)
    entry = entries.first()
    assert browser.get(reverse("admin:clients_auditlog_add")).status_code == 403
    assert browser.post(reverse("admin:clients_auditlog_change", args=[entry.id]), {"action": "forged"}).status_code == 403
    assert browser.post(reverse("admin:clients_auditlog_delete", args=[entry.id]), {"post": "yes"}).status_code == 403
    response = browser.get(AUDIT)
    assert response.context["action_form"] is None and reverse("admin:clients_auditlog_add") not in response.content.decode()
    assert AuditLog.objects.get(pk=entry.pk).action == entry.action


# --- the landing page, the admin's "View site" ------------------------------------------------


def test_landing_page_says_what_this_is_and_links_the_admin_docs_and_probes_in_the_admins_look():
    response = Browser().get("/")
    page = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "LTP Labs API gateway" in page
    for href in (reverse("admin:index"), reverse("docs"), reverse("schema"), "/health", "/health/ready", "/health/live"):
        assert f'href="{href}"' in page, href
    assert 'href="/static/admin/css/base.css"' in page and 'id="site-name"' in page  # admin/base_site.html
    assert Browser().post("/").status_code == 405


def test_admins_view_site_link_opens_the_landing_page(browser):
    page = browser.get(reverse("admin:index")).content.decode()
    (href,) = re.findall(r'<a href="([^"]*)">View site</a>', page)
    assert href == "/"
    assert browser.get(href).status_code == 200


# --- CSV export ---------------------------------------------------------------------------


def export(browser, **params):
    response = browser.get(reverse("admin:clients_client_export"), params)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="ltplabs-clients-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_follows_the_lists_search_and_filters(browser, people):
    assert {row["name"] for row in export(browser)} == {"Ana Silva", "Rui Costa", "Zoë 50% Off", "João Nunes"}
    [row] = export(browser, status="active", q="sonae")
    assert (row["name"], row["email"], row["company"], row["status"], row["demo_count"]) == (
        "Ana Silva",
        "ana@example.com",
        "Sonae",
        "active",
        "2",
    )
    assert "password" not in ",".join(row) and "$2b$" not in str(row)
    assert {row["status"] for row in export(browser, status="expired")} == {"expired"}


def test_csv_export_link_carries_the_current_filters(browser, people):
    page = browser.get(CLIENTS, {"status": "expired", "q": "rui", "p": "1"}).content.decode()
    assert f'href="{reverse("admin:clients_client_export")}?status=expired&amp;q=rui"' in page


def test_csv_export_neutralises_spreadsheet_formulas_but_keeps_phone_numbers(browser):
    client = make_client('=HYPERLINK("http://x")', "formula@example.com", company="@SUM(A1)")
    Client.objects.filter(pk=client.pk).update(phone="+351 912345678")
    [row] = export(browser)
    assert (row["name"], row["company"], row["phone"]) == ('\'=HYPERLINK("http://x")', "'@SUM(A1)", "+351 912345678")


def test_csv_export_without_view_permission_is_403(people):
    browser = Browser()
    browser.force_login(make_staff("no-view", ["clients.change_demo"]))
    response = browser.get(reverse("admin:clients_client_export"))
    assert response.status_code == 403
    assert "Ana Silva" not in response.content.decode()


# --- read-only database, login throttling -------------------------------------------------


def test_read_only_gateway_offers_no_writes_and_still_shows_everything(browser, people, settings):
    settings.DATABASE_READ_ONLY = True
    response = browser.get(CLIENTS)
    page = response.content.decode()
    assert response.status_code == 200 and "DATABASE_READ_ONLY=1" in page
    assert response.context["action_form"] is None and reverse("admin:clients_client_add") not in page
    assert browser.get(reverse("admin:clients_client_add")).status_code == 403
    change = browser.get(reverse("admin:clients_client_change", args=[people["ana"].id]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert (
        browser.post(reverse("admin:clients_client_change", args=[people["ana"].id]), change_data(people["ana"], name="X")).status_code
        == 403
    )
    assert browser.get(AUDIT).status_code == 200
    assert len(export(browser)) == 4
    assert not AuditLog.objects.filter(actor_type="staff").exists()


def test_admin_login_and_the_api_share_one_count_and_one_lockout(staff_user, throttle_rates):
    throttle_rates(staff_login="10/min")
    login = reverse("admin:login")
    browser = Browser(REMOTE_ADDR="192.0.2.50")
    api = APIClient(REMOTE_ADDR="192.0.2.50")
    for n in range(5):
        assert browser.post(login, {"username": "staff", "password": "wrong"}).status_code == 200
        assert api.post("/api/auth/token", {"username": " STAFF", "password": f"wrong-{n}"}, format="json").status_code == 401
    locked = browser.post(login, {"username": "Staff ", "password": "staff-pass-123"})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert api.post("/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json").status_code == 429
    elsewhere = Browser(REMOTE_ADDR="192.0.2.51")
    assert elsewhere.post(login, {"username": "staff", "password": "staff-pass-123"}).status_code == 302


@pytest.mark.parametrize(("term", "count"), [("198.51.100.99", 1), ("not-a-number", 0), ("999999", 0)])
def test_audit_search_by_ip_or_id_takes_any_text(browser, entries, term, count):
    services.audit(actor=services.Actor("client", 1, "198.51.100.99", None), action="client.login", entity_type="client", entity_id=1)
    response = browser.get(AUDIT, {"q": term})
    assert response.status_code == 200 and len(response.context["cl"].result_list) == count


# --- actions with a parameter, Extend by N days on the client's page, the list's columns ----


def post_action(browser, action, clients, follow=False, **data):
    data = {"action": action, "index": "0", "_selected_action": [client.pk for client in clients], **data}
    return browser.post(CLIENTS, data, follow=follow)


def test_extend_by_n_days_shows_its_form_first_and_writes_nothing_until_applied(browser, people):
    chosen = [people["ana"], people["rui"]]
    response = post_action(browser, "extend_days", chosen)
    assert response.status_code == 200 and 'name="days"' in response.content.decode()
    assert "Ana Silva" in response.content.decode() and "Rui Costa" in response.content.decode()
    assert not AuditLog.objects.filter(action="client.extend").exists()
    response = post_action(browser, "extend_days", chosen, days="0", apply="yes")
    assert response.status_code == 200 and "greater than or equal to 1" in response.content.decode()
    assert not AuditLog.objects.filter(action="client.extend").exists()


def test_extend_by_n_days_moves_each_end_and_writes_one_row_per_client(browser, staff_user, people):
    chosen = [people["ana"], people["rui"], people["joao"]]
    response = post_action(browser, "extend_days", chosen, days="12", apply="yes", follow=True)
    assert "Extended access by 12 days for 3 clients." in response.content.decode()
    rows = AuditLog.objects.filter(action="client.extend")
    assert sorted(row.entity_id for row in rows) == sorted(client.pk for client in chosen)
    assert {(row.actor_id, row.details["days"]) for row in rows} == {(staff_user.pk, 12)}
    ana = Client.objects.get(pk=people["ana"].pk)
    assert ana.access_end_date == people["ana"].access_end_date + timedelta(days=12)
    rui = Client.objects.get(pk=people["rui"].pk)  # expired: from now, not from its old end
    assert rui.access_end_date >= now() + timedelta(days=12) - timedelta(seconds=5)


def test_grant_a_chosen_demo_with_an_expiry_to_many_skips_who_has_it(browser, people):
    demo = Demo.objects.get(slug="pricing-lab")
    chosen = [people["ana"], people["rui"], people["zoe"], people["joao"]]  # ana and zoe have it
    response = post_action(
        browser, "grant_demo", chosen, demo=str(demo.pk), expires_at_0="2031-05-06", expires_at_1="07:08:09", apply="yes", follow=True
    )
    assert "Granted Pricing Lab to 2 of 4 clients. 2 had it already (unchanged)." in response.content.decode()
    rows = AuditLog.objects.filter(action="access.grant", details__demo="pricing-lab")
    assert sorted(row.entity_id for row in rows) == sorted([people["rui"].pk, people["joao"].pk])
    access = ClientDemoAccess.objects.get(client=people["rui"], demo=demo)
    assert access.expires_at.strftime("%Y-%m-%d %H:%M:%S") == "2031-05-06 07:08:09"


def test_grant_without_an_expiry_follows_the_clients_end(browser, people):
    demo = Demo.objects.get(slug="route-optimizer")
    post_action(browser, "grant_demo", [people["rui"]], demo=str(demo.pk), apply="yes")
    assert ClientDemoAccess.objects.get(client=people["rui"], demo=demo).expires_at is None


def test_revoke_a_chosen_demo_from_many_counts_who_lacked_it(browser, people):
    demo = Demo.objects.get(slug="pricing-lab")
    response = post_action(
        browser, "revoke_demo", [people["ana"], people["rui"], people["zoe"]], demo=str(demo.pk), apply="yes", follow=True
    )
    assert "Revoked Pricing Lab from 2 of 3 clients. 1 did not have it." in response.content.decode()
    assert not ClientDemoAccess.objects.filter(demo=demo).exists()
    assert AuditLog.objects.filter(action="access.revoke").count() == 2


def test_an_unknown_demo_in_a_bulk_grant_is_a_form_error_and_writes_nothing(browser, people):
    response = post_action(browser, "grant_demo", [people["rui"]], demo="999999", apply="yes")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not AuditLog.objects.filter(action="access.grant", entity_id=people["rui"].pk).exists()


def test_a_viewer_cannot_run_a_bulk_action(viewer_user, people):
    browser = Browser()
    browser.force_login(viewer_user)
    post_action(browser, "extend_days", [people["ana"]], days="5", apply="yes")
    assert not AuditLog.objects.filter(action="client.extend").exists()


def test_client_page_extends_by_n_days(browser, staff_user, people):
    ana = people["ana"]
    page = browser.get(reverse("admin:clients_client_change", args=[ana.pk])).content.decode()
    url = reverse("admin:clients_client_extend", args=[ana.pk])
    assert f'action="{url}"' in page and 'id="id_extend_days"' in page
    response = browser.post(url, {"days": "45"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:clients_client_change", args=[ana.pk])
    assert Client.objects.get(pk=ana.pk).access_end_date == ana.access_end_date + timedelta(days=45)


def test_expiring_filter_lists_active_clients_ending_within_7_or_30_days(browser):
    make_client("Soon", "soon@example.com", end_in_days=3)
    make_client("Later", "later@example.com", end_in_days=20)
    make_client("Far", "far@example.com", end_in_days=60)
    make_client("Gone", "gone@example.com", end_in_days=-1)
    make_client("Off", "off@example.com", end_in_days=3, active=False)
    make_client("Open", "open@example.com", end_in_days=None)
    assert listed(browser.get(CLIENTS, {"expiring": "7"})) == {"Soon"}
    assert listed(browser.get(CLIENTS, {"expiring": "30"})) == {"Soon", "Later"}
    assert browser.get(CLIENTS, {"expiring": "8"}).status_code in (200, 302)  # not a 500


def test_sorting_by_days_left_puts_no_end_date_last(browser, people):
    names = [client.name for client in browser.get(CLIENTS, {"o": "5"}).context["cl"].result_list]
    assert names[0] == "Rui Costa" and set(names[1:3]) == {"Ana Silva", "Zoë 50% Off"} and names[3] == "João Nunes"
    names = [client.name for client in browser.get(CLIENTS, {"o": "-5"}).context["cl"].result_list]
    assert names[0] == "João Nunes"


def test_history_button_opens_the_clients_audit_entries(browser, people):
    response = browser.get(reverse("admin:clients_client_history", args=[people["ana"].pk]))
    assert response.status_code == 302
    assert response["Location"] == f"{AUDIT}?entity_type=client&entity_id={people['ana'].pk}"


def test_audit_list_shows_seconds_staff_by_name_and_the_demo_of_an_access_row(browser, staff_user, people):
    services.access_grant(actor=services.Actor.staff(staff_user), client_id=people["rui"].pk, demo="pricing-lab")
    response = browser.get(AUDIT, {"action": "access.grant"})
    page = response.content.decode()
    [entry] = response.context["cl"].result_list
    assert '<td class="field-demo">pricing-lab</td>' in page
    assert f'<td class="field-actor">{staff_user.username}</td>' in page and "staff " + str(staff_user.pk) not in page
    assert format_time(entry.created_at) in page and re.search(r"\d{2}:\d{2}:\d{2}</a></th>", page)


def test_audit_list_names_rows_with_two_queries_whatever_their_number(browser, staff_user, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for _ in range(2):
        for client in people.values():
            services.client_extend(actor=services.Actor.staff(staff_user), client_id=client.pk, days=1)
            services.client_login(email=client.email, password="ltplabs-demo") if client.status == "active" else None
        with CaptureQueriesContext(connection) as queries:
            browser.get(AUDIT)
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(("term", "who"), [("ana@example", {"Ana Silva"}), ("costa", {"Rui Costa"}), ("RUI@EXAMPLE.COM", {"Rui Costa"})])
def test_audit_search_by_a_clients_email_or_name(browser, people, term, who):
    response = browser.get(AUDIT, {"q": term})
    ids = {entry.entity_id for entry in response.context["cl"].result_list}
    assert ids == {client.pk for client in people.values() if client.name in who}


def test_audit_entry_shows_an_updates_before_and_after_side_by_side(browser, staff_user, people):
    services.client_update(
        actor=services.Actor.staff(staff_user), client_id=people["ana"].pk, changes={"company": "NOS", "phone": "+351 1"}
    )
    entry = AuditLog.objects.get(action="client.update")
    page = browser.get(reverse("admin:clients_auditlog_change", args=[entry.pk])).content.decode()
    assert '<tr><th scope="row">company</th><td class="ltp-before">Sonae</td><td class="ltp-after">NOS</td></tr>' in page
    assert '<tr><th scope="row">phone</th><td class="ltp-before">—</td><td class="ltp-after">+351 1</td></tr>' in page


def test_client_page_names_who_created_it_and_who_granted_each_demo(browser, staff_user, people):
    services.access_grant(actor=services.Actor.staff(staff_user), client_id=people["rui"].pk, demo="pricing-lab")
    page = browser.get(reverse("admin:clients_client_change", args=[people["rui"].pk])).content.decode()
    assert '<div class="readonly">the system</div>' in page  # created by the sample loader, not "None"
    granted = re.findall(r'field-granted_by_name">\s*<p>([^<]*)</p>', page)
    assert granted[0] == staff_user.username  # (then the empty row the "Add another" button copies)


def test_token_blacklist_pages_are_for_superusers_only():
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    everything = [
        f"{perm.content_type.app_label}.{perm.codename}" for perm in Permission.objects.filter(content_type__app_label="token_blacklist")
    ]
    staff = make_staff("holder", everything)
    url = reverse("admin:token_blacklist_outstandingtoken_changelist")
    browser = Browser()
    browser.force_login(staff)
    assert browser.get(url).status_code == 403
    assert "token_blacklist" not in browser.get(reverse("admin:index")).content.decode()
    browser.force_login(make_staff("root2", is_superuser=True))
    assert browser.get(url).status_code == 200
    assert OutstandingToken._meta.app_label == "token_blacklist"
