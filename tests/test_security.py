"""Attacks on the API: forged and misused tokens, guessing, mass assignment, enumeration,
hostile bodies and parameters, and the headers every answer carries. None may answer 5xx."""

import base64
import hashlib
import hmac
import json
import statistics
import time
from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from clients import services
from clients.api.views import ClientLoginView
from clients.models import AuditLog, Client
from tests.fixtures import ALL_CLIENT_PERMS, bearer, make_staff
from tests.reliability import record

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


def make_client(email: str, **fields) -> Client:
    return services.client_create(
        actor=services.Actor.system(), name=fields.pop("name", "Client"), email=email, password_hash=HASH, **fields
    )


def with_token(token: str | None) -> APIClient:
    api = APIClient()
    if token:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims: dict, *, alg: str = "HS256", key: bytes | None = None, signature: bytes | None = None) -> str:
    """A JWT made by hand: any header, any claims, any (or no) signature."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    if signature is None:
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(alg)
        signature = hmac.new(key, head.encode(), digest).digest() if key and digest else b""
    return f"{head}.{b64(signature)}"


def claims_of(user, **changes) -> dict:
    token = AccessToken.for_user(user)
    return {**token.payload, **changes}


def no_5xx(response) -> bool:
    return response.status_code < 500


# --- tokens ------------------------------------------------------------------------------------


def test_forged_misused_and_stale_tokens_are_all_refused(staff_user):
    secret = settings.SIMPLE_JWT["SIGNING_KEY"].encode()
    now = int(time.time())
    client = make_client("token-victim@example.com")
    client_access = APIClient().post("/api/client-auth/login", {"email": client.email, "password": "ltplabs-demo"}, format="json")
    client_pair = client_access.json()
    good = claims_of(staff_user)
    tampered = str(AccessToken.for_user(staff_user)).split(".")
    tampered[1] = b64(json.dumps({**good, "user_id": str(int(good["user_id"]) + 1000)}).encode())
    staff_routes = {
        "alg none": forge(good, alg="none"),
        "alg none, upper case": forge(good, alg="NONE"),
        "RS256 header (HS/RS confusion), made-up signature": forge(good, alg="RS256", signature=b"\x01" * 256),
        "HS512 signed with the real key (algorithm not allowed)": forge(good, alg="HS512", key=secret),
        "HS256 signed with the secret key of Django, not JWT_SECRET": forge(good, key=settings.SECRET_KEY.encode()),
        "HS256 signed with an empty key": forge(good, key=b""),
        "wrong key": forge(good, key=b"guessed-secret"),
        "claims changed, signature kept": ".".join(tampered),
        "expired": forge({**good, "exp": now - 60, "iat": now - 3600}, key=secret),
        "not yet valid (nbf in the future)": forge({**good, "nbf": now + 3600}, key=secret),
        "no expiry at all": forge({key: value for key, value in good.items() if key != "exp"}, key=secret),
        "user that does not exist": forge({**good, "user_id": "987654"}, key=secret),
        "staff refresh token used as access": str(RefreshToken.for_user(staff_user)),
        "client access token on a staff route": client_pair["access"],
        "client refresh token on a staff route": client_pair["refresh"],
        "token type forged to client_access with a staff user id": forge({**good, "token_type": "client_access"}, key=secret),
        "garbage": "not-a-jwt",
        "empty segments": "..",
    }
    answers = {}
    for name, token in staff_routes.items():
        answers[name] = with_token(token).get("/api/clients")
    client_route_tokens = {
        "staff access token on /api/me": str(AccessToken.for_user(staff_user)),
        "client refresh token on /api/me": client_pair["refresh"],
        "client token with alg none": forge({**claims_of(staff_user), "token_type": "client_access", "client_id": client.id}, alg="none"),
        "client token with a wrong key": forge(
            {**claims_of(staff_user), "token_type": "client_access", "client_id": client.id}, key=b"guessed-secret"
        ),
    }
    for name, token in client_route_tokens.items():
        answers[name] = with_token(token).get("/api/me")
    answers["client access token used as a client refresh"] = APIClient().post(
        "/api/client-auth/refresh", {"refresh": client_pair["access"]}, format="json"
    )
    answers["staff refresh token used as a client refresh"] = APIClient().post(
        "/api/client-auth/refresh", {"refresh": str(RefreshToken.for_user(staff_user))}, format="json"
    )
    statuses = {name: response.status_code for name, response in answers.items()}
    record("forged, misused or stale JWTs (alg none, HS/RS, wrong key, expired, nbf, refresh as access, …)", kind="attack",
           tries=len(statuses), answered=list(statuses.values()), rows_lost=None, integrity="n/a")  # fmt: skip
    assert {name: status for name, status in statuses.items() if status not in (401, 403)} == {}
    assert all(response.json()["success"] is False for response in answers.values())
    assert with_token(str(AccessToken.for_user(staff_user))).get("/api/clients").status_code == 200  # the real one works


def test_tokens_of_a_staff_user_since_deactivated_or_demoted_are_refused(anon_api):
    user = make_staff("leaver", ALL_CLIENT_PERMS)
    pair = anon_api.post("/api/auth/token", {"username": "leaver", "password": "staff-pass-123"}, format="json").json()
    assert with_token(pair["access"]).get("/api/clients").status_code == 200
    user.is_active = False
    user.save()
    deactivated = [
        with_token(pair["access"]).get("/api/clients"),
        anon_api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"),
    ]
    user.is_active, user.is_staff = True, False
    user.save()
    demoted = [
        with_token(pair["access"]).get("/api/clients"),
        anon_api.post("/api/auth/token", {"username": "leaver", "password": "staff-pass-123"}, format="json"),
    ]
    statuses = [response.status_code for response in [*deactivated, *demoted]]
    record("token of a staff user since deactivated or no longer staff", kind="attack", tries=len(statuses), answered=statuses,
           rows_lost=None, integrity="n/a")  # fmt: skip
    assert statuses == [401, 401, 401, 401]


# --- guessing passwords ------------------------------------------------------------------------


def test_staff_login_is_throttled_per_user_name_and_address_even_for_the_right_password(anon_api, staff_user, throttle_rates):
    throttle_rates(staff_login="10/min")
    wrong = [anon_api.post("/api/auth/token", {"username": "staff", "password": f"guess-{n}"}, format="json") for n in range(10)]
    right = anon_api.post("/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json")
    other_address = APIClient(REMOTE_ADDR="10.9.8.7").post(
        "/api/auth/token", {"username": "staff", "password": "staff-pass-123"}, format="json"
    )
    statuses = [response.status_code for response in [*wrong, right]]
    record("staff password guessing (POST /api/auth/token)", kind="attack", tries=len(statuses), answered=statuses, rows_lost=None,
           integrity="n/a")  # fmt: skip
    assert statuses == [401] * 10 + [429]
    assert right.json()["success"] is False and "access" not in right.json()
    assert int(right["Retry-After"]) > 0
    assert other_address.status_code == 200


def test_client_login_is_throttled_per_email_in_any_case_and_per_address(anon_api, throttle_rates):
    throttle_rates(client_login_email="5/min", login_address="30/min")
    make_client("guessed@example.com")
    spellings = ["guessed@example.com", "GUESSED@example.com", " guessed@EXAMPLE.com"]
    per_email = [
        anon_api.post("/api/client-auth/login", {"email": spellings[n % 3], "password": f"guess-{n}"}, format="json") for n in range(5)
    ]
    locked = anon_api.post("/api/client-auth/login", {"email": "guessed@example.com", "password": "ltplabs-demo"}, format="json")
    sprayer = APIClient(REMOTE_ADDR="10.1.2.3")
    spray = [
        sprayer.post("/api/client-auth/login", {"email": f"spray-{n}@example.com", "password": "x" * 8}, format="json") for n in range(31)
    ]
    statuses = [response.status_code for response in [*per_email, locked, *spray]]
    record("client password guessing and spraying (POST /api/client-auth/login)", kind="attack", tries=len(statuses),
           answered=statuses, rows_lost=None, integrity="n/a")  # fmt: skip
    assert [response.status_code for response in per_email] == [401] * 5
    assert locked.status_code == 429 and "access" not in locked.json()
    assert [response.status_code for response in spray] == [401] * 30 + [429]
    assert not AuditLog.objects.filter(action="client.login").exists()


# --- mass assignment ---------------------------------------------------------------------------

FORBIDDEN_ON_CREATE = {
    "id": 424242,
    "created_by": 999,
    "created_at": "2000-01-01 00:00:00",
    "updated_at": "2000-01-01 00:00:00",
    "data_registo": "2000-01-01 00:00:00",
    "access_end_date": "2999-01-01 00:00:00",
    "last_login_at": "2000-01-01 00:00:00",
    "is_active": False,
    "status": "inactive",
    "days_remaining": 9999,
    "is_staff": True,
}
FORBIDDEN_ON_UPDATE = {
    "id": 424242,
    "email": "taken-over@example.com",
    "password_hash": HASH.replace("F1S", "AAA"),
    "password": "a-new-password",
    "created_by": 999,
    "created_at": "2000-01-01 00:00:00",
    "updated_at": "2000-01-01 00:00:00",
    "data_registo": "2000-01-01 00:00:00",
    "last_login_at": "2000-01-01 00:00:00",
    "demos": ["pricing-lab"],
}


def row_of(client_id: int) -> dict:
    return Client.objects.filter(pk=client_id).values().first()


def test_fields_the_caller_may_not_set_are_refused_and_nothing_is_written(api):
    target = make_client("target@example.com")
    before, count, audits = row_of(target.id), Client.objects.count(), AuditLog.objects.count()
    answers = {}
    for field, value in FORBIDDEN_ON_CREATE.items():
        body = {"name": "Mass", "email": f"mass-{field}@example.com", "password_hash": HASH, field: value}
        answers[f"POST {field}"] = api.post("/api/clients", body, format="json")
    for field, value in FORBIDDEN_ON_UPDATE.items():
        answers[f"PATCH {field}"] = api.patch(f"/api/clients/{target.id}", {"name": "Renamed", field: value}, format="json")
    answers["POST extend with access_end_date"] = api.post(
        f"/api/clients/{target.id}/extend", {"days": 1, "access_end_date": "2999-01-01 00:00:00"}, format="json"
    )
    answers["POST demos with granted_by"] = api.post(
        f"/api/clients/{target.id}/demos", {"demo": "pricing-lab", "granted_by": 1}, format="json"
    )
    statuses = {name: response.status_code for name, response in answers.items()}
    record("mass assignment: id, created_by, created_at, password_hash via PATCH, …", kind="attack", tries=len(statuses),
           answered=list(statuses.values()), rows_lost=None, integrity="n/a")  # fmt: skip
    assert {name: status for name, status in statuses.items() if status != 400} == {}
    for name, response in answers.items():
        field = name.split()[-1]
        assert field in response.json()["details"], (name, response.json())
    assert row_of(target.id) == before
    assert Client.objects.count() == count and AuditLog.objects.count() == audits


def test_no_answer_ever_carries_a_password_hash(api):
    client = make_client("hash-never@example.com", demos=["pricing-lab"])
    bodies = [
        api.get("/api/clients?status=all").content,
        api.get(f"/api/clients/{client.id}").content,
        api.patch(f"/api/clients/{client.id}", {"notes": "x"}, format="json").content,
        api.get("/api/audit-log").content,
        api.post("/api/clients", {"name": "N", "email": "hash-new@example.com", "password": "a-long-password"}, format="json").content,
    ]
    assert all(b"$2b$" not in body and b"password_hash" not in body and b"a-long-password" not in body for body in bodies)


# --- enumeration -------------------------------------------------------------------------------


def test_client_ids_and_emails_reveal_nothing_without_permission(staff_user):
    existing = make_client("exists@example.com")
    client_token = (
        APIClient().post("/api/client-auth/login", {"email": "exists@example.com", "password": "ltplabs-demo"}, format="json").json()
    )
    no_perm = make_staff("nobody-special")
    viewer = make_staff("viewer-only", [p for p in ALL_CLIENT_PERMS if ".view_" in p])
    callers = {
        "anonymous": APIClient(),
        "client token": with_token(client_token["access"]),
        "staff without permissions": with_token(bearer(no_perm).split()[1]),
    }
    statuses = []
    for caller, api in callers.items():
        for known, unknown in [
            (f"/api/clients/{existing.id}", "/api/clients/987654"),
            (f"/api/clients/{existing.id}/demos", "/api/clients/987654/demos"),
            (f"/api/audit-log?entity_id={existing.id}", "/api/audit-log?entity_id=987654"),
            ("/api/clients?search=exists@example.com", "/api/clients?search=absent@example.com"),
        ]:
            a, b = api.get(known), api.get(unknown)
            statuses += [a.status_code, b.status_code]
            assert a.status_code in (401, 403) and (a.status_code, a.json()) == (b.status_code, b.json()), (caller, known)
    # A viewer may read but not add: whether an e-mail is taken must not show through a refused write.
    view_api = with_token(bearer(viewer).split()[1])
    taken = view_api.post("/api/clients", {"name": "x", "email": "exists@example.com", "password_hash": HASH}, format="json")
    free = view_api.post("/api/clients", {"name": "x", "email": "free@example.com", "password_hash": HASH}, format="json")
    statuses += [taken.status_code, free.status_code]
    record("enumeration of client ids and e-mails without permission", kind="attack", tries=len(statuses), answered=statuses,
           rows_lost=None, integrity="n/a")  # fmt: skip
    assert (taken.status_code, taken.json()) == (free.status_code, free.json()) == (403, free.json())


def test_login_answers_are_the_same_for_every_cause(anon_api, staff_user):
    make_client("known@example.com")
    inactive = make_client("inactive@example.com")
    services.client_deactivate(actor=services.Actor.system(), client_id=inactive.id)
    expired = make_client("expired@example.com")
    Client.objects.filter(pk=expired.id).update(access_end_date=services.now() - timedelta(days=1))
    client_answers = [
        anon_api.post("/api/client-auth/login", {"email": email, "password": password}, format="json")
        for email, password in [
            ("known@example.com", "wrong-password"),
            ("unknown@example.com", "wrong-password"),
            ("inactive@example.com", "ltplabs-demo"),
            ("expired@example.com", "ltplabs-demo"),
        ]
    ]
    staff_answers = [
        APIClient(REMOTE_ADDR=f"10.0.0.{n}").post("/api/auth/token", {"username": name, "password": "wrong-password"}, format="json")
        for n, name in enumerate(["staff", "no-such-user"])
    ]
    record("login answers for known, unknown, inactive and expired accounts", kind="attack", tries=6,
           answered=[response.status_code for response in [*client_answers, *staff_answers]], rows_lost=None, integrity="n/a")  # fmt: skip
    assert len({(response.status_code, response.content) for response in client_answers}) == 1
    assert client_answers[0].status_code == 401
    assert len({(response.status_code, response.content) for response in staff_answers}) == 1


def test_client_login_takes_as_long_for_an_unknown_email_as_for_a_known_one(monkeypatch):
    """Two distributions measured side by side, interleaved, compared by their medians: a refusal
    that skipped bcrypt for an unknown e-mail would be about a hundred times faster."""
    monkeypatch.setattr(ClientLoginView, "throttle_classes", [])
    make_client("timed@example.com")
    api = APIClient()

    def attempt(email: str) -> float:
        started = time.perf_counter()
        response = api.post("/api/client-auth/login", {"email": email, "password": "wrong-password"}, format="json")
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    attempt("timed@example.com"), attempt("warm-up@example.com")
    known, unknown = [], []
    for n in range(40):
        known.append(attempt("timed@example.com"))
        unknown.append(attempt(f"nobody-{n}@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    record("login timing, unknown vs known e-mail (median ratio of 40 + 40 interleaved tries)", kind="attack", tries=80,
           answered=f"401 ×80; median ratio {ratio:.2f}", rows_lost=None, integrity="n/a")  # fmt: skip
    assert 0.5 < ratio < 2.0, (statistics.median(unknown), statistics.median(known))


# --- hostile bodies and parameters ---------------------------------------------------------------


def test_oversized_and_deep_bodies_are_4xx_and_write_nothing(api):
    count = Client.objects.count()
    huge_name = json.dumps({"name": "x" * (1024 * 1024), "email": "big@example.com", "password_hash": HASH})
    deep = '{"name": ' + "[" * 100_000 + "]" * 100_000 + ', "email": "deep@example.com"}'
    deep_object = '{"name": "n", "email": "deep2@example.com", "notes": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}"
    many_keys = json.dumps({f"k{n}": n for n in range(40_000)})
    answers = {
        "body over 1 MB": api.post("/api/clients", huge_name, content_type="application/json"),
        "Content-Length over 1 MB": api.generic("POST", "/api/clients", b"{}", content_type="application/json", CONTENT_LENGTH="2000000"),
        "JSON nested 100,000 deep (arrays)": api.post("/api/clients", deep, content_type="application/json"),
        "JSON nested 50,000 deep (objects)": api.post("/api/clients", deep_object, content_type="application/json"),
        "40,000 keys": api.post("/api/clients", many_keys, content_type="application/json"),
        "JSON list, not an object": api.post("/api/clients", "[1, 2, 3]", content_type="application/json"),
        "NaN and Infinity": api.post("/api/clients/1/extend", '{"days": NaN}', content_type="application/json"),
        "huge number": api.post("/api/clients/1/extend", '{"days": 1' + "0" * 5000 + "}", content_type="application/json"),
        "invalid UTF-8": api.post("/api/clients", b'{"name": "\xff\xfe"}', content_type="application/json"),
        "form-encoded": api.post("/api/clients", "name=x&email=y", content_type="application/x-www-form-urlencoded"),
        "multipart": api.post("/api/clients", {"name": "x"}, format="multipart"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    record("oversized, deeply nested and malformed request bodies", kind="attack", tries=len(statuses),
           answered=list(statuses.values()), rows_lost=None, integrity="n/a")  # fmt: skip
    assert {name: status for name, status in statuses.items() if not 400 <= status < 500} == {}
    assert statuses["body over 1 MB"] == statuses["Content-Length over 1 MB"] == 413
    assert all(response.json()["success"] is False for response in answers.values())
    assert Client.objects.count() == count


HUGE_PAGING = [
    "limit=1001",
    "limit=0",
    "limit=-1",
    "limit=99999999999999999999999999999",
    "offset=99999999999999999999999999999",
    "offset=-5",
    "offset=9223372036854775808",
    "limit=1e3",
    "limit=NaN",
    "limit=%00",
    "offset=1.5",
    "cursor=" + "A" * 5000,
    "cursor=not-a-cursor",
    "cursor=%FF%FE",
    "status=everything",
]


def test_huge_or_nonsense_paging_is_400_never_5xx(api):
    answers = {query: api.get(f"/api/clients?{query}") for query in HUGE_PAGING}
    answers.update({f"audit-log {query}": api.get(f"/api/audit-log?{query}") for query in HUGE_PAGING[:11]})
    answers["entity_id over 2**63"] = api.get("/api/audit-log?entity_id=9223372036854775808")
    answers["since not a date"] = api.get("/api/audit-log?since=%27%20OR%201=1")
    answers["client id over 2**63"] = api.get("/api/clients/99999999999999999999999")
    statuses = {query: response.status_code for query, response in answers.items()}
    record("huge or nonsense limit, offset, cursor, ids", kind="attack", tries=len(statuses), answered=list(statuses.values()),
           rows_lost=None, integrity="n/a")  # fmt: skip
    assert {query: status for query, status in statuses.items() if status not in (400, 404)} == {}
    assert api.get("/api/clients?limit=1000&offset=2000000000").status_code == 200  # the largest allowed still answer


UNICODE_REFUSED = {
    "NUL in the name": {"name": "Ana\x00Silva"},
    "NUL in the company": {"company": "NOS\x00"},
    "lone high surrogate": {"name": "Ana \ud800"},
    "lone low surrogate": {"notes": "\udfff"},
    "10,000-character name": {"name": "N" * 10_000},
    "name of spaces only": {"name": "   "},
}
UNICODE_KEPT = {
    "emoji and a joiner": "Ana 👩‍💻 Silva",
    "right-to-left": "شركة الأمل",
    "combining marks": "Joa\u0303o",
    "zero-width space": "Zero\u200bWidth",
    "200 characters, the most allowed": "é" * 200,
    "astral plane": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
}

RAW_SEARCHES = ["search=%00", "search=%ED%A0%80", "company=%ED%B0%80%00", "search=%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB", "search=%FF"]


def test_unicode_edge_cases_are_refused_with_400_or_kept_exactly(api):
    answers, count = {}, Client.objects.count()
    for name, fields in UNICODE_REFUSED.items():
        body = json.dumps({"name": "Ana", "email": f"u{len(answers)}@example.com", "password_hash": HASH, **fields})
        answers[name] = api.post("/api/clients", body, content_type="application/json")
    refused = {name: response.status_code for name, response in answers.items()}
    kept = {}
    for index, (name, text) in enumerate(UNICODE_KEPT.items()):
        response = api.post("/api/clients", {"name": text, "email": f"kept{index}@example.com", "password_hash": HASH}, format="json")
        kept[name] = response.status_code
        if response.status_code == 201:
            assert api.get(f"/api/clients/{response.json()['clientId']}").json()["data"]["name"] == text
            assert Client.objects.get(pk=response.json()["clientId"]).name == text
    searched = {query: api.get(f"/api/clients?{query}") for query in RAW_SEARCHES}
    searches = [response.status_code for response in searched.values()]
    record("unicode edge cases: NUL, lone surrogates, 10,000-char names, emoji, RTL", kind="attack",
           tries=len(refused) + len(kept) + len(searches), answered=[*refused.values(), *kept.values(), *searches], rows_lost=None,
           integrity="n/a")  # fmt: skip
    assert refused == dict.fromkeys(UNICODE_REFUSED, 400)
    assert Client.objects.count() == count + len(UNICODE_KEPT)
    assert kept == dict.fromkeys(UNICODE_KEPT, 201)
    nul = {"success": False, "error": "Null characters are not allowed."}
    assert searched["search=%00"].json() == {**nul, "details": {"search": ["Null characters are not allowed."]}}
    assert searched["company=%ED%B0%80%00"].json() == {**nul, "details": {"company": ["Null characters are not allowed."]}}
    # Bytes that are not UTF-8 (a lone surrogate's bytes, 0xFF) reach the search as U+FFFD, which no name holds.
    for query in ("search=%ED%A0%80", "search=%FF"):
        assert (searched[query].status_code, searched[query].json()["data"]) == (200, []), query
    emoji = searched["search=%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB"]
    assert emoji.status_code == 200 and [row["name"] for row in emoji.json()["data"]] == [UNICODE_KEPT["emoji and a joiner"]]
    assert [status for status in searches] == [400, 200, 400, 200, 200]


SQL_META = [
    "'; DROP TABLE clients; --",
    '" OR ""="',
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "[a-z]*",
    "1; SELECT * FROM auth_user",
    "') UNION SELECT password_hash, 1 FROM clients --",
    "*/ /*",
]


def test_sql_meta_characters_in_every_text_field_and_filter_are_just_text(api):
    client = make_client("plain@example.com", name="Plain Person", company="Plain Co")
    statuses, stored = [], 0
    for index, text in enumerate(SQL_META):
        fields = {"name": f"N {text}", "company": text, "phone": text[:50], "notes": text}
        response = api.post("/api/clients", {"email": f"meta{index}@example.com", "password_hash": HASH, **fields}, format="json")
        statuses.append(response.status_code)
        assert response.status_code == 201, (text, response.json())
        row = Client.objects.filter(pk=response.json()["clientId"]).values("name", "company", "phone", "notes").first()
        assert row == {**fields, "phone": text[:50]}, text
        stored += 1
        patched = api.patch(f"/api/clients/{client.id}", {"notes": text, "company": text}, format="json")
        statuses.append(patched.status_code)
        assert patched.status_code == 200 and Client.objects.get(pk=client.id).notes == text
    api.patch(f"/api/clients/{client.id}", {"company": "Plain Co"}, format="json")
    for text in SQL_META:
        for query in [{"search": text}, {"company": text}, {"search": text, "status": "all"}]:
            response = api.get("/api/clients", query)
            statuses.append(response.status_code)
            assert response.status_code == 200, (query, response.json())
            names = {row["name"] for row in response.json()["data"]}
            assert "Plain Person" not in names, query  # a meta-character never widens the match
        for field in ["action", "entity_type"]:
            response = api.get("/api/audit-log", {field: text})
            statuses.append(response.status_code)
            assert response.status_code == 200 and response.json()["data"] == [], (field, text)
        response = APIClient().post("/api/client-auth/login", {"email": text, "password": text + "xxxxxxxx"}, format="json")
        statuses.append(response.status_code)
        assert response.status_code in (400, 401, 429)
    percent = api.get("/api/clients", {"search": "%", "status": "all"}).json()["data"]
    record("SQL meta-characters in every text field and filter", kind="attack", tries=len(statuses), answered=statuses, rows_lost=None,
           integrity="n/a")  # fmt: skip
    assert {row["company"] for row in percent} == {"%"}  # '%' finds only the row that holds one
    assert Client.objects.count() == 1 + stored and Client.objects.filter(email="plain@example.com").exists()


# --- headers -------------------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_answer(api, anon_api):
    answers = {
        "api 200": api.get("/api/clients"),
        "api 401": anon_api.get("/api/clients"),
        "api 404": api.get("/api/nowhere"),
        "health": anon_api.get("/health/live"),
        "schema": anon_api.get("/api/schema/"),
    }
    for name, response in answers.items():
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["X-Frame-Options"] == "DENY", name
        assert response["Referrer-Policy"] == "same-origin", name
        assert response["X-Request-ID"], name
        assert "Server" not in response or "Django" not in response["Server"], name
    assert answers["api 401"]["WWW-Authenticate"].startswith("Bearer")


def test_cors_is_closed_no_origin_is_allowed(api, anon_api):
    origin = {"HTTP_ORIGIN": "https://evil.example"}
    preflight = anon_api.options(
        "/api/clients", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization", **origin
    )
    answers = [preflight, api.get("/api/clients", **origin), anon_api.post("/api/client-auth/login", {}, format="json", **origin)]
    record("CORS: preflight and requests from a foreign origin", kind="attack", tries=len(answers),
           answered=[response.status_code for response in answers], rows_lost=None, integrity="n/a")  # fmt: skip
    for response in answers:
        assert not [header for header in response.headers if header.lower().startswith("access-control-allow")], response.headers


def test_rotating_x_forwarded_for_opens_no_fresh_allowance_when_no_proxy_is_trusted(anon_api, staff_user, throttle_rates):
    throttle_rates(staff_login="10/min", login_address="30/min")
    answers = [
        APIClient(REMOTE_ADDR="192.0.2.77", HTTP_X_FORWARDED_FOR=f"10.0.{n}.1").post(
            "/api/auth/token", {"username": "staff", "password": f"guess-{n}"}, format="json"
        )
        for n in range(20)
    ]
    statuses = [response.status_code for response in answers]
    record("staff guesses with a new X-Forwarded-For each time, DJANGO_NUM_PROXIES=0 (limit 10)", kind="attack", tries=len(statuses),
           answered=statuses, rows_lost=None, integrity=f"allowed {sum(s != 429 for s in statuses)} of limit 10")  # fmt: skip
    assert statuses == [401] * 10 + [429] * 10


@pytest.mark.parametrize(("cost", "status"), [(9, 400), (10, 201), (14, 201), (15, 400), (31, 400)])
def test_a_password_hash_costlier_than_14_or_cheaper_than_10_is_refused(api, cost, status):
    import bcrypt

    # A cost-31 hash is never computed: only its prefix matters to the check, the salt and digest are any 53 characters.
    hashed = bcrypt.hashpw(b"password-1", bcrypt.gensalt(rounds=cost)).decode() if cost <= 14 else f"$2b${cost}$" + "a" * 53
    response = api.post("/api/clients", {"name": "Costly", "email": f"cost-{cost}@example.com", "password_hash": hashed}, format="json")
    record(f"password_hash of bcrypt cost {cost} on create", kind="attack", tries=1, answered=[response.status_code], rows_lost=None,
           integrity="n/a")  # fmt: skip
    assert response.status_code == status
    assert Client.objects.filter(email=f"cost-{cost}@example.com").exists() == (status == 201)


def test_the_dummy_check_for_an_unknown_email_runs_at_the_cost_of_the_stored_hashes(monkeypatch, settings):
    import bcrypt

    from clients import passwords

    settings.BCRYPT_ROUNDS = 10
    stored = bcrypt.hashpw(b"password-1", bcrypt.gensalt(rounds=11)).decode()
    services.client_create(actor=services.Actor.system(), name="Stored", email="stored-cost@example.com", password_hash=stored)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", None)
    with pytest.raises(services.InvalidCredentials):
        services.client_login(email="nobody@example.com", password="password-1")
    assert passwords.hash_cost(passwords._DUMMY_HASH.decode()) == 11
