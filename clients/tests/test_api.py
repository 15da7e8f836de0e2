"""Every route of /api/: statuses, permissions and the {"success": …} envelope."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from clients import rules, services
from clients.legacy_time import parse_time
from clients.models import AuditLog, Client, ClientDemoAccess, Demo, now
from tests.fixtures import bearer, make_staff

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


def new_client(api, **fields):
    body = {"name": "Maria Santos", "email": "maria@example.com", "password_hash": HASH, **fields}
    return api.post("/api/clients", body, format="json")


def make_client(email: str, **fields) -> Client:
    return services.client_create(
        actor=services.Actor.system(), name=fields.pop("name", "Client"), email=email, password_hash=HASH, **fields
    )


def no_hash_anywhere(payload) -> bool:
    text = json.dumps(payload)
    return "password_hash" not in text and "$2b$" not in text


# --- clients ----------------------------------------------------------------------------


def test_create_answers_201_with_client_id_and_data(api):
    response = new_client(api, company="NOS", phone="+351 910000000", access_days=15, demos=["pricing-lab"])
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["clientId"] == body["data"]["id"]
    data = body["data"]
    assert data["email"] == "maria@example.com" and data["company"] == "NOS" and data["demo_count"] == 1
    assert data["status"] == "active" and data["days_remaining"] in (14, 15)
    assert len(data["created_at"]) == 19 and "T" not in data["created_at"]
    assert no_hash_anywhere(body)
    assert AuditLog.objects.filter(action="client.create", entity_id=data["id"]).count() == 1


def test_create_with_a_plain_password_hashes_it(api):
    response = new_client(api, password_hash=None, password="a good password")
    assert response.status_code == 400  # both keys given (one null): ambiguous
    body = {"name": "P", "email": "plain@example.com", "password": "a good password"}
    response = api.post("/api/clients", body, format="json")
    assert response.status_code == 201
    assert Client.objects.get(email="plain@example.com").password_hash.startswith("$2b$")


def test_password_over_72_bytes_is_400_not_500(api):
    response = api.post("/api/clients", {"name": "P", "email": "long@example.com", "password": "ü" * 40}, format="json")
    assert response.status_code == 400
    assert response.json()["details"]["password"]
    assert not Client.objects.filter(email="long@example.com").exists()


def test_duplicate_email_in_other_case_is_409(api):
    assert new_client(api).status_code == 201
    response = new_client(api, email="MARIA@example.COM")
    assert response.status_code == 409
    assert response.json() == {"success": False, "error": "A client with this e-mail already exists."}


def test_create_answers_what_a_read_of_the_client_gives(api):
    # The create's answer is built from the values written (no read-back query): it must be
    # exactly what GET /api/clients/{id} reads, cleaned values, counts and times included.
    response = new_client(api, name="  Ana Ñ  ", email="Ana.Case@Example.COM", company="", phone=None,
                          notes="first call", access_days=7, demos=["pricing-lab", "route-optimizer", "pricing-lab"])  # fmt: skip
    assert response.status_code == 201
    created = response.json()["data"]
    assert created["name"] == "Ana Ñ" and created["company"] is None and created["demo_count"] == 2
    assert_reads_the_same(api, created)
    plain = new_client(api, email="plain.create@example.com").json()["data"]
    assert plain["demo_count"] == 0
    assert_reads_the_same(api, plain)


def assert_reads_the_same(api, created: dict) -> None:
    """`created` equals a read of the client, days_remaining as of that read: the read may fall in a
    later second than the create, and a whole day from then can then be one day less (SQLite's view
    counts from the gateway's second, PostgreSQL's from its statement's microsecond). Either way
    the figure must be what rules.days_remaining gives for a moment the read spanned."""
    end = parse_time(created["access_end_date"])
    before = timezone.now()
    read = api.get(f"/api/clients/{created['id']}").json()["data"]
    after = timezone.now()
    assert {**created, "days_remaining": None} == {**read, "days_remaining": None}
    assert rules.days_remaining(end, after) <= read["days_remaining"] <= rules.days_remaining(end, before.replace(microsecond=0))
    assert created["days_remaining"] == rules.days_remaining(end, parse_time(created["created_at"]))


def test_unknown_demo_slug_is_400_and_nothing_written(api):
    before = (Client.objects.count(), AuditLog.objects.count())
    response = new_client(api, demos=["nope"])
    assert response.status_code == 400
    assert response.json()["details"]["demo"]
    assert (Client.objects.count(), AuditLog.objects.count()) == before


@pytest.mark.parametrize(
    "fields,bad",
    [({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"email": "not-an-email"}, "email"), ({"access_days": 0}, "access_days"),
     ({"access_days": 3651}, "access_days"), ({"demos": "pricing-lab"}, "demos"), ({"password_hash": "plain"}, "password_hash")],
)  # fmt: skip
def test_bad_fields_are_400_naming_the_field(api, fields, bad):
    response = new_client(api, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and bad in body["details"] and body["error"]


def test_fields_the_caller_may_not_set_are_refused(api):
    response = new_client(api, id=5, created_by=99, created_at="2020-01-01 00:00:00")
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"id", "created_by", "created_at"}
    assert not Client.objects.filter(email="maria@example.com").exists()


def test_malformed_json_is_400_wrong_type_415_and_big_body_413(api):
    response = api.post("/api/clients", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "The request body is not valid JSON."
    response = api.post("/api/clients", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["success"] is False
    big = json.dumps({"name": "B", "email": "big@example.com", "password_hash": HASH, "notes": "x" * (1024 * 1024)})
    response = api.post("/api/clients", big, content_type="application/json")
    assert response.status_code == 413 and response.json()["success"] is False
    response = api.post("/api/clients", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert not Client.objects.exists()


def test_list_is_the_active_view_newest_first_with_pagination(api):
    older = make_client("older@example.com")
    Client.objects.filter(pk=older.pk).update(created_at=now() - timedelta(days=3))
    newer = make_client("newer@example.com")
    gone = make_client("gone@example.com")
    services.client_deactivate(actor=services.Actor.system(), client_id=gone.id)
    response = api.get("/api/clients")
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["data"]] == [newer.id, older.id]
    assert body["pagination"] == {"limit": 100, "offset": 0, "count": 2, "has_more": False, "next_offset": None, "next_cursor": None}
    assert no_hash_anywhere(body)


def test_status_filter_selects_active_expired_inactive_or_all(api):
    active = make_client("a@example.com")
    expired = make_client("e@example.com")
    Client.objects.filter(pk=expired.pk).update(access_end_date=now() - timedelta(days=1))
    inactive = make_client("i@example.com")
    services.client_deactivate(actor=services.Actor.system(), client_id=inactive.id)
    ids = {
        status: {row["id"] for row in api.get(f"/api/clients?status={status}").json()["data"]}
        for status in ("active", "expired", "inactive", "all")
    }
    assert ids == {"active": {active.id}, "expired": {expired.id}, "inactive": {inactive.id}, "all": {active.id, expired.id, inactive.id}}
    rows = {row["id"]: row["status"] for row in api.get("/api/clients?status=all").json()["data"]}
    assert rows == {active.id: "active", expired.id: "expired", inactive.id: "inactive"}
    assert api.get("/api/clients?status=bogus").status_code == 400


def test_search_matches_name_email_company_and_escapes_wildcards(api):
    make_client("percent@example.com", name="100% Real", company="Acme")
    make_client("plain@example.com", name="Plain Name", company="Under_score")
    make_client("other@example.com", name="Other", company="Underxscore")

    def found(term):
        return sorted(row["email"] for row in api.get("/api/clients", {"search": term}).json()["data"])

    assert found("%") == ["percent@example.com"]
    assert found("_") == ["plain@example.com"]
    assert found("under_") == ["plain@example.com"]
    assert found("PLAIN") == ["plain@example.com"]
    assert found("acme") == ["percent@example.com"]
    assert [r["email"] for r in api.get("/api/clients", {"company": "Acme"}).json()["data"]] == ["percent@example.com"]


def test_offset_and_cursor_pages_walk_the_same_rows(api):
    for index in range(7):
        client = make_client(f"page{index}@example.com")
        Client.objects.filter(pk=client.pk).update(created_at=now() - timedelta(minutes=index // 2))  # ties on created_at
    everything = [row["id"] for row in api.get("/api/clients?limit=1000").json()["data"]]
    by_offset, offset = [], 0
    while True:
        page = api.get(f"/api/clients?limit=3&offset={offset}").json()
        by_offset += [row["id"] for row in page["data"]]
        if not page["pagination"]["has_more"]:
            break
        offset = page["pagination"]["next_offset"]
    by_cursor, url = [], "/api/clients?limit=3"
    while url:
        page = api.get(url).json()
        by_cursor += [row["id"] for row in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        url = f"/api/clients?limit=3&cursor={cursor}" if cursor else None
    assert by_offset == by_cursor == everything and len(everything) == 7


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=abc", "offset=99999999999999999999", "cursor=garbage!"])
def test_bad_pagination_is_400(api, query):
    response = api.get(f"/api/clients?{query}")
    assert response.status_code == 400 and response.json()["success"] is False


def test_retrieve_any_status_and_404_for_unknown(api):
    client = make_client("r@example.com", notes="VIP")
    services.client_deactivate(actor=services.Actor.system(), client_id=client.id)
    response = api.get(f"/api/clients/{client.id}")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "inactive" and response.json()["data"]["notes"] == "VIP"
    assert no_hash_anywhere(response.json())
    missing = api.get("/api/clients/999999")
    assert missing.status_code == 404 and missing.json() == {"success": False, "error": "Client not found."}


def test_patch_changes_allowed_fields_and_audits_before_after(api):
    client = make_client("p@example.com")
    response = api.patch(f"/api/clients/{client.id}", {"company": "CTT", "access_end_date": "2031-01-02 03:04:05"}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["company"] == "CTT" and response.json()["data"]["access_end_date"] == "2031-01-02 03:04:05"
    entry = AuditLog.objects.get(action="client.update", entity_id=client.id)
    assert entry.details["after"] == {"company": "CTT", "access_end_date": "2031-01-02 03:04:05"}
    assert (entry.actor_type, entry.ip_address) == ("staff", "127.0.0.1")


def test_patch_refuses_password_hash_and_other_fields(api):
    client = make_client("m@example.com")
    response = api.patch(f"/api/clients/{client.id}", {"password_hash": "$2b$10$" + "x" * 53, "email": "x@example.com"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"password_hash", "email"}
    client.refresh_from_db()
    assert client.password_hash == HASH and client.email == "m@example.com"


def test_put_is_405(api):
    client = make_client("put@example.com")
    response = api.put(f"/api/clients/{client.id}", {"name": "x"}, format="json")
    assert response.status_code == 405 and response.json()["success"] is False


def test_delete_deactivates_and_keeps_the_row(api):
    client = make_client("d@example.com")
    response = api.delete(f"/api/clients/{client.id}")
    assert response.status_code == 200 and response.json()["data"]["status"] == "inactive"
    client.refresh_from_db()
    assert client.is_active is False
    assert AuditLog.objects.filter(action="client.deactivate", entity_id=client.id).exists()


def test_extend_moves_the_end_date(api):
    client = make_client("x@example.com", access_days=10)
    response = api.post(f"/api/clients/{client.id}/extend", {"days": 20}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["days_remaining"] in (29, 30)
    assert api.post(f"/api/clients/{client.id}/extend", {"days": 0}, format="json").status_code == 400
    assert api.post("/api/clients/999999/extend", {"days": 1}, format="json").status_code == 404


def test_demo_access_list_grant_and_revoke(api):
    client = make_client("g@example.com", demos=["pricing-lab"])
    listed = api.get(f"/api/clients/{client.id}/demos").json()["data"]
    assert [row["demo"] for row in listed] == ["pricing-lab"]
    response = api.post(f"/api/clients/{client.id}/demos", {"demo": "route-optimizer", "expires_at": "2030-01-01 00:00:00"}, format="json")
    assert response.status_code == 201
    assert response.json()["data"] | {"granted_at": None} == {
        "demo": "route-optimizer", "name": "Route Optimizer", "url": "https://demos.ltplabs.example/route-optimizer",
        "granted_at": None, "expires_at": "2030-01-01 00:00:00", "granted_by": response.wsgi_request.user.id,
        "access_count": 0, "last_accessed_at": None,
    }  # fmt: skip
    assert api.post(f"/api/clients/{client.id}/demos", {"demo": "route-optimizer"}, format="json").status_code == 409
    assert api.post(f"/api/clients/{client.id}/demos", {"demo": "no-such"}, format="json").status_code == 400
    assert api.delete(f"/api/clients/{client.id}/demos/route-optimizer").json() == {"success": True}
    assert api.delete(f"/api/clients/{client.id}/demos/route-optimizer").status_code == 404
    assert api.get("/api/clients/999999/demos").status_code == 404
    assert ClientDemoAccess.objects.filter(client=client).count() == 1


def test_demos_and_usage(api):
    demos = api.get("/api/demos").json()
    assert [d["slug"] for d in demos["data"]][:2] == ["route-optimizer", "demand-forecast"] and len(demos["data"]) == 6
    make_client("u@example.com", demos=["pricing-lab"])
    usage = {row["slug"]: row for row in api.get("/api/demos/usage").json()["data"]}
    assert usage["pricing-lab"]["clients_with_access"] == 1 and usage["pricing-lab"]["total_accesses"] == 0


def test_audit_log_filters_newest_first(api):
    first = make_client("a1@example.com")
    second = make_client("a2@example.com")
    services.client_extend(actor=services.Actor.system(), client_id=first.id, days=1)
    rows = api.get("/api/audit-log").json()["data"]
    assert [row["action"] for row in rows[:3]] == ["client.extend", "client.create", "client.create"]
    only = api.get(f"/api/audit-log?entity_type=client&entity_id={second.id}").json()["data"]
    assert [(row["action"], row["entity_id"]) for row in only] == [("client.create", second.id)]
    assert {row["action"] for row in api.get("/api/audit-log?action=client.extend").json()["data"]} == {"client.extend"}
    future = (now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert api.get(f"/api/audit-log?since={future}").json()["data"] == []
    assert len(api.get(f"/api/audit-log?until={future}&actor_type=system&entity_type=client").json()["data"]) == 3
    assert api.get("/api/audit-log?since=yesterday").status_code == 400


# --- authentication and permissions -------------------------------------------------------


def test_no_token_is_401_and_garbage_token_is_401(anon_api):
    response = anon_api.get("/api/clients")
    assert response.status_code == 401 and response.json()["success"] is False
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert anon_api.get("/api/clients").status_code == 401


def test_view_only_staff_reads_and_gets_403_on_every_write(viewer_api):
    client = make_client("v@example.com")
    assert viewer_api.get("/api/clients").status_code == 200
    assert viewer_api.get(f"/api/clients/{client.id}").status_code == 200
    assert viewer_api.get(f"/api/clients/{client.id}/demos").status_code == 200
    assert viewer_api.get("/api/audit-log").status_code == 200
    writes = [
        viewer_api.post("/api/clients", {"name": "n", "email": "n@example.com", "password_hash": HASH}, format="json"),
        viewer_api.patch(f"/api/clients/{client.id}", {"name": "n"}, format="json"),
        viewer_api.delete(f"/api/clients/{client.id}"),
        viewer_api.post(f"/api/clients/{client.id}/extend", {"days": 1}, format="json"),
        viewer_api.post(f"/api/clients/{client.id}/demos", {"demo": "pricing-lab"}, format="json"),
        viewer_api.delete(f"/api/clients/{client.id}/demos/pricing-lab"),
    ]
    assert [response.status_code for response in writes] == [403] * 6
    assert all(response.json()["success"] is False for response in writes)
    client.refresh_from_db()
    assert client.name == "Client" and client.is_active


def test_staff_without_view_permission_gets_403_on_reads():
    user = make_staff("noperm")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert api.get("/api/clients").status_code == 403
    assert api.get("/api/audit-log").status_code == 403


def test_non_staff_users_get_no_token_and_their_tokens_are_refused(anon_api, django_user_model):
    user = django_user_model.objects.create_user(username="plain", password="plain-pass-123")
    response = anon_api.post("/api/auth/token", {"username": "plain", "password": "plain-pass-123"}, format="json")
    assert response.status_code == 401 and response.json()["success"] is False
    anon_api.credentials(HTTP_AUTHORIZATION=bearer(user))
    assert anon_api.get("/api/clients").status_code in (401, 403)


def test_staff_token_refresh_rotates_and_blacklists_the_old_one(anon_api, staff_user):
    pair = anon_api.post("/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json").json()
    assert pair["success"] is True and pair["access"] and pair["refresh"]
    rotated = anon_api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert rotated.status_code == 200 and rotated.json()["refresh"] != pair["refresh"]
    again = anon_api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401 and again.json()["success"] is False
    assert anon_api.post("/api/auth/token/verify", {"token": rotated.json()["access"]}, format="json").status_code == 200
    assert anon_api.post("/api/auth/token/verify", {"token": "x.y.z"}, format="json").status_code == 401


def test_logout_blacklists_the_refresh_token(anon_api, staff_user):
    pair = anon_api.post("/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json").json()
    assert anon_api.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 200
    assert anon_api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_deactivated_staff_users_token_stops_working(api, staff_user):
    assert api.get("/api/clients").status_code == 200
    staff_user.is_active = False
    staff_user.save()
    assert api.get("/api/clients").status_code == 401


# --- client sign-in -------------------------------------------------------------------------


def client_login(anon_api, email, password="ltplabs-demo"):
    return anon_api.post("/api/client-auth/login", {"email": email, "password": password}, format="json")


def test_client_login_gives_tokens_naming_the_client_and_its_demos(anon_api):
    from clients.api.tokens import ClientAccessToken

    client = make_client("c@example.com", demos=["pricing-lab", "inventory-sim"])
    Demo.objects.filter(slug="inventory-sim").update(is_active=False)  # disabled after the grant
    response = client_login(anon_api, "C@EXAMPLE.com")
    assert response.status_code == 200
    claims = ClientAccessToken(response.json()["access"]).payload
    assert claims["client_id"] == client.id and claims["demos"] == ["pricing-lab"] and claims["token_type"] == "client_access"
    assert claims["aud"] == "ltplabs-client" and claims["iss"] == "ltplabs-gateway"
    assert AuditLog.objects.filter(action="client.login", entity_id=client.id, actor_type="client").count() == 1


def test_client_login_refusals_are_one_401(anon_api):
    make_client("c@example.com")
    answers = [client_login(anon_api, "c@example.com", "wrong-pass").json(), client_login(anon_api, "nobody@example.com").json()]
    assert answers == [{"success": False, "error": "Invalid e-mail or password."}] * 2


def test_me_shows_the_clients_profile_and_demos(anon_api):
    make_client("me@example.com", demos=["pricing-lab"], notes="staff only")
    access = client_login(anon_api, "me@example.com").json()["access"]
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    body = anon_api.get("/api/me").json()
    assert body["data"]["client"]["email"] == "me@example.com" and "notes" not in body["data"]["client"]
    assert [row["demo"] for row in body["data"]["demos"]] == ["pricing-lab"]
    assert no_hash_anywhere(body)


def test_a_token_of_the_wrong_kind_is_403_saying_which_kind(anon_api, staff_user):
    make_client("ct@example.com")
    access = client_login(anon_api, "ct@example.com").json()["access"]
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    wrong_kind = {"success": False, "error": "A client token cannot be used on staff routes."}
    for route in ("/api/clients", "/api/demos", "/api/audit-log"):
        response = anon_api.get(route)
        assert (response.status_code, response.json()) == (403, wrong_kind)
    anon_api.credentials(HTTP_AUTHORIZATION=bearer(staff_user))
    response = anon_api.get("/api/me")
    assert (response.status_code, response.json()) == (403, {"success": False, "error": "A staff token cannot be used on client routes."})


def test_a_bad_token_is_still_401_invalid_on_both_kinds_of_route(anon_api, staff_user):
    from rest_framework_simplejwt.tokens import AccessToken

    expired = AccessToken.for_user(staff_user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    for token in ("not.a.token", str(expired), str(AccessToken.for_user(staff_user)).rsplit(".", 1)[0] + "." + "A" * 43):
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        for route in ("/api/clients", "/api/me"):
            response = anon_api.get(route)
            assert response.status_code == 401, (token, route)
            assert "cannot be used" not in response.json()["error"]


def test_deactivated_clients_token_stops_working_at_once(anon_api):
    client = make_client("off@example.com")
    pair = client_login(anon_api, "off@example.com").json()
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert anon_api.get("/api/me").status_code == 200
    services.client_deactivate(actor=services.Actor.system(), client_id=client.id)
    assert anon_api.get("/api/me").status_code == 401
    anon_api.credentials()
    assert anon_api.post("/api/client-auth/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_client_refresh_gives_a_new_access_token(anon_api):
    make_client("rf@example.com")
    pair = client_login(anon_api, "rf@example.com").json()
    response = anon_api.post("/api/client-auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200 and response.json()["access"]
    assert anon_api.post("/api/client-auth/refresh", {"refresh": pair["access"]}, format="json").status_code == 401


def test_client_login_is_throttled_per_email(anon_api, throttle_rates):
    throttle_rates(client_login_email="5/min", login_address="30/min")
    make_client("t@example.com")
    codes = [client_login(anon_api, "t@example.com", "wrong-pass").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    response = client_login(anon_api, "t@example.com")
    assert response.status_code == 429 and response.json()["success"] is False and response["Retry-After"]


def test_each_test_counts_sign_ins_in_an_empty_cache_of_its_own(own_cache, anon_api, throttle_rates):
    from django.core.cache import cache

    assert Path(cache._dir) == own_cache and not any(own_cache.iterdir())  # nothing left by the tests before
    throttle_rates(client_login_email="5/min", login_address="30/min")
    client_login(anon_api, "counted@example.com", "wrong-pass")
    assert any(own_cache.iterdir())


# --- read-only gateway, errors, description ---------------------------------------------------


def test_read_only_gateway_reads_and_refuses_writes_with_503(api, anon_api):
    client = make_client("ro@example.com")
    with override_settings(DATABASE_READ_ONLY=True):
        assert api.get("/api/clients").status_code == 200
        for response in (
            new_client(api),
            api.patch(f"/api/clients/{client.id}", {"name": "n"}, format="json"),
            api.post(f"/api/clients/{client.id}/extend", {"days": 1}, format="json"),
        ):
            assert response.status_code == 503
            assert "read-only" in response.json()["error"]
        login = client_login(anon_api, "ro@example.com")
        assert login.status_code == 200
    assert not AuditLog.objects.filter(action="client.login").exists()


def test_every_answer_has_a_request_id(api, anon_api):
    assert api.get("/api/clients")["X-Request-ID"]
    assert anon_api.get("/api/clients")["X-Request-ID"]
    assert api.get("/api/clients", HTTP_X_REQUEST_ID="trace-42")["X-Request-ID"] == "trace-42"


def test_unknown_api_route_is_a_json_404(api, settings):
    settings.DEBUG = False
    response = api.get("/api/no-such-route")
    assert response.status_code == 404 and response.json() == {"success": False, "error": "Not found."}


def test_openapi_document_lists_every_route(anon_api):
    response = anon_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = set(json.loads(response.content)["paths"])
    expected = {
        "/api/auth/token", "/api/auth/token/refresh", "/api/auth/token/verify", "/api/auth/logout", "/api/clients",
        "/api/clients/{id}", "/api/clients/{id}/extend", "/api/clients/{id}/demos", "/api/clients/{id}/demos/{slug}",
        "/api/demos", "/api/demos/usage", "/api/audit-log", "/api/client-auth/login", "/api/client-auth/refresh", "/api/me",
    }  # fmt: skip
    assert expected <= paths, expected - paths
    assert anon_api.get("/api/docs/").status_code == 200


# --- what the API does not do for browsers, and what it answers in ------------------------


def test_api_requests_carry_no_session_csrf_or_message_state(api, staff_user, client):
    # Sessions, messages and CSRF are the admin's (ltplabs.http.middleware.browser_only): an API
    # answer sets no cookie and does not vary on one, even for a caller that sends cookies.
    api.cookies["sessionid"] = "not-a-session"
    api.cookies["csrftoken"] = "x" * 32
    response = new_client(api)
    assert response.status_code == 201
    assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "_messages")
    assert not response.cookies and "Cookie" not in response.get("Vary", "")
    assert response["X-Frame-Options"] == "DENY" and response["X-Request-ID"]  # the rest of the chain still runs
    # The admin keeps all of it: its login page sets the CSRF cookie and a login needs the token.
    page = client.get("/admin/login/")
    assert page.status_code == 200 and "csrftoken" in page.cookies
    assert hasattr(page.wsgi_request, "session") and hasattr(page.wsgi_request, "_messages")
    from django.test import Client as BrowserClient

    strict = BrowserClient(enforce_csrf_checks=True)
    refused = strict.post("/admin/login/", {"username": "staff", "password": "staff-pass-123"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "accept,status",
    [(None, 200), ("*/*", 200), ("application/json", 200), ("application/json; indent=2", 200), ("text/html", 406)],
)
def test_content_negotiation_answers_json_or_406(api, accept, status):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api.get("/api/clients?limit=1", **headers)
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["success"] is True
        assert ("\n  " in response.content.decode()) == ("indent" in (accept or ""))
    assert api.get("/api/clients?limit=1&format=json").status_code == 200
    assert api.get("/api/clients?limit=1&format=xml").status_code == 404


def test_an_access_token_is_refused_once_expired_although_it_was_accepted_before(api, staff_user):
    # Verified tokens are remembered per process (clients.api.authentication); their expiry is not.
    import time

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(staff_user)
    # exp is whole seconds (it can fall up to 1 s before now + lifetime): 3 s leaves the two
    # requests below at least 2 s, on a slow database too.
    token.set_exp(lifetime=timedelta(seconds=3))
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert caller.get("/api/clients?limit=1").status_code == 200
    assert caller.get("/api/clients?limit=1").status_code == 200  # the remembered one
    time.sleep(max(0.0, token["exp"] - time.time()) + 0.05)
    assert caller.get("/api/clients?limit=1").status_code == 401
    # A token differing in its signature is another token: checked, and refused.
    good = str(AccessToken.for_user(staff_user))
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert caller.get("/api/clients?limit=1").status_code == 200
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert caller.get("/api/clients?limit=1").status_code == 401


def test_an_answer_is_freed_when_sent_not_when_the_cyclic_collector_runs(staff_user):
    # DRF's Response and view refer to each other; ltplabs.api.views.GatewayView drops those
    # links once the body is rendered, so a worker does not hold old pages (bench/README.md).
    import gc
    import io
    import sys

    from django.core.handlers.wsgi import WSGIHandler
    from rest_framework.response import Response

    make_client("freed@example.com")
    application = WSGIHandler()

    def get(path: str, query: str = "") -> bytes:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "testserver",
                   "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
                   "wsgi.errors": sys.stderr, "HTTP_AUTHORIZATION": bearer(staff_user)}  # fmt: skip
        result = application(environ, lambda status, headers, exc_info=None: None)
        try:
            return b"".join(result)
        finally:
            result.close()

    def answers_alive() -> int:
        return sum(issubclass(type(item), Response) for item in gc.get_objects())

    # As Django's test client does: the test's transaction must outlive each request.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    gc.collect()
    gc.disable()
    try:
        before = answers_alive()
        for path, query in (("/api/clients", "limit=1000"), ("/api/clients", "status=all"), ("/api/audit-log", ""), ("/api/demos", "")):
            body = json.loads(get(path, query))
            assert body["success"] is True, body
        assert answers_alive() == before, (before, answers_alive())
    finally:
        gc.enable()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
