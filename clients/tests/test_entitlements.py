"""The entitlement check (clients/entitlements.py) through both routes: every code of the contract
in its order, decided from the database at that moment, and the recorded open (also on PostgreSQL:
make test-postgres runs this file there)."""

import dataclasses
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clients import api_keys, entitlements, services
from clients.api.tokens import tokens_for_client
from clients.audit import Actor
from clients.models import AuditLog, ClientDemoAccess, Demo, ServiceAccount, now

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


def program(*scopes: str, name: str = "demo-service") -> tuple[APIClient, ServiceAccount]:
    account = ServiceAccount.objects.filter(name=name).first() or api_keys.service_account_create(actor=Actor.system(), name=name)
    key = api_keys.api_key_create(actor=Actor.system(), account=account, scopes=scopes or ("entitlements:check",)).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client, account


@pytest.fixture
def checker():
    return program("entitlements:check")[0]


def make_client(email: str, demos=("route-optimizer",), **fields):
    return services.client_create(actor=Actor.system(), name="Client", email=email, password_hash=HASH, demos=demos, **fields)


def check(checker, **body):
    response = checker.post("/api/entitlements/check", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_an_open_client_with_access_is_ok_with_its_end_and_days_left(checker):
    client = make_client("ok@example.com", access_days=20)
    data = check(checker, client_id=client.id, demo="route-optimizer")
    assert data == {
        "allowed": True, "code": "OK", "demo": "route-optimizer", "client_id": client.id,
        "expires_at": client.access_end_date.strftime("%Y-%m-%d %H:%M:%S"), "days_remaining": data["days_remaining"],
    }  # fmt: skip
    assert data["days_remaining"] in (19, 20)
    assert check(checker, email="OK@Example.com", demo="route-optimizer")["code"] == "OK"  # e-mail in any case


def test_every_code_in_the_contracts_order(checker):
    past = now() - timedelta(days=1)
    ok = make_client("order-ok@example.com")
    inactive = make_client("order-inactive@example.com")
    services.client_deactivate(actor=Actor.system(), client_id=inactive.id)
    expired = make_client("order-expired@example.com")
    services.client_update(actor=Actor.system(), client_id=expired.id, changes={"access_end_date": past})
    access_expired = make_client("order-access-expired@example.com")
    services.access_update(actor=Actor.system(), client_id=access_expired.id, demo="route-optimizer", expires_at=past)
    disabled = make_client("order-disabled@example.com", demos=("inventory-sim",))
    Demo.objects.filter(slug="inventory-sim").update(is_active=False)  # disabled after the grant

    cases = [
        ({"client_id": 999_999, "demo": "route-optimizer"}, "UNKNOWN_CLIENT"),
        ({"email": "nobody@example.com", "demo": "route-optimizer"}, "UNKNOWN_CLIENT"),
        ({"client_id": 999_999, "demo": "no-such-demo"}, "UNKNOWN_CLIENT"),  # UNKNOWN_CLIENT first
        ({"client_id": ok.id, "demo": "no-such-demo"}, "UNKNOWN_DEMO"),
        ({"client_id": inactive.id, "demo": "no-such-demo"}, "UNKNOWN_DEMO"),  # before CLIENT_INACTIVE
        ({"client_id": inactive.id, "demo": "route-optimizer"}, "CLIENT_INACTIVE"),
        ({"client_id": inactive.id, "demo": "network-design"}, "CLIENT_INACTIVE"),  # before DEMO_DISABLED
        ({"client_id": expired.id, "demo": "route-optimizer"}, "CLIENT_EXPIRED"),
        ({"client_id": expired.id, "demo": "pricing-lab"}, "CLIENT_EXPIRED"),  # before NO_ACCESS
        ({"client_id": disabled.id, "demo": "inventory-sim"}, "DEMO_DISABLED"),
        ({"client_id": ok.id, "demo": "network-design"}, "DEMO_DISABLED"),  # before NO_ACCESS
        ({"client_id": ok.id, "demo": "pricing-lab"}, "NO_ACCESS"),
        ({"client_id": access_expired.id, "demo": "route-optimizer"}, "ACCESS_EXPIRED"),
        ({"client_id": ok.id, "demo": "route-optimizer"}, "OK"),
    ]
    for body, code in cases:
        data = check(checker, **body)
        assert (data["code"], data["allowed"]) == (code, code == "OK"), body


def test_the_access_rows_end_when_sooner_than_the_clients(checker):
    client = make_client("sooner@example.com", access_days=30)
    end = now() + timedelta(days=3, hours=1)
    services.access_update(actor=Actor.system(), client_id=client.id, demo="route-optimizer", expires_at=end)
    data = check(checker, client_id=client.id, demo="route-optimizer")
    assert data["expires_at"] == end.strftime("%Y-%m-%d %H:%M:%S") and data["days_remaining"] == 3


def test_a_revoke_deactivation_or_expiry_shows_on_the_very_next_check(checker):
    client = make_client("next@example.com", demos=("route-optimizer", "pricing-lab", "demand-forecast"))
    assert check(checker, client_id=client.id, demo="route-optimizer")["code"] == "OK"
    services.access_revoke(actor=Actor.system(), client_id=client.id, demo="route-optimizer")
    assert check(checker, client_id=client.id, demo="route-optimizer")["code"] == "NO_ACCESS"
    services.access_update(actor=Actor.system(), client_id=client.id, demo="pricing-lab", expires_at=now() - timedelta(seconds=1))
    assert check(checker, client_id=client.id, demo="pricing-lab")["code"] == "ACCESS_EXPIRED"
    services.client_deactivate(actor=Actor.system(), client_id=client.id)
    assert check(checker, client_id=client.id, demo="demand-forecast")["code"] == "CLIENT_INACTIVE"


def test_record_counts_one_open_with_its_audit_row_and_a_refusal_counts_nothing():
    checker, account = program("entitlements:check")
    client = make_client("record@example.com")
    access = ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer")
    for _ in range(3):
        assert check(checker, client_id=client.id, demo="route-optimizer", record=True)["code"] == "OK"
    assert check(checker, client_id=client.id, demo="route-optimizer")["code"] == "OK"  # no record: no count
    assert check(checker, client_id=client.id, demo="pricing-lab", record=True)["code"] == "NO_ACCESS"
    access.refresh_from_db()
    assert access.access_count == 3 and access.last_accessed_at is not None
    rows = AuditLog.objects.filter(action="demo.open", entity_id=client.id)
    assert rows.count() == 3
    row = rows.first()
    assert (row.actor_type, row.actor_id, row.entity_type) == ("system", account.id, "client")
    assert row.details == {"demo": "route-optimizer", "access_id": access.id, "service_account": "demo-service"}


# What another use case may commit between a recorded check's read and its count (the read runs
# before the write transaction): each leaves the UPDATE counting nothing, and the check answers
# what holds under the write lock.
def revoke(client):
    services.access_revoke(actor=Actor.system(), client_id=client.id, demo="route-optimizer")


def end_access(client):
    services.access_update(actor=Actor.system(), client_id=client.id, demo="route-optimizer", expires_at=now() - timedelta(seconds=1))


def deactivate(client):
    services.client_deactivate(actor=Actor.system(), client_id=client.id)


def end_client(client):
    services.client_update(actor=Actor.system(), client_id=client.id, changes={"access_end_date": now() - timedelta(seconds=1)})


def disable_demo(client):
    Demo.objects.filter(slug="route-optimizer").update(is_active=False)


CHANGES_BEFORE_THE_COUNT = {
    "access revoked": (revoke, "NO_ACCESS"),
    "access ended": (end_access, "ACCESS_EXPIRED"),
    "client deactivated": (deactivate, "CLIENT_INACTIVE"),
    "client ended": (end_client, "CLIENT_EXPIRED"),
    "demo disabled": (disable_demo, "DEMO_DISABLED"),
}


def change_after_the_first_read(monkeypatch, change):
    """Run `change` (committed) right after the check's first read, as another worker could."""
    reads = []
    decide = entitlements._decide

    def read_then_change(*args):
        decided = decide(*args)
        reads.append(decided[0].code)
        if len(reads) == 1:
            change()
        return decided

    monkeypatch.setattr(entitlements, "_decide", read_then_change)
    return reads


@pytest.mark.parametrize("change", CHANGES_BEFORE_THE_COUNT, ids=list(CHANGES_BEFORE_THE_COUNT))
def test_a_change_between_the_read_and_the_count_counts_nothing_and_is_the_answer(checker, monkeypatch, change):
    make, code = CHANGES_BEFORE_THE_COUNT[change]
    client = make_client(f"between-{change.replace(' ', '-')}@example.com")
    access = ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer")
    reads = change_after_the_first_read(monkeypatch, lambda: make(client))
    data = check(checker, client_id=client.id, demo="route-optimizer", record=True)
    assert reads == ["OK", code]  # the first read allowed the open; the second, under the lock, did not
    assert (data["allowed"], data["code"]) == (False, code)
    assert not AuditLog.objects.filter(action="demo.open", entity_id=client.id).exists()
    assert ClientDemoAccess.objects.filter(pk=access.pk).values_list("access_count", flat=True).first() in (None, 0)


def test_an_access_granted_again_between_the_read_and_the_count_counts_on_the_new_row(checker, monkeypatch):
    client = make_client("between-regrant@example.com")
    old = ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer")

    def revoke_and_grant_again():
        services.access_revoke(actor=Actor.system(), client_id=client.id, demo="route-optimizer")
        services.access_grant(actor=Actor.system(), client_id=client.id, demo="route-optimizer")

    reads = change_after_the_first_read(monkeypatch, revoke_and_grant_again)
    data = check(checker, client_id=client.id, demo="route-optimizer", record=True)
    new = ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer")
    assert reads == ["OK", "OK"] and data["code"] == "OK" and new.pk != old.pk
    assert new.access_count == 1
    assert AuditLog.objects.get(action="demo.open", entity_id=client.id).details["access_id"] == new.pk


def test_a_refused_record_never_tries_to_count(checker, monkeypatch):
    client = make_client("refused-no-write@example.com")
    counted = []
    monkeypatch.setattr(entitlements, "_count", lambda *args: counted.append(args) or True)
    assert check(checker, client_id=client.id, demo="pricing-lab", record=True)["code"] == "NO_ACCESS"
    assert check(checker, client_id=999_999, demo="route-optimizer", record=True)["code"] == "UNKNOWN_CLIENT"
    assert counted == []
    assert check(checker, client_id=client.id, demo="route-optimizer", record=True)["code"] == "OK"
    assert len(counted) == 1


def test_a_recorded_open_builds_its_audit_row_before_its_transaction(monkeypatch):
    # On SQLite the transaction holds the one write lock; the row's building need not (bench/README.md).
    client = make_client("open-row-built-before@example.com")
    depth = len(connection.atomic_blocks)  # pytest-django's own transaction, on some tests
    built = []
    init = AuditLog.__init__

    def recorded_init(self, *args, **kwargs):
        built.append(len(connection.atomic_blocks))
        init(self, *args, **kwargs)

    monkeypatch.setattr(AuditLog, "__init__", recorded_init)
    answer = entitlements.check(actor=Actor.system(), demo="route-optimizer", client_id=client.id, record=True)
    assert answer.code == "OK" and built == [depth]
    assert AuditLog.objects.filter(action="demo.open", entity_id=client.id).count() == 1


def test_a_retried_record_with_its_idempotency_key_counts_once(checker):
    client = make_client("retry@example.com")
    body = {"client_id": client.id, "demo": "route-optimizer", "record": True}
    first = checker.post("/api/entitlements/check", body, format="json", HTTP_IDEMPOTENCY_KEY="open-1")
    again = checker.post("/api/entitlements/check", body, format="json", HTTP_IDEMPOTENCY_KEY="open-1")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer").access_count == 1
    assert AuditLog.objects.filter(action="demo.open", entity_id=client.id).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"demo": "route-optimizer"},  # no client
        {"client_id": 1, "email": "a@example.com", "demo": "route-optimizer"},  # both
        {"client_id": "one", "demo": "route-optimizer"},
        {"client_id": 2**40, "demo": "route-optimizer"},
        {"client_id": 1},  # no demo
        {"client_id": 1, "demo": "route-optimizer", "record": "maybe"},
        {"client_id": 1, "demo": "route-optimizer", "actor": "someone"},  # unknown field
    ],
)
def test_bad_input_is_400_and_nothing_written(checker, body):
    audit_rows = AuditLog.objects.count()
    response = checker.post("/api/entitlements/check", body, format="json")
    assert response.status_code == 400 and response.json()["success"] is False
    assert AuditLog.objects.count() == audit_rows


def test_staff_and_client_tokens_and_other_scopes_may_not_check(api):
    client = make_client("who@example.com")
    body = {"client_id": client.id, "demo": "route-optimizer"}
    assert api.post("/api/entitlements/check", body, format="json").status_code == 401  # a staff token is no API key
    reader = program("clients:read", "audit:read", "clients:write", name="crm")[0]
    assert reader.post("/api/entitlements/check", body, format="json").status_code == 403


# --- POST /api/me/demos/{slug}/open -----------------------------------------------------------


def client_api(client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for_client(client, ['route-optimizer'])['access']}")
    return api


def test_a_client_opens_its_demo_and_the_open_is_recorded_as_the_client():
    client = make_client("me-open@example.com")
    response = client_api(client).post("/api/me/demos/route-optimizer/open")
    assert response.status_code == 200
    assert response.json()["data"]["code"] == "OK" and response.json()["data"]["client_id"] == client.id
    assert ClientDemoAccess.objects.get(client=client, demo__slug="route-optimizer").access_count == 1
    row = AuditLog.objects.get(action="demo.open", entity_id=client.id)
    assert (row.actor_type, row.actor_id) == ("client", client.id)


REFUSED_OPENS = [("pricing-lab", "NO_ACCESS"), ("no-such-demo", "UNKNOWN_DEMO"), ("network-design", "DEMO_DISABLED")]


@pytest.mark.parametrize(("demo", "code"), REFUSED_OPENS)
def test_a_refused_open_is_403_with_its_code_and_counts_nothing(demo, code):
    client = make_client("me-refused@example.com")
    response = client_api(client).post(f"/api/me/demos/{demo}/open")
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["error"]
    assert not AuditLog.objects.filter(action="demo.open", entity_id=client.id).exists()


def test_a_clients_expired_access_row_refuses_its_open():
    client = make_client("me-expired@example.com")
    services.access_update(actor=Actor.system(), client_id=client.id, demo="route-optimizer", expires_at=now() - timedelta(minutes=1))
    response = client_api(client).post("/api/me/demos/route-optimizer/open")
    assert response.status_code == 403 and response.json()["code"] == "ACCESS_EXPIRED"


def test_an_open_needs_a_client_token_and_an_api_key_may_not_open(checker):
    assert APIClient().post("/api/me/demos/route-optimizer/open").status_code == 401
    assert checker.post("/api/me/demos/route-optimizer/open").status_code == 403


# --- what may be granted ------------------------------------------------------------------------


def test_granting_a_disabled_demo_is_400_in_the_api_and_writes_nothing(api):
    client = make_client("grant-disabled@example.com")
    rows = AuditLog.objects.count()
    response = api.post(f"/api/clients/{client.id}/demos", {"demo": "network-design"}, format="json")
    assert response.status_code == 400 and response.json()["details"] == {"demo": ["This demo is disabled: it cannot be granted."]}
    create = {"name": "N", "email": "with-disabled@example.com", "password_hash": HASH, "demos": ["network-design"]}
    assert api.post("/api/clients", create, format="json").status_code == 400
    assert AuditLog.objects.count() == rows
    assert not ClientDemoAccess.objects.filter(client=client, demo__slug="network-design").exists()


def test_an_end_of_access_past_3650_days_is_400_and_writes_nothing(api):
    client = make_client("far-end@example.com")
    rows = AuditLog.objects.count()
    far = (now() + timedelta(days=3651)).strftime("%Y-%m-%d %H:%M:%S")
    response = api.patch(f"/api/clients/{client.id}", {"access_end_date": far}, format="json")
    assert response.status_code == 400 and response.json()["details"] == {"access_end_date": ["Must be at most 3650 days from now."]}
    near = (now() + timedelta(days=3649)).strftime("%Y-%m-%d %H:%M:%S")
    assert api.patch(f"/api/clients/{client.id}", {"access_end_date": near}, format="json").status_code == 200
    response = api.post(f"/api/clients/{client.id}/extend", {"days": 30}, format="json")  # 3649 + 30 days
    assert response.status_code == 400 and response.json()["details"] == {"days": ["Must be at most 3650 days from now."]}
    assert AuditLog.objects.count() == rows + 1  # the one accepted change


def test_the_admin_offers_no_disabled_demo_to_grant_and_refuses_a_far_end(staff_user, settings):
    from django.test import Client as Browser
    from django.urls import reverse

    from clients.admin.forms import BulkGrantForm, DemoAccessForm

    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    assert "network-design" not in {demo.slug for demo in DemoAccessForm().fields["demo"].queryset}
    assert "network-design" not in {demo.slug for demo in BulkGrantForm().fields["demo"].queryset}
    client = make_client("admin-far@example.com")
    browser = Browser()
    browser.force_login(staff_user)
    url = reverse("admin:clients_client_change", args=[client.id])
    page = browser.get(url)
    form = {name: value for name, value in page.context["adminform"].form.initial.items() if value is not None}
    far = now() + timedelta(days=3651)
    form.update({"name": client.name, "is_active": "on", "access_end_date_0": far.strftime("%Y-%m-%d")})
    form.update({"access_end_date_1": far.strftime("%H:%M:%S"), "demo_access-TOTAL_FORMS": "0", "demo_access-INITIAL_FORMS": "0"})
    response = browser.post(url, form)
    assert response.status_code == 200 and "Must be at most 3650 days from now." in response.content.decode()


def test_the_admins_demo_pages_show_the_recorded_opens(checker, staff_user, settings):
    from django.test import Client as Browser
    from django.urls import reverse

    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    client = make_client("admin-opens@example.com", demos=("demand-forecast",))
    for _ in range(4):
        check(checker, client_id=client.id, demo="demand-forecast", record=True)
    demo = Demo.objects.get(slug="demand-forecast")
    browser = Browser()
    browser.force_login(staff_user)
    listing = browser.get(reverse("admin:clients_demo_changelist")).content.decode()
    assert "Total accesses" in listing and '<td class="field-total_accesses">4</td>' in listing
    page = browser.get(reverse("admin:clients_demo_change", args=[demo.id])).content.decode()
    assert "Total accesses" in page and '<div class="readonly">4</div>' in page


@pytest.mark.parametrize(
    "answer",
    [
        entitlements.Entitlement(True, "OK", "pricing-lab", 7, "2026-01-02 03:04:05", 30),
        entitlements.Entitlement(False, "UNKNOWN_CLIENT", "pricing-lab", None, None, None),
        entitlements.Entitlement(False, "ACCESS_EXPIRED", "route-planner", 12, "2025-01-01 00:00:00", 0),
    ],
)
def test_an_answer_as_a_dict_is_what_asdict_gives(answer):
    assert answer.as_dict() == dataclasses.asdict(answer)
    assert list(answer.as_dict()) == [field.name for field in dataclasses.fields(answer)]
