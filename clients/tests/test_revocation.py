"""Client tokens that end: logout, a password change, Sign out everywhere, deactivation (and a
reactivation that revives nothing), refresh rotation with reuse detection, the session's end."""

import time

import pytest
from rest_framework.test import APIClient

from clients import services
from clients.models import AuditLog, Client, RevokedToken, TokenCutoff
from clients.tests.test_api import HASH

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def nothing_remembered(monkeypatch):
    from clients import revocation

    monkeypatch.setattr(revocation, "_seen", {})
    monkeypatch.setattr(revocation, "FRESH_SECONDS", 0.0)  # this process rereads at once: one process stands for all


def signed_in(email: str = "me@example.com", password: str = "ltplabs-demo") -> tuple[Client, dict]:
    client = Client.objects.filter(email=email).first() or services.client_create(
        actor=services.Actor.system(), name="Me", email=email, password_hash=HASH
    )
    answer = APIClient().post("/api/client-auth/login", {"email": email, "password": password}, format="json")
    assert answer.status_code == 200, answer.content
    return client, answer.json()


def me(access: str) -> int:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {access}").get("/api/me").status_code


def refresh(token: str):
    return APIClient().post("/api/client-auth/refresh", {"refresh": token}, format="json")


def test_client_logout_ends_that_refresh_and_that_access_token_only():
    _, pair = signed_in()
    _, other = signed_in()
    answer = APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access']}").post(
        "/api/client-auth/logout", {"refresh": pair["refresh"]}, format="json"
    )
    assert answer.status_code == 200
    assert me(pair["access"]) == 401 and refresh(pair["refresh"]).status_code == 401
    assert me(other["access"]) == 200


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_whole_sign_in():
    _, pair = signed_in()
    _, other = signed_in()
    rotated = refresh(pair["refresh"]).json()
    assert rotated["refresh"] != pair["refresh"] and me(rotated["access"]) == 200
    assert refresh(pair["refresh"]).status_code == 401  # the replay
    assert me(rotated["access"]) == 401 and refresh(rotated["refresh"]).status_code == 401
    assert me(other["access"]) == 200  # another sign-in of the same client goes on
    assert RevokedToken.objects.filter(kind="family").count() == 1


def test_a_refresh_chain_ends_session_max_hours_after_its_sign_in(settings):
    _, pair = signed_in()
    settings.JWT_SESSION_MAX_HOURS = 0
    time.sleep(0.01)  # auth_time strictly in the past: an ordering, not a timing
    assert refresh(pair["refresh"]).status_code == 401


def test_password_change_ends_every_other_token_and_is_audited():
    client, pair = signed_in()
    _, other = signed_in()
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    wrong = api.post("/api/me/password", {"current_password": "not-it-at-all", "new_password": "brand-new-pass"}, format="json")
    assert wrong.status_code == 401 and me(other["access"]) == 200
    answer = api.post("/api/me/password", {"current_password": "ltplabs-demo", "new_password": "brand-new-pass"}, format="json")
    assert answer.status_code == 200
    assert me(pair["access"]) == 401 and me(other["access"]) == 401 and refresh(other["refresh"]).status_code == 401
    assert me(answer.json()["access"]) == 200
    assert AuditLog.objects.filter(action="client.password_change", entity_id=client.id).count() == 1
    signed_in(password="brand-new-pass")


def test_deactivation_and_sign_out_everywhere_end_tokens_and_reactivation_revives_none():
    client, pair = signed_in()
    services.client_deactivate(actor=services.Actor.system(), client_id=client.id)
    services.client_reactivate(actor=services.Actor.system(), client_id=client.id)
    assert me(pair["access"]) == 401 and refresh(pair["refresh"]).status_code == 401
    _, fresh = signed_in()
    assert me(fresh["access"]) == 200
    services.client_sign_out_everywhere(actor=services.Actor.system(), client_id=client.id)
    assert me(fresh["access"]) == 401
    assert TokenCutoff.objects.filter(subject=f"client:{client.id}").exists()
    assert AuditLog.objects.filter(action="client.sign_out_everywhere", entity_id=client.id).count() == 1


def test_staff_sign_in_sign_out_password_and_permission_changes_are_audited():
    from django.contrib.auth.models import Permission

    from tests.fixtures import make_staff

    user = make_staff("audited")
    api = APIClient(REMOTE_ADDR="192.0.2.9")
    pair = api.post("/api/auth/token", {"username": "audited", "password": "staff-pass-123"}, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 200
    user.set_password("another-pass-456")
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="change_client"))
    user.is_superuser = True
    user.save()
    rows = list(AuditLog.objects.filter(entity_type="staff_user", entity_id=user.id).order_by("id").values_list("action", "ip_address"))
    assert rows == [
        ("staff.login", "192.0.2.9"),
        ("staff.logout", "192.0.2.9"),
        ("staff.password_change", None),
        ("staff.permissions_change", None),
        ("staff.permissions_change", None),
    ]
