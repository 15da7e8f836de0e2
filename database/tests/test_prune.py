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
