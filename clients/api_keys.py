"""Service accounts and their API keys: the scopes, the key format, the check of a key on each
request, and the use cases that create, revoke and deactivate (one transaction each, audited).

A key is `<prefix>.<secret>`: the prefix is kept as it is (unique index: finding the row is one
indexed read, and the prefix names the key in lists and logs), the secret only as its SHA-256.
The secret is 256 random bits, so a fast hash is the right tool: nothing can be guessed from it,
and a password hasher (PBKDF2, bcrypt) would cost every request tens of milliseconds for no gain.
A key a process has verified is taken on its word for FRESH_SECONDS, as a staff user is
(clients/api/authentication.py): a revoke or a deactivation made by another process or replica is
seen within that time (the contract allows 1 s), one made by this process at once, and an expiry
on the very request it falls on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ltplabs.exceptions import NotFound

from .audit import Actor, audit
from .legacy_time import as_utc
from .models import ApiKey, ServiceAccount
from .revocation import FRESH_SECONDS

SCOPES = ("clients:read", "clients:write", "audit:read", "entitlements:check")
# What each scope lets a key do on the staff routes, as the Django model permissions those routes
# ask (clients/api/permissions.py). entitlements:check is the check's own route.
SCOPE_PERMISSIONS = {
    "clients:read": frozenset({"clients.view_client", "clients.view_clientdemoaccess", "clients.view_demo"}),
    "clients:write": frozenset(
        {
            "clients.add_client",
            "clients.change_client",
            "clients.delete_client",
            "clients.add_clientdemoaccess",
            "clients.change_clientdemoaccess",
            "clients.delete_clientdemoaccess",
        }
    ),
    "audit:read": frozenset({"clients.view_auditlog"}),
    "entitlements:check": frozenset(),
}
KEYWORD = "Api-Key"
PREFIX_CHARS = 12
NAME_MAX_CHARS = 100
# last_used_at is written at most this often per key, in its own short transaction: a program's
# reads stay reads (on SQLite a write takes the one write lock).
LAST_USED_EVERY = timedelta(minutes=1)
# Keys verified in the last FRESH_SECONDS, per process: (prefix, hash of the secret) -> (until,
# when the key or its account expires, as a timestamp, or inf; the KeyUse). Without it a program's
# every request costs a read transaction of its own before the request's work (on SQLite, on a
# page cache the other workers' commits keep emptying): W6 in bench/README.md. FRESH_SECONDS is
# revocation's: one bound for all a process takes on its word.
VERIFIED_MAX = 1024
_verified: dict[tuple[str, str], tuple[float, float, KeyUse]] = {}

logger = logging.getLogger(__name__)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    prefix, dot, secret = key.partition(".")
    if not dot or not prefix or not secret or len(prefix) > PREFIX_CHARS or len(secret) > 100:
        return None
    return prefix, secret


def clean_scopes(scopes) -> str:
    """The scopes as stored (space-separated, in SCOPES' order); at least one, all known."""
    given = list(scopes or ())
    unknown = [scope for scope in given if scope not in SCOPES]
    if unknown or not given:
        raise ValidationError({"scopes": [f"Choose one or more of {', '.join(SCOPES)}" + (f" (not {unknown[0]!r})." if unknown else ".")]})
    return " ".join(scope for scope in SCOPES if scope in given)


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX_CHARS or "\x00" in name:
        raise ValidationError({"name": [f"A name of 1 to {NAME_MAX_CHARS} characters."]})
    return name.strip()


def _account_details(account: ServiceAccount) -> dict:
    return {"name": account.name, "is_active": account.is_active, "expires_at": _iso(account.expires_at)}


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


# --- the check on each request ------------------------------------------------------------


@dataclass(frozen=True)
class KeyUse:
    """A key that passed: its service account, prefix and scopes."""

    account: ServiceAccount
    prefix: str
    scopes: frozenset[str]


# The key by its prefix (unique index) with its account: plain SQL, as the ORM's query building
# would cost more than the read on every request of a program.
_READ = (
    "SELECT k.id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at, a.id, a.name, a.is_active, a.expires_at "
    "FROM gateway_api_key k JOIN gateway_service_account a ON a.id = k.service_account_id WHERE k.prefix = %s"
)


def authenticate(raw: str) -> KeyUse | None:
    """The key's account and scopes if `raw` is a good key of an active, unexpired account, else
    None. One indexed read (none for a key verified in the last FRESH_SECONDS); the hashes
    compared in constant time."""
    parts = split_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    digest = _hash(secret)
    verified = _verified.get((prefix, digest))
    if verified is not None and verified[0] > time.monotonic() and verified[1] > time.time():
        return verified[2]
    with connection.cursor() as cursor:
        cursor.execute(_READ, [prefix])
        row = cursor.fetchone()
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    key_id, _, scopes, expires_at, revoked_at, last_used_at, account_id, name, active, account_expires_at = row
    at = timezone.now()
    expires_at, last_used_at, account_expires_at = as_utc(expires_at), as_utc(last_used_at), as_utc(account_expires_at)
    if revoked_at is not None or (expires_at is not None and expires_at <= at):
        return None
    if not active or (account_expires_at is not None and account_expires_at <= at):
        return None
    _note_use(key_id, prefix, last_used_at, at)
    use = KeyUse(ServiceAccount(id=account_id, name=name, is_active=True, expires_at=account_expires_at), prefix, frozenset(scopes.split()))
    ends = min((end.timestamp() for end in (expires_at, account_expires_at) if end is not None), default=math.inf)
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[(prefix, digest)] = (time.monotonic() + FRESH_SECONDS, ends, use)
    return use


def forget_verified() -> None:
    """This process takes no key on its word any more (a revoke or an account's change: at once,
    and again at the commit, as a request may have verified the key meanwhile)."""
    _verified.clear()
    transaction.on_commit(_verified.clear)


def _note_use(key_id: int, prefix: str, last_used_at: datetime | None, at: datetime) -> None:
    """last_used_at, at most once a minute; never on a read-only gateway, never failing the request."""
    if settings.DATABASE_READ_ONLY or (last_used_at is not None and last_used_at > at - LAST_USED_EVERY):
        return
    try:
        with transaction.atomic():
            # The condition again in the UPDATE: of the workers that saw an old time, one writes.
            ApiKey.objects.filter(pk=key_id).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - LAST_USED_EVERY)).update(
                last_used_at=at
            )
    except DatabaseError as exc:  # busy past busy_timeout, read-only volume: the request goes on
        logger.warning("last_used_at of API key %s not written: %s", prefix, exc)


# --- use cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKey:
    """A key just made: `key` is shown once and kept nowhere."""

    api_key: ApiKey
    key: str


def service_account_create(*, actor: Actor, name: str, expires_at: datetime | None = None) -> ServiceAccount:
    """A new service account (no key yet)."""
    name = _clean_name(name)
    with transaction.atomic():
        if ServiceAccount.objects.filter(name=name).exists():
            raise ValidationError({"name": ["A service account with this name already exists."]})
        account = ServiceAccount.objects.create(
            name=name, expires_at=expires_at, created_at=timezone.now(), created_by=actor.id if actor.type == "staff" else None
        )
        audit(actor=actor, action="service_account.create", entity_type="service_account", entity_id=account.id,
              details=_account_details(account))  # fmt: skip
    return account


def service_account_update(*, actor: Actor, account_id: int, is_active: bool, expires_at: datetime | None) -> ServiceAccount:
    """Deactivate, reactivate or change the expiry of a service account (every key follows)."""
    with transaction.atomic():
        account = ServiceAccount.objects.select_for_update().filter(pk=account_id).first()
        if account is None:
            raise NotFound("Service account not found.")
        before = _account_details(account)
        account.is_active, account.expires_at = bool(is_active), expires_at
        after = _account_details(account)
        if before == after:
            return account
        account.save(update_fields=["is_active", "expires_at"])
        forget_verified()
        audit(actor=actor, action="service_account.update", entity_type="service_account", entity_id=account.id,
              details={"before": before, "after": after})  # fmt: skip
    return account


def api_key_create(*, actor: Actor, account: ServiceAccount, scopes, expires_at: datetime | None = None) -> NewKey:
    """A new key for the account: its text is in the answer and nowhere else."""
    scopes = clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        prefix = secrets.token_hex(PREFIX_CHARS // 2)  # 48 bits: a clash is a unique-index error, never a wrong key
        api_key = ApiKey.objects.create(
            service_account=account, prefix=prefix, secret_hash=_hash(secret), scopes=scopes,
            created_at=timezone.now(), expires_at=expires_at,
        )  # fmt: skip
        audit(actor=actor, action="api_key.create", entity_type="service_account", entity_id=account.id,
              details={"name": account.name, "prefix": prefix, "scopes": scopes.split(), "expires_at": _iso(expires_at)})  # fmt: skip
    return NewKey(api_key, f"{prefix}.{secret}")


def api_key_revoke(*, actor: Actor, prefix: str) -> ApiKey:
    """Refuse the key from now on (the row stays, for the record)."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().select_related("service_account").filter(prefix=prefix).first()
        if api_key is None:
            raise NotFound(f"No API key with prefix {prefix[:PREFIX_CHARS]!r}.")
        if api_key.revoked_at is not None:
            return api_key
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        forget_verified()
        audit(actor=actor, action="api_key.revoke", entity_type="service_account", entity_id=api_key.service_account_id,
              details={"name": api_key.service_account.name, "prefix": prefix})  # fmt: skip
    return api_key
