"""The contract's "Safe retries and concurrent edits" in-process: Idempotency-Key, ETag and
If-Match, the one deactivation rule, the audit log's cursor. The same under real concurrency on
both backends: tests/test_concurrency.py."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.test import override_settings
from django.urls import get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from clients import idempotency, rules, services
from clients.api import views
from clients.models import AuditLog, Client, ClientDemoAccess, IdempotencyKey
from tests.fixtures import ALL_CLIENT_PERMS, bearer, make_staff

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"


def make_client(email: str, **fields) -> Client:
    return services.client_create(actor=services.Actor.system(), name="Client", email=email, password_hash=HASH, **fields)


def state(client_id: int):
    return (
        Client.objects.filter(pk=client_id).values_list("name", "notes", "is_active", "access_end_date", "updated_at").get(),
        AuditLog.objects.count(),
        ClientDemoAccess.objects.filter(client_id=client_id).count(),
    )


# --- Idempotency-Key ------------------------------------------------------------------------


def test_a_retried_create_with_its_key_answers_the_first_answer_and_writes_nothing(api):
    body = {"name": "Once", "email": "once@example.com", "password_hash": HASH, "demos": ["pricing-lab"]}
    first = api.post("/api/clients", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    audit_rows = AuditLog.objects.count()
    again = api.post("/api/clients", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Client.objects.filter(email="once@example.com").count() == 1 and AuditLog.objects.count() == audit_rows
    # Without the key, the same body is a new request: the e-mail is taken.
    assert api.post("/api/clients", body, format="json").status_code == 409


def test_a_retried_extend_adds_the_days_once(api):
    client = make_client("extend-once@example.com")
    answers = [api.post(f"/api/clients/{client.id}/extend", {"days": 7}, format="json", HTTP_IDEMPOTENCY_KEY="ext") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[1].json() == answers[2].json() == answers[0].json()
    assert Client.objects.get(pk=client.pk).access_end_date == client.access_end_date + timedelta(days=7)
    assert AuditLog.objects.filter(action="client.extend", entity_id=client.id).count() == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(api):
    client = make_client("other-body@example.com")
    assert api.post(f"/api/clients/{client.id}/extend", {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code == 200
    before = state(client.id)
    response = api.post(f"/api/clients/{client.id}/extend", {"days": 2}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert response.status_code == 422 and "another request body" in response.json()["error"]
    elsewhere = api.patch(f"/api/clients/{client.id}", {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert elsewhere.status_code == 422  # another route is another request
    assert state(client.id) == before


def test_a_key_whose_first_request_still_runs_is_409_and_one_abandoned_past_its_lease_runs_again(api, staff_user):
    client = make_client("running@example.com")
    path, body = f"/api/clients/{client.id}/extend", {"days": 3}
    at = timezone.now()
    claim = IdempotencyKey.objects.create(
        principal=f"staff:{staff_user.pk}",
        key="slow",
        fingerprint=idempotency.fingerprint("POST", path, body),
        created_at=at,
        started_at=at,
    )
    before = state(client.id)
    response = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert response.status_code == 409 and "still running" in response.json()["error"]
    assert state(client.id) == before
    # Its worker died: nothing of it was written, so after the lease the retry does the work once.
    IdempotencyKey.objects.filter(pk=claim.pk).update(started_at=at - idempotency.CLAIM_LEASE - timedelta(seconds=1))
    assert api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="slow").status_code == 200
    assert api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="slow")["Idempotent-Replayed"] == "true"
    assert AuditLog.objects.filter(action="client.extend", entity_id=client.id).count() == 1


def test_a_failed_first_request_stores_nothing_and_its_retry_runs(api):
    client = make_client("fails-first@example.com")
    Client.objects.filter(pk=client.pk).update(is_active=False)
    missing = api.post("/api/clients/999999/extend", {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="nf")
    assert missing.status_code == 404 and not IdempotencyKey.objects.filter(key="nf").exists()
    bad = api.post(f"/api/clients/{client.id}/demos", {"demo": "no-such-demo"}, format="json", HTTP_IDEMPOTENCY_KEY="g")
    assert bad.status_code == 400 and not IdempotencyKey.objects.filter(key="g").exists()
    good = api.post(f"/api/clients/{client.id}/demos", {"demo": "pricing-lab"}, format="json", HTTP_IDEMPOTENCY_KEY="g2")
    assert good.status_code == 201
    assert IdempotencyKey.objects.get(key="g2").response_status == 201


def test_keys_belong_to_their_principal(api, staff_user):
    other_user = make_staff("other-staff", ALL_CLIENT_PERMS)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=bearer(other_user))
    client = make_client("principal@example.com")
    path = f"/api/clients/{client.id}/extend"
    assert api.post(path, {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
    theirs = other.post(path, {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs  # not someone else's answer
    assert AuditLog.objects.filter(action="client.extend", entity_id=client.id).count() == 2
    assert set(IdempotencyKey.objects.values_list("principal", flat=True)) == {f"staff:{staff_user.pk}", f"staff:{other_user.pk}"}


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é-accent", "new\nline"])
def test_a_key_that_is_not_1_to_255_printable_ascii_is_400_and_writes_nothing(api, key):
    client = make_client("bad-key@example.com")
    before = state(client.id)
    response = api.post(f"/api/clients/{client.id}/extend", {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]
    assert state(client.id) == before and not IdempotencyKey.objects.exists()


def test_every_write_route_but_sign_in_refresh_and_logout_replays_with_its_key(api):
    """Walk the API's routes: each POST/PATCH/DELETE handler of the viewsets is @idempotent."""
    writes = {"create", "partial_update", "destroy", "extend", "demos", "revoke_demo"}
    for viewset in (views.ClientViewSet, views.DemoViewSet, views.AuditLogViewSet):
        for name in writes & set(dir(viewset)):
            assert getattr(getattr(viewset, name), "idempotent", False), f"{viewset.__name__}.{name}"
    sign_in = {"token", "token-refresh", "token-verify", "logout", "client-login", "client-refresh"}
    names = {pattern.name for pattern in get_resolver("clients.api.urls").url_patterns}
    assert sign_in <= names
    client = make_client("walk@example.com")
    calls = [
        ("post", f"/api/clients/{client.id}/demos", {"demo": "pricing-lab"}),
        ("delete", f"/api/clients/{client.id}/demos/pricing-lab", None),
        ("patch", f"/api/clients/{client.id}", {"notes": "walked"}),
        ("delete", f"/api/clients/{client.id}", None),
    ]
    for index, (method, path, body) in enumerate(calls):
        first = getattr(api, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"walk-{index}")
        rows = AuditLog.objects.count()
        again = getattr(api, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"walk-{index}")
        assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (first.status_code, first.json(), "true"), path
        assert AuditLog.objects.count() == rows


def test_sign_in_answers_are_never_stored(anon_api):
    make_client("signs-in@example.com")
    Client.objects.filter(email="signs-in@example.com").update(password_hash=HASH)
    body = {"email": "signs-in@example.com", "password": "ltplabs-demo"}
    assert anon_api.post("/api/client-auth/login", body, format="json", HTTP_IDEMPOTENCY_KEY="login").status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_prune_removes_keys_older_than_idempotency_hours_and_an_expired_key_is_new_again(api, staff_user):
    client = make_client("prune@example.com")
    path = f"/api/clients/{client.id}/extend"
    assert api.post(path, {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="old").status_code == 200
    assert api.post(path, {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="fresh").status_code == 200
    with override_settings(IDEMPOTENCY_HOURS=24):
        IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
        again = api.post(path, {"days": 1}, format="json", HTTP_IDEMPOTENCY_KEY="old")  # expired: a new request
        assert again.status_code == 200 and "Idempotent-Replayed" not in again
        IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
        assert idempotency.prune_idempotency_keys(timezone.now()) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert AuditLog.objects.filter(action="client.extend", entity_id=client.id).count() == 3


# --- ETag, If-None-Match, If-Match ------------------------------------------------------------


def test_get_sends_an_etag_and_if_none_match_with_it_is_304(api):
    client = make_client("etag@example.com")
    first = api.get(f"/api/clients/{client.id}")
    etag = first["ETag"]
    assert etag.startswith('"') and etag == rules.client_etag(Client.objects.get(pk=client.pk))
    not_modified = api.get(f"/api/clients/{client.id}", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    services.client_update(actor=services.Actor.system(), client_id=client.id, changes={"notes": "moved"})
    changed = api.get(f"/api/clients/{client.id}", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("patch", "", {"name": "Stale"}), ("delete", "", None), ("post", "/extend", {"days": 30})],
    ids=["PATCH", "DELETE", "extend"],
)
def test_if_match_with_another_version_is_412_and_writes_nothing(api, method, suffix, body):
    client = make_client("if-match@example.com")
    seen = api.get(f"/api/clients/{client.id}")["ETag"]
    # Another staff member's change, made after `seen` was read, within the same second.
    services.client_update(actor=services.Actor.system(), client_id=client.id, changes={"notes": "theirs"})
    before = state(client.id)
    response = getattr(api, method)(f"/api/clients/{client.id}{suffix}", body, format="json", HTTP_IF_MATCH=seen)
    assert response.status_code == 412 and "changed" in response.json()["error"]
    assert state(client.id) == before
    current = api.get(f"/api/clients/{client.id}")["ETag"]
    assert getattr(api, method)(f"/api/clients/{client.id}{suffix}", body, format="json", HTTP_IF_MATCH=current).status_code == 200


def test_a_sign_in_does_not_change_the_etag(api):
    client = make_client("login-etag@example.com")
    etag = api.get(f"/api/clients/{client.id}")["ETag"]
    services.client_login(email="login-etag@example.com", password="ltplabs-demo")
    assert api.get(f"/api/clients/{client.id}")["ETag"] == etag


# --- one rule for deactivation ------------------------------------------------------------------


@pytest.mark.parametrize("is_active", [False, True], ids=["deactivate", "reactivate"])
def test_changing_is_active_needs_the_delete_permission_as_delete_does(is_active):
    editor = APIClient()
    editor.credentials(HTTP_AUTHORIZATION=bearer(make_staff("editor", [p for p in ALL_CLIENT_PERMS if p != "clients.delete_client"])))
    client = make_client("activation@example.com")
    Client.objects.filter(pk=client.pk).update(is_active=not is_active)
    before = state(client.id)
    assert editor.delete(f"/api/clients/{client.id}").status_code == 403
    response = editor.patch(f"/api/clients/{client.id}", {"is_active": is_active}, format="json")
    assert response.status_code == 403 and "delete clients" in response.json()["error"]
    assert state(client.id) == before
    assert editor.patch(f"/api/clients/{client.id}", {"notes": "allowed"}, format="json").status_code == 200


# --- 409 from the UNIQUE indexes ------------------------------------------------------------------


def test_an_integrity_error_the_service_did_not_expect_is_409_not_503(api):
    client = make_client("integrity@example.com")
    # The audit log's append-only trigger refuses an UPDATE with an integrity error on both
    # backends: the view of a write that loses to a constraint.
    from django.db import connection

    from ltplabs.api.errors import api_exception_handler

    with pytest.raises(IntegrityError) as caught, connection.cursor() as cursor:
        cursor.execute("UPDATE audit_log SET action = 'x' WHERE entity_id = %s", [client.id])
    response = api_exception_handler(caught.value, {"request": type("R", (), {"path": "/api/x"})()})
    assert response.status_code == 409 and "Retry-After" not in response


def test_a_grant_that_loses_to_the_unique_index_is_409(api):
    client = make_client("unique@example.com", demos=["pricing-lab"])
    rows = AuditLog.objects.count()
    response = api.post(f"/api/clients/{client.id}/demos", {"demo": "pricing-lab"}, format="json")
    assert response.status_code == 409 and AuditLog.objects.count() == rows


# --- the audit log's cursor -------------------------------------------------------------------------


def test_audit_cursor_pages_walk_every_entry_newest_first_and_offset_stops_at_ten_thousand(api):
    for index in range(7):
        services.audit(actor=services.Actor.system(), action="test.page", entity_type="client", entity_id=index)
    services.audit(actor=services.Actor.system(), action="test.page", entity_type="demo", entity_id=1)
    expected = list(AuditLog.objects.filter(entity_type="client").order_by("-id").values_list("id", flat=True))
    seen, cursor = [], None
    for _page in range(len(expected) + 1):  # a cursor that goes nowhere ends the walk too
        page = api.get("/api/audit-log", {"entity_type": "client", "limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [row["id"] for row in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    too_deep = api.get("/api/audit-log?offset=10001")
    assert too_deep.status_code == 400 and "cursor" in too_deep.json()["error"]
    assert api.get("/api/audit-log?offset=10000").status_code == 200
    assert api.get("/api/audit-log?cursor=not-a-cursor!").status_code == 400
