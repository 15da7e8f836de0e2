"""`manage.py prune`: expired rows go, the rest stay."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from clients.models import IdempotencyKey

pytestmark = pytest.mark.django_db


def test_prune_removes_idempotency_keys_past_idempotency_hours_and_keeps_the_rest(settings):
    settings.IDEMPOTENCY_HOURS = 24
    at = timezone.now()
    for key, age in (("old", timedelta(hours=24, seconds=1)), ("older", timedelta(days=3)), ("young", timedelta(hours=23))):
        IdempotencyKey.objects.create(principal="staff:1", key=key, fingerprint="f", created_at=at - age, started_at=at - age)
    out = io.StringIO()
    call_command("prune", stdout=out)
    assert "idempotency keys: 2 removed" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]


def test_prune_removes_expired_refresh_tokens_sessions_and_revocations_in_batches_and_keeps_live_ones(settings):
    from django.contrib.sessions.models import Session
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    from clients import revocation
    from clients.models import RevokedToken, TokenCutoff
    from database.prune import prune
    from tests.fixtures import make_staff

    user = make_staff("prune-staff")
    at = timezone.now()
    for number in range(5):
        gone = OutstandingToken.objects.create(
            user=user, jti=f"old-{number}", token="sha256:x", created_at=at, expires_at=at - timedelta(seconds=1)
        )
        BlacklistedToken.objects.create(token=gone)
    live = OutstandingToken.objects.create(user=user, jti="live", token="sha256:y", created_at=at, expires_at=at + timedelta(hours=1))
    BlacklistedToken.objects.create(token=live)
    Session.objects.create(session_key="a" * 40, session_data="x", expire_date=at - timedelta(seconds=1))
    Session.objects.create(session_key="b" * 40, session_data="x", expire_date=at + timedelta(days=1))
    now_s = int(at.timestamp())
    RevokedToken.objects.create(jti="dead", kind="access", subject="staff:1", expires_at=now_s - 1)
    RevokedToken.objects.create(jti="used:alive", kind="used", subject="client:1", expires_at=now_s + 60)
    longest = 24 * 3600  # JWT_REFRESH_HOURS, the longest lifetime
    TokenCutoff.objects.create(subject="staff:old", not_before_ms=(now_s - longest - 3600) * 1000)
    TokenCutoff.objects.create(subject="staff:young", not_before_ms=(now_s - longest + 3600) * 1000)

    removed = dict(prune(at, batch=2))  # 5 expired tokens: three batches, each its own transaction
    assert removed["expired refresh tokens (outstanding and blacklisted)"] == 5
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["live"] and BlacklistedToken.objects.count() == 1
    assert removed["expired admin sessions"] == 1 and list(Session.objects.values_list("session_key", flat=True)) == ["b" * 40]
    assert list(RevokedToken.objects.values_list("jti", flat=True)) == ["used:alive"]
    assert list(TokenCutoff.objects.values_list("subject", flat=True)) == ["staff:young"]
    # What stays still refuses: a token from before the young cutoff is dead.
    assert revocation.is_revoked("staff:young", {"auth_time": now_s - longest, "jti": "j"}, fresh=True)
    assert dict(prune(at, batch=2)) == dict.fromkeys(removed, 0)  # again: nothing left to remove


def test_prune_removes_expired_rows_of_the_db_cache(settings):
    from django.core.cache import caches

    from database.prune import prune

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}
    call_command("createcachetable", verbosity=0)
    cache = caches.create_connection("default")
    cache.set("kept", 1, 3600)
    for number in range(3):
        cache.set(f"stale-{number}", 1, 1)
    removed = dict(prune(timezone.now() + timedelta(seconds=5), batch=2))
    assert removed["expired cache rows"] == 3
    assert cache.get("kept") == 1
