from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError

from .models import Client
from .tokens import ClientAccessToken


def staff_may_sign_in(user) -> bool:
    """simplejwt's USER_AUTHENTICATION_RULE: only active staff users get and refresh tokens."""
    return user is not None and user.is_active and user.is_staff


class StaffJWTAuthentication(JWTAuthentication):
    """simplejwt access tokens of active staff users."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not user.is_staff:
            raise exceptions.AuthenticationFailed("Only staff users may use this API.", code="not_staff")
        return user


@dataclass
class ClientPrincipal:
    """request.user for a client token: the client, never a Django user."""

    client: Client
    token: ClientAccessToken
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True

    @property
    def pk(self):
        return self.client.pk


class ClientJWTAuthentication(BaseAuthentication):
    """Client access tokens; the client's current state is checked on every request, so a
    deactivated or expired client's tokens stop working at once."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            token = ClientAccessToken(parts[1].decode("ascii"))
        except (TokenError, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed("The token is invalid or expired.") from None
        client = Client.objects.filter(pk=token.get("client_id")).first()
        if client is None or client.status != "active":
            raise exceptions.AuthenticationFailed("The token is invalid or expired.")
        return ClientPrincipal(client, token), token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
