"""Sign-in limits, one set for every way in: the staff API (POST /api/auth/token), the admin's
sign-in form (through django-axes, clients.admin.lockout) and client sign-in.

Three counters per attempt: the account from this address, this address across accounts, and
the account across addresses. The account is keyed exactly as sign-in reads it (trimmed,
case-folded), so spacing or case never opens a fresh allowance; the address is
ltplabs.http.address.client_address, the one the audit rows name.
"""

import hashlib
import unicodedata

from rest_framework.throttling import SimpleRateThrottle

from ltplabs.counters import hit
from ltplabs.http.address import client_address

# Per account and address: the rate of each kind's own scope (THROTTLE_STAFF_LOGIN,
# THROTTLE_CLIENT_LOGIN_EMAIL); the other two are shared by both kinds.
ACCOUNT_AND_ADDRESS_SCOPE = {"staff": "staff_login", "client": "client_login_email"}
ADDRESS_SCOPE = "login_address"
ACCOUNT_SCOPE = "login_account"


def normalise(name) -> str:
    """A user name or e-mail as sign-in compares it: NFKC (as Django's UsernameField), trimmed, case-folded."""
    if not isinstance(name, str):
        return ""
    return unicodedata.normalize("NFKC", name).strip().casefold()[:254]


def _rates() -> dict:
    # Read at call time from DRF's table (DEFAULT_THROTTLE_RATES), which tests may replace.
    return SimpleRateThrottle.THROTTLE_RATES


def _parse(rate: str) -> tuple[int, int]:
    return SimpleRateThrottle.parse_rate(None, rate)


def _key(*parts: str) -> str:
    return "signin:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def attempt(kind: str, account, address: str) -> int | None:
    """Count one sign-in attempt; None when it may go on, else the seconds until it may."""
    account = normalise(account)
    rates = _rates()
    limits = [(ACCOUNT_AND_ADDRESS_SCOPE[kind], (kind, "account+address", account, address))]
    limits.append((ADDRESS_SCOPE, ("address", address)))
    if account:
        limits.append((ACCOUNT_SCOPE, (kind, "account", account)))
    wait = None
    for scope, parts in limits:
        rate = rates.get(scope)
        if not rate:
            continue
        allowed, window = _parse(rate)
        count, left = hit(_key(scope, *parts), window)
        if count > allowed:
            wait = max(wait or 0, left)
    return wait


class SignInThrottle(SimpleRateThrottle):
    """DRF's face of attempt(): 429 with Retry-After past any of the three limits."""

    kind = ""
    account_field = ""

    def __init__(self):
        self.wait_seconds = None

    def allow_request(self, request, view):
        data = request.data if isinstance(request.data, dict) else {}
        self.wait_seconds = attempt(self.kind, data.get(self.account_field), client_address(request))
        return self.wait_seconds is None

    def wait(self):
        return self.wait_seconds


class StaffSignInThrottle(SignInThrottle):
    kind, account_field = "staff", "username"


class ClientSignInThrottle(SignInThrottle):
    kind, account_field = "client", "email"
