"""How every JWT is signed and checked (GatewayTokenBackend), and the clients' tokens
(demo-service and the client portal).

Staff and client tokens are kept apart twice: by their `token_type` (simplejwt's staff
authentication accepts only "access") and by their `aud` (ltplabs-staff, ltplabs-client), which
a program holding only the JWKS checks too.
"""

import time
import uuid

import jwt
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

STAFF_AUDIENCE = "ltplabs-staff"
CLIENT_AUDIENCE = "ltplabs-client"


class GatewayTokenBackend(TokenBackend):
    """simplejwt's backend for one audience, with the gateway's keys: ES256 with JWT_SIGNING_KEY
    (the first key signs, with its `kid` in the header; every listed key verifies, picked by
    `kid`), else HS256 with JWT_SECRET. Only that one algorithm is accepted (no `none`, no HS256
    made with a public key), and `iss` and `aud` are required."""

    def __init__(self, audience: str):
        if settings.JWT_KEYS_MISSING:
            raise ImproperlyConfigured(settings.JWT_KEYS_MISSING)  # never a token signed with an empty key
        self.keys = {key.kid: key.public_key for key in settings.JWT_SIGNING_KEYS}
        current = settings.JWT_SIGNING_KEYS[0] if settings.JWT_SIGNING_KEYS else None
        super().__init__(
            "ES256" if current else "HS256",
            current.private_key if current else settings.JWT_SECRET,
            audience=audience,
            issuer=settings.JWT_ISSUER,
            leeway=api_settings.LEEWAY,
            json_encoder=api_settings.JSON_ENCODER,
        )
        self.kid = current.kid if current else None

    def _prepare_key(self, key):
        return key  # a cryptography key object, or the HS256 secret: nothing to parse

    def encode(self, payload: dict) -> str:
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm, headers=headers, json_encoder=self.json_encoder)

    def get_verifying_key(self, token):
        if self.kid is None:
            return self.signing_key
        key = self.keys.get(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise TokenBackendError("Token is invalid")  # signed by a key that is not (or no longer) ours
        return key


@checks.register(checks.Tags.security, deploy=True)
def token_keys_check(app_configs, **kwargs):
    """`manage.py check --deploy`: a gateway that would serve needs a key to sign tokens with."""
    return [checks.Error(settings.JWT_KEYS_MISSING, id="ltplabs.E001")] if settings.JWT_KEYS_MISSING else []


_backends: dict[str, GatewayTokenBackend] = {}


def backend(audience: str) -> GatewayTokenBackend:
    if audience not in _backends:
        _backends[audience] = GatewayTokenBackend(audience)
    return _backends[audience]


def install_staff_backend() -> None:
    """simplejwt's own token classes (the staff tokens) sign and check through the gateway's
    backend for the staff audience (ClientsConfig.ready)."""
    Token.token_backend = property(lambda token: backend(STAFF_AUDIENCE))  # built at first use, not at start-up


class ClientToken(Token):
    def get_token_backend(self):
        return backend(CLIENT_AUDIENCE)


class ClientAccessToken(ClientToken):
    token_type = "client_access"
    lifetime = api_settings.ACCESS_TOKEN_LIFETIME


class ClientRefreshToken(ClientToken):
    token_type = "client_refresh"
    lifetime = api_settings.REFRESH_TOKEN_LIFETIME


def tokens_for_client(client, demo_slugs: list[str], chain=None) -> dict[str, str]:
    """A new pair; `chain` (a refresh token being rotated) passes on its sign-in's `auth_time` and
    `fam`, the family that reuse detection ends as a whole."""
    refresh = ClientRefreshToken()
    refresh["client_id"] = client.id
    refresh["auth_time"] = chain["auth_time"] if chain else time.time()
    refresh["fam"] = chain["fam"] if chain else uuid.uuid4().hex
    access = ClientAccessToken()
    access["client_id"] = client.id
    access["demos"] = demo_slugs
    access["auth_time"], access["fam"] = refresh["auth_time"], refresh["fam"]
    return {"access": str(access), "refresh": str(refresh)}
