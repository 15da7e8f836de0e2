import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from clients import api_keys, revocation
from clients.models import Client, ServiceAccount

from .tokens import ClientAccessToken


def staff_may_sign_in(user) -> bool:
    """simplejwt's USER_AUTHENTICATION_RULE: only active staff users get and refresh tokens."""
    return user is not None and user.is_active and user.is_staff


# Staff users seen in the last STAFF_CACHE_SECONDS, per worker process: user id -> (until, user
# with its permissions loaded). Without it every API request costs three queries (the user, its
# permissions, its groups' permissions) before it does its own. A staff user who is deactivated,
# loses is_staff or a permission in another process is refused within that time; in this process
# at once (the signals connect_staff_signals() connects empty the cache).
STAFF_CACHE_SECONDS = revocation.FRESH_SECONDS  # one bound for all a process takes on its word, inside the contract's 1 s
_staff_cache: dict[object, tuple[float, object]] = {}


def forget_staff_users(**kwargs) -> None:
    _staff_cache.clear()


def connect_staff_signals() -> None:
    """Any change of a staff user, its permissions or its groups' empties the cache (ClientsConfig.ready)."""
    user = get_user_model()
    post_save.connect(forget_staff_users, sender=user, dispatch_uid="forget_staff_users_save")
    post_delete.connect(forget_staff_users, sender=user, dispatch_uid="forget_staff_users_delete")
    m2m_changed.connect(forget_staff_users, sender=user.user_permissions.through, dispatch_uid="forget_staff_users_perms")
    m2m_changed.connect(forget_staff_users, sender=user.groups.through, dispatch_uid="forget_staff_users_groups")
    m2m_changed.connect(forget_staff_users, sender=Group.permissions.through, dispatch_uid="forget_staff_users_group_perms")


# Access tokens this process has verified: (kind, raw token) -> (its exp, the validated token).
# A token's signature and claims are checked once; afterwards only its expiry is (a verified
# token cannot become valid in another way, and the keys are the process's own). Checking the
# HMAC and claims is ~0.12 ms of every API request, an ES256 signature more. Revocation and the
# user or client behind it are still checked on every request, so signing out, deactivation and
# lost permissions are not cached here.
VERIFIED_TOKENS_MAX = 1024
_verified_tokens: dict[tuple[str, bytes], tuple[float, object]] = {}


def remembered(kind: str, raw_token: bytes):
    verified = _verified_tokens.get((kind, raw_token))
    return verified[1] if verified is not None and time.time() < verified[0] else None


def remember(kind: str, raw_token: bytes, token) -> None:
    exp = token.get("exp")
    if isinstance(exp, int | float):
        if len(_verified_tokens) >= VERIFIED_TOKENS_MAX:
            _verified_tokens.clear()
        _verified_tokens[(kind, raw_token)] = (exp, token)


class StaffJWTAuthentication(JWTAuthentication):
    """simplejwt access tokens of active staff users."""

    def get_validated_token(self, raw_token):
        verified = remembered("staff", raw_token)
        if verified is not None:
            return refuse_revoked(verified)
        try:
            token = super().get_validated_token(raw_token)
        except InvalidToken:
            if is_valid(ClientAccessToken, raw_token):
                raise exceptions.PermissionDenied("A client token cannot be used on staff routes.") from None
            raise
        remember("staff", raw_token, token)
        return refuse_revoked(token)

    def get_user(self, validated_token):
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        cached = _staff_cache.get(user_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        user = super().get_user(validated_token)
        if not user.is_staff:
            raise exceptions.AuthenticationFailed("Only staff users may use this API.", code="not_staff")
        user.get_all_permissions()  # loaded now, so that the cached user carries them
        _staff_cache[user_id] = (time.monotonic() + STAFF_CACHE_SECONDS, user)
        return user


def authorization_header(request) -> bytes:
    """DRF's get_authorization_header, read from META: DRF asks request.headers, which builds an
    object of every header (~5 µs) for the one it wants."""
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    return header.encode(HTTP_HEADER_ENCODING) if isinstance(header, str) else header


def refuse_revoked(token):
    """The staff token, unless signed out (revocation: checked on every request, cached or not)."""
    if revocation.is_revoked(revocation.subject("staff", token.get(jwt_settings.USER_ID_CLAIM)), token):
        raise InvalidToken("The token has been revoked.")
    return token


def is_valid(token_class, raw_token) -> bool:
    """Whether raw_token is a good token of that kind: told apart from a bad one only to say what is wrong."""
    try:
        token_class(raw_token.decode("ascii") if isinstance(raw_token, bytes) else raw_token)
    except (TokenError, UnicodeDecodeError):
        return False
    return True


class Principal:
    """What DRF and the permission classes ask of request.user, for a caller that is not a Django user."""

    is_authenticated = True
    is_staff = False
    is_active = True


@dataclass
class ClientPrincipal(Principal):
    """request.user for a client token: the client, never a Django user."""

    client: Client
    token: ClientAccessToken

    @property
    def pk(self):
        return self.client.pk


class ClientJWTAuthentication(BaseAuthentication):
    """Client access tokens; the client's current state is checked on every request, so a
    deactivated or expired client's tokens stop working at once."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = authorization_header(request).split()
        if parts and parts[0].lower() == ApiKeyAuthentication.keyword:
            raise exceptions.PermissionDenied("An API key cannot be used on client routes.")
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        token = remembered("client", parts[1])
        if token is None:
            try:
                token = ClientAccessToken(parts[1].decode("ascii"))
            except (TokenError, UnicodeDecodeError):
                if is_valid(AccessToken, parts[1]):
                    raise exceptions.PermissionDenied("A staff token cannot be used on client routes.") from None
                raise exceptions.AuthenticationFailed("The token is invalid or expired.") from None
            remember("client", parts[1], token)
        if revocation.is_revoked(revocation.subject("client", token.get("client_id")), token):
            raise exceptions.AuthenticationFailed("The token is invalid or expired.")
        client = Client.objects.filter(pk=token.get("client_id")).first()
        if client is None or client.status != "active":
            raise exceptions.AuthenticationFailed("The token is invalid or expired.")
        return ClientPrincipal(client, token), token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


@dataclass
class ServiceAccountPrincipal(Principal):
    """request.user for an API key: a program, never a Django user. Its scopes answer the model
    permissions the staff routes ask (api_keys.SCOPE_PERMISSIONS), so those routes need no second rule."""

    account: ServiceAccount
    prefix: str
    scopes: frozenset[str]

    @property
    def pk(self):
        return self.account.pk

    @property
    def principal(self) -> str:  # whose Idempotency-Keys these are (clients.idempotency.principal_of)
        return f"service:{self.account.pk}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return any(perm in api_keys.SCOPE_PERMISSIONS[scope] for scope in self.scopes)

    def has_perms(self, perms, obj=None) -> bool:
        return all(self.has_perm(perm) for perm in perms)


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>` of a service account (clients/api_keys.py).
    The key's row is read on every request: a revoke or an expiry is seen by the next one."""

    keyword = b"api-key"

    def authenticate(self, request):
        parts = authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Api-Key <key>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raw = ""
        use = api_keys.authenticate(raw)
        if use is None:
            raise exceptions.AuthenticationFailed("The API key is invalid, revoked or expired.")
        return ServiceAccountPrincipal(use.account, use.prefix, use.scopes), use.prefix

    def authenticate_header(self, request):
        return 'Api-Key realm="api"'
