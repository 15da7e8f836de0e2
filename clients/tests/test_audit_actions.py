"""The admin's action filter lists clients.audit.ACTIONS instead of scanning the log: every action
the code writes must be there, and the filter must run no DISTINCT over audit_log."""

import re

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clients import services
from clients.audit import ACTIONS, ENTITY_TYPES
from clients.models import AuditLog
from tests.fixtures import ROOT

WRITTEN = re.compile(r"\"((?:client|access|staff|demo)\.[a-z_]+)\"")
ENTITY = re.compile(r"entity_type=\"([a-z_]+)\"")


def test_every_action_the_code_writes_is_a_known_action():
    written, entities = set(), set()
    for path in (ROOT / "clients").rglob("*.py"):
        if "tests" not in path.parts:
            written |= set(WRITTEN.findall(path.read_text(encoding="utf-8")))
            entities |= set(ENTITY.findall(path.read_text(encoding="utf-8")))
    assert written and written <= set(ACTIONS), written - set(ACTIONS)
    assert len(set(ACTIONS)) == len(ACTIONS)
    assert entities and entities <= set(ENTITY_TYPES), entities - set(ENTITY_TYPES)


@pytest.mark.django_db
def test_the_audit_list_filters_by_action_without_a_distinct_scan(staff_user, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    services.client_create(actor=services.Actor.system(), name="Ana", email="ana@example.com", password="ana-pass-123")
    browser = Browser()
    browser.force_login(staff_user)
    with CaptureQueriesContext(connection) as queries:
        page = browser.get(reverse("admin:clients_auditlog_changelist"))
    assert page.status_code == 200
    assert not [query["sql"] for query in queries if "DISTINCT" in query["sql"].upper()]
    assert "?action=staff.otp_enrol" in page.content.decode()
    only = browser.get(reverse("admin:clients_auditlog_changelist"), {"action": "client.create"})
    assert {entry.action for entry in only.context["cl"].result_list} == {"client.create"}


@pytest.mark.django_db
def test_an_entry_is_named_after_its_client_and_its_history_lists_the_entitys_entries(staff_user, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = services.client_create(actor=services.Actor.system(), name="Beatriz", email="bea@example.com", password="bea-pass-123")
    entry = AuditLog.objects.get(action="client.create", entity_id=client.id)
    assert str(entry).endswith("client.create Beatriz")
    browser = Browser()
    browser.force_login(staff_user)
    history = browser.get(reverse("admin:clients_auditlog_history", args=[entry.id]))
    assert history.status_code == 302
    assert history["Location"].endswith(f"?entity_type=client&entity_id={client.id}")
