"""The caller's address: one function for throttles, lockouts (django-axes) and audit rows."""

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR, or with DJANGO_NUM_PROXIES=N the address N hops from the right of
    X-Forwarded-For (what the last of our own proxies saw); with 0 the header is ignored,
    since anyone can send it."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR") or ""
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(proxies, len(hops))]
