"""Service accounts and API keys (clients/api_keys.py): the key on every route its scopes allow and
403 on the others, a revoke by the next request, an expiry on the request it falls on, a change
made elsewhere within the contract's second, guessing and replaying attacks
counted, last_used_at at most once a minute, writes audited as the service account, the
`api_key` command and the admin pages."""

import secrets
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client as Browser
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from clients import api_keys, services
from clients.audit import Actor
from clients.models import ApiKey, AuditLog, ServiceAccount
from tests.fixtures import ALL_CLIENT_PERMS, make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


def new_key(*scopes: str, name: str = "crm-sync", expires_at=None) -> tuple[str, ApiKey]:
    account = ServiceAccount.objects.filter(name=name).first() or api_keys.service_account_create(actor=Actor.system(), name=name)
    new = api_keys.api_key_create(actor=Actor.system(), account=account, scopes=scopes, expires_at=expires_at)
    return new.key, new.api_key


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def a_client():
    return services.client_create(actor=Actor.system(), name="Ana", email="ana@example.com", password_hash=HASH, demos=["route-optimizer"])


# Every route a key may be sent to, and the scope that opens it (the README's table).
def routes(client_id: int) -> list[tuple[str, str, dict | None, str]]:
    return [
        ("get", "/api/clients", None, "clients:read"),
        ("get", f"/api/clients/{client_id}", None, "clients:read"),
        ("get", f"/api/clients/{client_id}/demos", None, "clients:read"),
        ("get", "/api/demos", None, "clients:read"),
        ("get", "/api/demos/usage", None, "clients:read"),
        (
            "post",
            "/api/clients",
            {"name": "New", "email": f"new-{secrets.token_hex(4)}@example.com", "password_hash": HASH},
            "clients:write",
        ),
        ("patch", f"/api/clients/{client_id}", {"company": f"Co {secrets.token_hex(2)}"}, "clients:write"),
        ("post", f"/api/clients/{client_id}/extend", {"days": 1}, "clients:write"),
        ("post", f"/api/clients/{client_id}/demos", {"demo": "pricing-lab"}, "clients:write"),
        ("delete", f"/api/clients/{client_id}/demos/pricing-lab", None, "clients:write"),
        ("get", "/api/audit-log", None, "audit:read"),
        ("post", "/api/entitlements/check", {"client_id": client_id, "demo": "route-optimizer"}, "entitlements:check"),
    ]


@pytest.mark.parametrize("scope", api_keys.SCOPES)
def test_each_scope_opens_its_routes_and_every_other_route_answers_403(scope, a_client):
    api = with_key(new_key(scope)[0])
    outcome = {"allowed": 0, "refused": 0, "wrong": []}
    for method, path, body, needs in routes(a_client.id):
        status = getattr(api, method)(path, body, format="json").status_code
        if needs == scope:
            outcome["allowed"] += 1
            if status >= 400:
                outcome["wrong"].append((method, path, status))
        else:
            outcome["refused"] += status == 403
            if status != 403:
                outcome["wrong"].append((method, path, status))
    expected_allowed = sum(needs == scope for *_, needs in routes(a_client.id))
    assert outcome == {"allowed": expected_allowed, "refused": len(routes(a_client.id)) - expected_allowed, "wrong": []}


def test_client_and_staff_only_routes_refuse_a_key(a_client):
    api = with_key(new_key(*api_keys.SCOPES)[0])
    assert api.get("/api/me").status_code == 403
    assert api.post("/api/me/demos/route-optimizer/open").status_code == 403
    assert api.post("/api/auth/logout-all").status_code == 401  # a staff token's route: no key accepted


def test_writes_are_audited_as_the_service_account_with_its_name():
    key, api_key = new_key("clients:write", name="crm-sync")
    response = with_key(key).post("/api/clients", {"name": "Via CRM", "email": "crm@example.com", "password_hash": HASH}, format="json")
    assert response.status_code == 201
    row = AuditLog.objects.get(action="client.create", entity_id=response.json()["clientId"])
    assert (row.actor_type, row.actor_id) == ("system", api_key.service_account_id)
    assert row.details["service_account"] == "crm-sync"


def test_idempotency_keys_are_the_service_accounts_own():
    key, api_key = new_key("clients:write", name="crm-sync")
    body = {"name": "Once", "email": "once@example.com", "password_hash": HASH}
    first = with_key(key).post("/api/clients", body, format="json", HTTP_IDEMPOTENCY_KEY="crm-1")
    again = with_key(key).post("/api/clients", body, format="json", HTTP_IDEMPOTENCY_KEY="crm-1")
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    from clients.models import IdempotencyKey

    assert IdempotencyKey.objects.get(key="crm-1").principal == f"service:{api_key.service_account_id}"


def test_only_the_prefix_and_a_hash_are_stored():
    key, api_key = new_key("clients:read")
    prefix, secret = key.split(".")
    assert api_key.prefix == prefix and len(api_key.secret_hash) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM gateway_api_key")
        stored = repr(cursor.fetchall())
    assert secret not in stored and key not in stored


def test_a_revoked_key_is_refused_by_the_very_next_request():
    key, api_key = new_key("clients:read")
    api = with_key(key)
    assert api.get("/api/demos").status_code == 200
    api_keys.api_key_revoke(actor=Actor.system(), prefix=api_key.prefix)
    assert api.get("/api/demos").status_code == 401


def test_a_key_is_refused_on_the_request_its_expiry_falls_on_though_it_was_verified_just_before():
    expires = timezone.now().replace(microsecond=0) + timedelta(seconds=2)  # stored to the second
    key, _ = new_key("clients:read", expires_at=expires)
    api = with_key(key)
    seen = {"before": set(), "after": set()}
    while True:  # a program's requests every 20 ms across the expiry: verified ones are taken on their word
        started = time.time()
        status = api.get("/api/demos").status_code
        if time.time() < expires.timestamp():
            seen["before"].add(status)
        elif started >= expires.timestamp():
            seen["after"].add(status)
            if started >= expires.timestamp() + 0.1:
                break
        time.sleep(0.02)
    assert seen == {"before": {200}, "after": {401}}


def test_a_change_made_in_another_process_is_seen_within_the_contracts_second():
    key, api_key = new_key("clients:read", expires_at=timezone.now() + timedelta(hours=1))
    api = with_key(key)
    assert api.get("/api/demos").status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # not through the use cases
    time.sleep(1)
    response = api.get("/api/demos")
    assert response.status_code == 401 and response.json() == {"success": False, "error": "The API key is invalid, revoked or expired."}
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now())  # the very second it expires
    assert api.get("/api/demos").status_code == 401


def test_a_verified_key_costs_one_read_per_fresh_seconds_and_a_wrong_secret_is_never_taken_for_it():
    key, api_key = new_key("clients:read")
    api = with_key(key)
    assert api.get("/api/demos").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        statuses = [api.get("/api/demos").status_code for _ in range(5)]
        wrong = with_key(f"{api_key.prefix}.{secrets.token_urlsafe(32)}").get("/api/demos").status_code
    key_reads = [query for query in queries.captured_queries if "FROM gateway_api_key" in query["sql"]]
    assert statuses == [200] * 5 and wrong == 401
    assert len(key_reads) == 1  # the wrong secret's, read and refused; the good key's five from memory


def test_an_expired_or_deactivated_service_account_refuses_all_its_keys():
    key, api_key = new_key("clients:read")
    other, _ = new_key("audit:read")  # a second key of the same account
    account = api_key.service_account
    assert with_key(key).get("/api/demos").status_code == 200 and with_key(other).get("/api/audit-log").status_code == 200
    api_keys.service_account_update(actor=Actor.system(), account_id=account.pk, is_active=True,
                                    expires_at=timezone.now() - timedelta(seconds=1))  # fmt: skip
    assert with_key(key).get("/api/demos").status_code == 401 and with_key(other).get("/api/audit-log").status_code == 401
    api_keys.service_account_update(actor=Actor.system(), account_id=account.pk, is_active=True, expires_at=None)
    assert with_key(key).get("/api/demos").status_code == 200  # verified again, and taken on its word
    api_keys.service_account_update(actor=Actor.system(), account_id=account.pk, is_active=False, expires_at=None)
    assert with_key(key).get("/api/demos").status_code == 401
    assert AuditLog.objects.filter(action="service_account.update", entity_id=account.pk).count() == 3


def test_guessed_and_replayed_keys_are_refused():
    key, api_key = new_key(*api_keys.SCOPES)
    prefix = api_key.prefix
    tries = [f"{secrets.token_hex(6)}.{secrets.token_urlsafe(32)}" for _ in range(50)]  # random keys
    tries += [f"{prefix}.{secrets.token_urlsafe(32)}" for _ in range(50)]  # the right prefix, a wrong secret
    tries += [f"{prefix}.{api_key.secret_hash}", api_key.secret_hash, prefix, f"{prefix}.", f".{key}"]  # the stored hash replayed
    tries += [key[:-1], key + "x", key.upper(), f"{prefix}..{key.split('.')[1]}", "", "x" * 5000]
    accepted = sum(with_key(guess).get("/api/demos").status_code == 200 for guess in tries)
    assert accepted == 0
    assert with_key(key).get("/api/demos").status_code == 200  # and the real key still works


def test_a_malformed_header_is_401():
    for header in ("Api-Key", "Api-Key a b", "Api-Key \xe9"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/demos").status_code == 401


def test_last_used_is_written_at_most_once_a_minute():
    key, api_key = new_key("clients:read")
    api = with_key(key)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api.get("/api/demos").status_code == 200
    writes = [query["sql"] for query in queries.captured_queries if query["sql"].lstrip().upper().startswith("UPDATE")]
    assert len(writes) == 1 and "gateway_api_key" in writes[0]
    api_key.refresh_from_db()
    first = api_key.last_used_at
    assert first is not None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(seconds=61))
    time.sleep(api_keys.FRESH_SECONDS)  # the key read again
    api.get("/api/demos")
    api_key.refresh_from_db()
    assert api_key.last_used_at >= first


def test_a_read_only_gateway_still_accepts_keys_and_writes_nothing():
    key, api_key = new_key("clients:read", "entitlements:check")
    with override_settings(DATABASE_READ_ONLY=True), CaptureQueriesContext(connection) as queries:
        assert with_key(key).get("/api/demos").status_code == 200
        check = with_key(key).post("/api/entitlements/check", {"email": "none@example.com", "demo": "pricing-lab"}, format="json")
        assert check.status_code == 200 and check.json()["data"]["code"] == "UNKNOWN_CLIENT"
        recorded = {"email": "none@example.com", "demo": "pricing-lab", "record": True}
        assert with_key(key).post("/api/entitlements/check", recorded, format="json").status_code == 503
    assert not [query for query in queries.captured_queries if query["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


def test_scopes_are_checked_when_a_key_is_made():
    account = api_keys.service_account_create(actor=Actor.system(), name="bad-scopes")
    for scopes in ([], ["clients:admin"], ["clients:read", "root"]):
        with pytest.raises(Exception, match="Choose one or more"):
            api_keys.api_key_create(actor=Actor.system(), account=account, scopes=scopes)
    assert not ApiKey.objects.filter(service_account=account).exists()


# --- manage.py api_key ---------------------------------------------------------------------


def run(*args) -> str:
    import io

    out = io.StringIO()
    call_command("api_key", *args, stdout=out)
    return out.getvalue()


def test_the_command_creates_lists_and_revokes_and_prints_the_key_once():
    out = run("create", "analytics", "--scope", "clients:read", "--scope", "audit:read", "--expires", "2099-01-02 03:04:05")
    key = out.strip().splitlines()[-1]
    assert with_key(key).get("/api/audit-log").status_code == 200
    prefix = key.split(".")[0]
    api_key = ApiKey.objects.get(prefix=prefix)
    assert api_key.scopes == "clients:read audit:read" and api_key.expires_at.year == 2099
    second = run("create", "analytics", "--scope", "entitlements:check").strip().splitlines()[-1]  # same account
    assert ServiceAccount.objects.filter(name="analytics").count() == 1 and second != key
    listing = run("list")
    assert prefix in listing and "analytics" in listing and key not in listing and key.split(".")[1] not in listing
    assert "Revoked" in run("revoke", prefix)
    assert with_key(key).get("/api/audit-log").status_code == 401
    assert with_key(second).post("/api/entitlements/check", {"client_id": 1, "demo": "x"}, format="json").status_code == 200
    actions = list(AuditLog.objects.filter(entity_type="service_account").values_list("action", flat=True))
    assert sorted(actions) == ["api_key.create", "api_key.create", "api_key.revoke", "service_account.create"]


def test_the_command_refuses_a_bad_expiry_and_an_unknown_prefix():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("create", "x", "--scope", "clients:read", "--expires", "tomorrow")
    with pytest.raises(CommandError, match="Must be in the future"):
        run("create", "x", "--scope", "clients:read", "--expires", "2000-01-01 00:00:00")
    with pytest.raises(CommandError, match="No API key"):
        run("revoke", "nope")
    assert not ApiKey.objects.exists()


# --- the admin -------------------------------------------------------------------------------


@pytest.fixture
def admin_browser():
    perms = [*ALL_CLIENT_PERMS] + [
        f"clients.{verb}_{model}" for model in ("serviceaccount", "apikey") for verb in ("view", "add", "change")
    ]
    browser = Browser()
    browser.force_login(make_staff("keeper", perms))
    return browser


def test_the_admin_creates_an_account_and_a_key_shown_once_and_never_again(admin_browser):
    form = {"name": "demo-service", "is_active": "on", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"}
    response = admin_browser.post(reverse("admin:clients_serviceaccount_add"), form)
    assert response.status_code == 302, response.content[:2000]
    account = ServiceAccount.objects.get(name="demo-service")
    response = admin_browser.post(reverse("admin:clients_apikey_add"),
                                  {"service_account": account.pk, "scopes": ["entitlements:check", "clients:read"]})  # fmt: skip
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    api_key = ApiKey.objects.get(service_account=account)
    import re

    key = re.search(r'id="new-api-key"[^>]*>([^<]+)<', page).group(1)
    assert key.startswith(api_key.prefix + ".") and api_key.scopes == "clients:read entitlements:check"
    assert with_key(key).get("/api/demos").status_code == 200
    secret = key.split(".")[1]
    for url in (
        reverse("admin:clients_apikey_changelist"),
        reverse("admin:clients_apikey_change", args=[api_key.pk]),
        reverse("admin:clients_serviceaccount_change", args=[account.pk]),
        reverse("admin:clients_serviceaccount_changelist"),
        reverse("admin:clients_auditlog_changelist"),
    ):
        shown = admin_browser.get(url)
        assert shown.status_code == 200 and secret not in shown.content.decode() and api_key.secret_hash not in shown.content.decode()
    assert api_key.prefix in admin_browser.get(reverse("admin:clients_apikey_changelist")).content.decode()
    row = AuditLog.objects.get(action="api_key.create")
    assert (row.actor_type, row.details["prefix"]) == ("staff", api_key.prefix)


def test_the_admin_revokes_keys_and_deactivates_an_account(admin_browser):
    key, api_key = new_key("clients:read", name="old-sync")
    response = admin_browser.post(reverse("admin:clients_apikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]})
    assert response.status_code == 302
    assert with_key(key).get("/api/demos").status_code == 401
    key, api_key = new_key("clients:read", name="old-sync")
    url = reverse("admin:clients_serviceaccount_change", args=[api_key.service_account_id])
    form = {"expires_at_0": "", "expires_at_1": "", "keys-TOTAL_FORMS": "2", "keys-INITIAL_FORMS": "2", "keys-MIN_NUM_FORMS": "0",
            "keys-MAX_NUM_FORMS": "1000"}  # fmt: skip
    for index, key_row in enumerate(ApiKey.objects.filter(service_account_id=api_key.service_account_id).order_by("-created_at", "-id")):
        form[f"keys-{index}-id"] = key_row.pk
        form[f"keys-{index}-service_account"] = api_key.service_account_id
    response = admin_browser.post(url, form)  # is_active unticked
    assert response.status_code == 302, response.content.decode()[:3000]
    assert with_key(key).get("/api/demos").status_code == 401
    assert AuditLog.objects.filter(action="service_account.update").count() == 1


def test_a_staff_user_without_the_permissions_sees_no_keys():
    browser = Browser()
    browser.force_login(make_staff("plain", ALL_CLIENT_PERMS))
    assert browser.get(reverse("admin:clients_apikey_changelist")).status_code == 403
    assert browser.get(reverse("admin:clients_serviceaccount_add")).status_code == 403


def test_the_schema_documents_the_api_key_scheme_on_the_routes_that_take_it():
    import yaml

    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["apiKey"]["description"],
    }  # fmt: skip
    security = {(path, method): [next(iter(item)) for item in operation.get("security", [])]
                for path, operations in schema["paths"].items() for method, operation in operations.items()}  # fmt: skip
    assert security[("/api/entitlements/check", "post")] == ["apiKey"]
    assert "apiKey" in security[("/api/clients", "get")] and "staffJWT" in security[("/api/clients", "get")]
    assert security[("/api/me/demos/{slug}/open", "post")] == ["clientJWT"]
    assert "apiKey" not in security[("/api/me", "get")]


@pytest.mark.parametrize("header", [None, "Api-Key abc.def", "Bearer x.y.z", "api-key   spaced  ", "Api-Key caf\u00e9"])
def test_the_authorization_header_is_read_as_drf_reads_it(header):
    from rest_framework.authentication import get_authorization_header
    from rest_framework.test import APIRequestFactory

    from clients.api.authentication import authorization_header

    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    request = APIRequestFactory().post("/api/entitlements/check", {}, format="json", **extra)
    assert authorization_header(request) == get_authorization_header(request)
