"""Token revocation, on every worker and replica within a second, at the cost of a dict lookup.

Two facts per subject ("staff:<id>", "client:<id>"): a cutoff (tokens whose sign-in, the
`auth_time` claim every token of a chain carries, came before it are dead) and the jtis revoked
one by one (a signed-out access token, a client sign-in whose refresh token was reused). Both
are written to the database (durable: a lost cache never revives a token) and then to the shared
cache (CACHE_URL); each process keeps what it read for FRESH_SECONDS, so a request costs a dict
lookup and each process reads the cache once per subject per FRESH_SECONDS.
"""

import hashlib
import math
import time

from django.core.cache import cache
from django.db import IntegrityError, transaction

from clients.audit import Actor, audit
from clients.models import RevokedToken, TokenCutoff

# Well inside the contract's 1 s; also how long a staff user (clients/api/authentication.py) and
# an API key (clients/api_keys.py) are taken on their word.
FRESH_SECONDS = 0.5
CACHE_SECONDS = 24 * 3600
_seen: dict[str, tuple[float, dict]] = {}


def subject(kind: str, subject_id) -> str:
    return f"{kind}:{subject_id}"


def _cache_key(name: str) -> str:
    return f"revocation:{name}"


def _load(name: str) -> dict:
    now = time.time()
    cutoff_ms = TokenCutoff.objects.filter(subject=name).values_list("not_before_ms", flat=True).first() or 0
    cutoff = cutoff_ms / 1000
    jtis = dict(RevokedToken.objects.filter(subject=name, expires_at__gt=now).exclude(kind="used").values_list("jti", "expires_at"))
    return {"before": cutoff, "jtis": jtis}


def state(name: str, fresh: bool = False) -> dict:
    """fresh: skip this process's memo (refresh, verify and logout, which are rare, see a revocation at once)."""
    seen = None if fresh else _seen.get(name)
    now = time.monotonic()
    if seen is not None and seen[0] > now:
        return seen[1]
    current = cache.get(_cache_key(name))
    if current is None:
        current = _load(name)
        cache.add(_cache_key(name), current, CACHE_SECONDS)  # add: never over a revocation written meanwhile
    if len(_seen) > 10_000:
        _seen.clear()
    _seen[name] = (now + FRESH_SECONDS, current)
    return current


def sign_in_time(token) -> float | None:
    """`auth_time`, or for a token made without it (simplejwt's own for_user) its whole-second `iat`:
    compared with a cutoff, the truncation can only refuse, never let through."""
    value = token.get("auth_time", token.get("iat"))
    return value if isinstance(value, int | float) else None


def is_revoked(name: str, token, fresh: bool = False) -> bool:
    """Whether a validated token (simplejwt's Token, or its payload) of that subject is dead."""
    current = state(name, fresh)
    auth_time = sign_in_time(token)
    if auth_time is None or auth_time < current["before"]:
        return True
    jtis = current["jtis"]
    return bool(jtis) and (token.get("jti") in jtis or token.get("fam") in jtis)


def _forget(name: str) -> None:
    # At once, before the commit: a reader meanwhile reloads from the database (and adds what it
    # saw); the commit then overwrites the cache with the committed state (_publish).
    cache.delete(_cache_key(name))
    _seen.pop(name, None)


def _publish(name: str) -> None:
    fresh = _load(name)
    cache.set(_cache_key(name), fresh, CACHE_SECONDS)
    _seen[name] = (time.monotonic() + FRESH_SECONDS, fresh)


def end_all(name: str) -> None:
    """Every token of `name` issued before now stops working (cutoff: never moves back)."""
    now_ms = math.ceil(time.time() * 1000)  # rounded up: a token of this very millisecond is dead too
    with transaction.atomic():
        updated = TokenCutoff.objects.filter(subject=name, not_before_ms__lt=now_ms).update(not_before_ms=now_ms)
        if not updated and not TokenCutoff.objects.filter(subject=name).exists():
            TokenCutoff.objects.create(subject=name, not_before_ms=now_ms)
        _forget(name)
    transaction.on_commit(lambda: _publish(name))


def revoke(name: str, jti: str, expires_at: float, kind: str = "access") -> None:
    """One token (or, kind="family", one client sign-in) of `name` stops working."""
    if not jti:
        return
    with transaction.atomic():
        defaults = {"kind": kind, "subject": name, "expires_at": math.ceil(expires_at)}
        RevokedToken.objects.update_or_create(jti=jti, defaults=defaults)
        _forget(name)
    transaction.on_commit(lambda: _publish(name))


def expired_revoked_tokens(now):
    """Revoked and used jtis whose token has expired anyway (`manage.py prune`)."""
    return RevokedToken.objects.filter(expires_at__lt=math.floor(now.timestamp()))


def obsolete_cutoffs(now):
    """Cutoffs every token they end has outlived: a token issued before a cutoff expires within the
    longest token lifetime after it (a refresh after the cutoff is refused, so no chain goes
    further). Removing the row revives nothing (`manage.py prune`)."""
    from rest_framework_simplejwt.settings import api_settings

    longest = max(api_settings.REFRESH_TOKEN_LIFETIME, api_settings.ACCESS_TOKEN_LIFETIME).total_seconds()
    return TokenCutoff.objects.filter(not_before_ms__lt=math.floor((now.timestamp() - longest - 60) * 1000))


def use_once(name: str, jti: str, expires_at: float) -> bool:
    """Mark a client refresh token used; False when it had been used before (a replay)."""
    try:
        with transaction.atomic():
            RevokedToken.objects.create(jti=f"used:{jti}", kind="used", subject=name, expires_at=math.ceil(expires_at))
    except IntegrityError:
        return False
    return True


def connect_user_signals() -> None:
    """A staff user's password, is_active or is_staff changing by any means (the admin,
    changepassword, a shell) ends every token issued before (ClientsConfig.ready)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import m2m_changed, post_save, pre_save

    user_model = get_user_model()
    watched = ("password", "is_active", "is_staff", "is_superuser")

    def remember(sender, instance, update_fields=None, **kwargs):
        if update_fields is not None and not set(update_fields) & set(watched):
            instance._revocation_before = None  # e.g. last_login at each sign-in
            return
        before = sender.objects.filter(pk=instance.pk).values(*watched).first() if instance.pk else None
        instance._revocation_before = before

    def compare(sender, instance, created, **kwargs):
        before = getattr(instance, "_revocation_before", None)
        if before and any(before[field] != getattr(instance, field) for field in watched):
            end_all(subject("staff", instance.pk))
        if before:
            audit_staff_change(instance.pk, before, instance)

    def permissions_changed(sender, instance, action, **kwargs):
        if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, user_model):
            which = "groups" if sender is user_model.groups.through else "user_permissions"
            _staff_audit("staff.permissions_change", instance.pk, {"changed": [which], "change": action.removeprefix("post_")})

    m2m_changed.connect(permissions_changed, sender=user_model.user_permissions.through, weak=False, dispatch_uid="audit_perms")
    m2m_changed.connect(permissions_changed, sender=user_model.groups.through, weak=False, dispatch_uid="audit_groups")

    pre_save.connect(remember, sender=user_model, weak=False, dispatch_uid="revocation_remember")
    post_save.connect(compare, sender=user_model, weak=False, dispatch_uid="revocation_compare")


def audit_staff_change(staff_id: int, before: dict, user) -> None:
    """staff.password_change / staff.permissions_change for a change made by any tool (no request: actor system)."""
    if before["password"] != user.password:
        _staff_audit("staff.password_change", staff_id)
    changed = [field for field in ("is_active", "is_staff", "is_superuser") if before[field] != getattr(user, field)]
    if changed:
        details = {"before": {field: before[field] for field in changed}, "after": {field: getattr(user, field) for field in changed}}
        _staff_audit("staff.permissions_change", staff_id, details)


def _staff_audit(action: str, staff_id: int, details: dict | None = None) -> None:
    # The same row services.staff_event writes; written here because this module sits below services.
    from django.conf import settings

    if settings.DATABASE_READ_ONLY:
        return
    with transaction.atomic():
        audit(actor=Actor.system(), action=action, entity_type="staff_user", entity_id=staff_id, details=details)


def stored_token(token_text: str) -> str:
    """What simplejwt's outstanding-token row keeps of a refresh token: its SHA-256, never the
    token, so that a row read from the database cannot be sent back to a refresh route."""
    if not token_text or token_text.startswith("sha256:"):
        return token_text
    return "sha256:" + hashlib.sha256(token_text.encode()).hexdigest()


def connect_outstanding_token_hashing() -> None:
    """simplejwt writes the whole token into OutstandingToken.token on sign-in, rotation and
    blacklisting (its own code, through save()): replace it before every write (ClientsConfig.ready)."""
    from django.db.models.signals import pre_save
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    def hash_token(sender, instance, **kwargs):
        instance.token = stored_token(instance.token)

    pre_save.connect(hash_token, sender=OutstandingToken, weak=False, dispatch_uid="outstanding_token_hash")
