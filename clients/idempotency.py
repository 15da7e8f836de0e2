"""Idempotency-Key: the first answer to a write, kept per principal and replayed to its retries.

A request with a key first claims it (its own short transaction, so a concurrent retry sees the
claim at once and answers 409 instead of waiting). The write and its stored answer then commit
together in one transaction (`run`): a stored answer means the write committed; a claim without
one means nothing was written. An error answer writes nothing, so its claim is released and a
retry runs afresh (a 503 invites one). A worker that dies mid-request leaves a claim without an
answer and nothing written: after CLAIM_LEASE a retry takes it over."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ltplabs.exceptions import Conflict, ServiceError

from .models import IdempotencyKey

KEY_MAX_CHARS = 255
# Longer than any request may run (gunicorn kills a worker silent for GUNICORN_TIMEOUT, 30 s).
CLAIM_LEASE = timedelta(minutes=2)


class KeyReused(ServiceError):
    status = 422

    def __init__(self):
        super().__init__("This Idempotency-Key was used with another request body; use a new key.")


class StillRunning(Conflict):
    def __init__(self):
        super().__init__("The first request with this Idempotency-Key is still running; retry when it has answered.")


@dataclass(frozen=True)
class Replay:
    status: int
    body: object


def validate_key(key: str) -> str:
    """1 to 255 printable ASCII characters (space to tilde)."""
    if not 1 <= len(key) <= KEY_MAX_CHARS or any(not " " <= char <= "~" for char in key):
        raise ServiceError(f"Idempotency-Key must be 1 to {KEY_MAX_CHARS} printable ASCII characters.")
    return key


def principal_of(user) -> str:
    """Whose keys these are: "staff:<id>" for a staff user, "client:<id>" for a client token; a
    principal type that has a `principal` attribute (service accounts) names itself."""
    own = getattr(user, "principal", None)
    if isinstance(own, str):
        return own
    if getattr(user, "client", None) is not None:
        return f"client:{user.client.pk}"
    return f"staff:{user.pk}"


def fingerprint(method: str, path: str, body: object) -> str:
    """The same request: method, path and the parsed body (so key order and spacing do not count)."""
    text = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def claim(*, principal: str, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Claim the key for this request, or the stored answer to replay; KeyReused, StillRunning."""
    at = timezone.now()
    for _attempt in range(3):
        existing = IdempotencyKey.objects.filter(principal=principal, key=key).first()
        if existing is None:
            try:
                with transaction.atomic():
                    return IdempotencyKey.objects.create(
                        principal=principal, key=key, fingerprint=fingerprint, created_at=at, started_at=at
                    )
            except IntegrityError:
                continue  # another request claimed it in between: look again
        if existing.created_at < at - timedelta(hours=settings.IDEMPOTENCY_HOURS):
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue  # expired: as if never sent
        if existing.fingerprint != fingerprint:
            raise KeyReused()
        if existing.response_status is not None:
            return Replay(existing.response_status, existing.response_body)
        if existing.started_at >= at - CLAIM_LEASE:
            raise StillRunning()
        # Abandoned (its worker died; nothing of it was written): take it over, unless another
        # retry did so first.
        if IdempotencyKey.objects.filter(pk=existing.pk, started_at=existing.started_at, response_status__isnull=True).update(
            started_at=at
        ):
            existing.started_at = at
            return existing
    raise StillRunning()


def run(claimed: IdempotencyKey, write: Callable[[], tuple[int, object]]) -> tuple[int, object]:
    """Run the write and store its answer in one transaction; release the claim if it fails."""
    try:
        with transaction.atomic():
            status, body = write()
            if 200 <= status < 300:
                stored = IdempotencyKey.objects.filter(pk=claimed.pk, started_at=claimed.started_at).update(
                    response_status=status, response_body=body
                )
                if not stored:  # our claim was taken over after its lease: the other request answers
                    raise StillRunning()
            else:
                _release(claimed)
    except BaseException:
        _release(claimed)
        raise
    return status, body


def _release(claimed: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=claimed.pk, started_at=claimed.started_at, response_status__isnull=True).delete()


def expired_idempotency_keys(now: datetime):
    """Keys older than IDEMPOTENCY_HOURS (`manage.py prune` removes them in batches)."""
    return IdempotencyKey.objects.filter(created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_HOURS))


def prune_idempotency_keys(now: datetime) -> int:
    """Remove keys older than IDEMPOTENCY_HOURS; how many went."""
    deleted, _ = expired_idempotency_keys(now).delete()
    return deleted
