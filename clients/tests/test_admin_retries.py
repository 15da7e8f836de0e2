"""The admin's side of "Safe retries and concurrent edits": a stale change form is refused and
says who changed what since; (de)activation follows the API's rule; the audit list pages by
cursor without OFFSET or COUNT."""

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clients import services
from clients.models import AuditLog, Client, Demo
from clients.tests.test_admin import UA, browser, change_data, make_client  # noqa: F401 (browser: a fixture)
from tests.fixtures import ALL_CLIENT_PERMS, make_staff

pytestmark = pytest.mark.django_db


def test_a_change_form_opened_before_another_change_refuses_to_save_and_names_it(browser, staff_user):  # noqa: F811
    client = make_client("Stale Form", "stale-form@example.com")
    opened = change_data(client, notes="mine")  # the form as the page showed it, with my edit
    colleague = make_staff("colleague", ALL_CLIENT_PERMS)
    services.client_update(actor=services.Actor.staff(colleague), client_id=client.id, changes={"name": "Their Name", "phone": "+351 1"})
    audit_rows = AuditLog.objects.count()
    response = browser.post(reverse("admin:clients_client_change", args=[client.id]), opened)
    assert response.status_code == 200  # the form again, not a redirect
    page = response.content.decode()
    assert "This client was changed since you opened this page" in page
    assert "staff colleague at " in page and "client.update (name, phone)" in page
    current = Client.objects.get(pk=client.pk)
    assert (current.name, current.notes) == ("Their Name", None) and AuditLog.objects.count() == audit_rows
    # Reloaded, the same edit saves.
    again = browser.post(reverse("admin:clients_client_change", args=[client.id]), change_data(current, notes="mine"))
    assert again.status_code == 302 and Client.objects.get(pk=client.pk).notes == "mine"


def test_staff_without_delete_client_get_no_deactivate_or_reactivate_and_cannot_post_is_active(db):
    editor = make_staff("editor", [p for p in ALL_CLIENT_PERMS if p != "clients.delete_client"])
    editor_browser = Browser(HTTP_USER_AGENT=UA)
    editor_browser.force_login(editor)
    client = make_client("Kept Active", "kept-active@example.com")
    changelist = editor_browser.get(reverse("admin:clients_client_changelist"))
    actions = [choice[0] for choice in changelist.context["action_form"].fields["action"].choices]
    assert "extend_30_days" in actions and "deactivate" not in actions and "reactivate" not in actions
    refused = editor_browser.post(reverse("admin:clients_client_changelist"), {"action": "deactivate", "_selected_action": [client.id]})
    assert refused.status_code in (200, 302) and Client.objects.get(pk=client.pk).is_active
    data = change_data(client, notes="edited")
    data.pop("is_active")  # unticked: would deactivate
    assert editor_browser.post(reverse("admin:clients_client_change", args=[client.id]), data).status_code == 302
    current = Client.objects.get(pk=client.pk)
    assert current.is_active and current.notes == "edited"
    assert not AuditLog.objects.filter(action="client.deactivate").exists()


def test_the_audit_list_pages_by_cursor_through_every_entry_without_offset_or_count(browser):  # noqa: F811
    for index in range(250):
        services.audit(actor=services.Actor.system(), action="test.page", entity_type="client", entity_id=index % 7)
    expected = list(AuditLog.objects.filter(entity_type="client").order_by("-id").values_list("id", flat=True))
    seen, url = [], reverse("admin:clients_auditlog_changelist") + "?entity_type=client"
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = browser.get(url)
        assert response.status_code == 200
        listed = [sql["sql"].upper() for sql in queries if "AUDIT_LOG" in sql["sql"].upper()]
        assert not any("COUNT(" in sql or "OFFSET" in sql for sql in listed), listed
        seen += [entry.id for entry in response.context["cl"].result_list]
        url = response.context["cl"].older_url and reverse("admin:clients_auditlog_changelist") + response.context["cl"].older_url
    assert seen == expected and len(seen) >= 250


def test_bulk_grant_and_revoke_need_the_demo_access_permissions_the_api_asks_for(db):
    """One rule for demo access: the bulk actions ask what POST and DELETE …/demos ask."""
    editor = make_staff(
        "no-access-perms", [p for p in ALL_CLIENT_PERMS if p not in ("clients.add_clientdemoaccess", "clients.delete_clientdemoaccess")]
    )
    editor_browser = Browser(HTTP_USER_AGENT=UA)
    editor_browser.force_login(editor)
    client = make_client("No Grant", "no-grant@example.com")
    changelist = editor_browser.get(reverse("admin:clients_client_changelist"))
    actions = [choice[0] for choice in changelist.context["action_form"].fields["action"].choices]
    assert "extend_days" in actions and "grant_demo" not in actions and "revoke_demo" not in actions
    editor_browser.post(
        reverse("admin:clients_client_changelist"),
        {"action": "grant_demo", "_selected_action": [client.id], "apply": "1", "demo": Demo.objects.first().pk},
    )
    assert not client.demo_access.exists() and not AuditLog.objects.filter(action="access.grant").exists()
