"""Token revocation, on every worker and replica within a second, at the cost of a dict lookup.

Two facts per subject ("staff:<id>", "client:<id>"): a cutoff (tokens whose sign-in, the
`auth_time` claim every token of a chain carries, came before it are dead) and the jtis revoked
one by one (a signed-out access token, a client sign-in whose refresh token was reused). Both
are written to the database (durable: a lost cache never revives a token) and then to the shared
cache (CACHE_URL); each process keeps what it read for FRESH_SECONDS, so a request costs a dict
lookup and each process reads the cache once per subject per FRESH_SECONDS.
"""

import time

from django.core.cache import cache
from django.db import IntegrityError, transaction

from clients.models import RevokedToken, TokenCutoff

FRESH_SECONDS = 0.5  # well inside the contract's 1 s
CACHE_SECONDS = 24 * 3600
_seen: dict[str, tuple[float, dict]] = {}


def subject(kind: str, subject_id) -> str:
    return f"{kind}:{subject_id}"


def _cache_key(name: str) -> str:
    return f"revocation:{name}"


def _load(name: str) -> dict:
    now = time.time()
    cutoff = TokenCutoff.objects.filter(subject=name).values_list("not_before", flat=True).first() or 0.0
    jtis = dict(RevokedToken.objects.filter(subject=name, expires_at__gt=now).exclude(kind="used").values_list("jti", "expires_at"))
    return {"before": cutoff, "jtis": jtis}


def state(name: str) -> dict:
    seen = _seen.get(name)
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


def is_revoked(name: str, token) -> bool:
    """Whether a validated token (simplejwt's Token, or its payload) of that subject is dead."""
    current = state(name)
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
    now = time.time()
    with transaction.atomic():
        updated = TokenCutoff.objects.filter(subject=name, not_before__lt=now).update(not_before=now)
        if not updated and not TokenCutoff.objects.filter(subject=name).exists():
            TokenCutoff.objects.create(subject=name, not_before=now)
        _forget(name)
    transaction.on_commit(lambda: _publish(name))


def revoke(name: str, jti: str, expires_at: float, kind: str = "access") -> None:
    """One token (or, kind="family", one client sign-in) of `name` stops working."""
    if not jti:
        return
    with transaction.atomic():
        RevokedToken.objects.update_or_create(jti=jti, defaults={"kind": kind, "subject": name, "expires_at": expires_at})
        _forget(name)
    transaction.on_commit(lambda: _publish(name))


def use_once(name: str, jti: str, expires_at: float) -> bool:
    """Mark a client refresh token used; False when it had been used before (a replay)."""
    try:
        with transaction.atomic():
            RevokedToken.objects.create(jti=f"used:{jti}", kind="used", subject=name, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


def connect_user_signals() -> None:
    """A staff user's password, is_active or is_staff changing by any means (the admin,
    changepassword, a shell) ends every token issued before (ClientsConfig.ready)."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_save, pre_save

    user_model = get_user_model()
    watched = ("password", "is_active", "is_staff")

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

    pre_save.connect(remember, sender=user_model, weak=False, dispatch_uid="revocation_remember")
    post_save.connect(compare, sender=user_model, weak=False, dispatch_uid="revocation_compare")
