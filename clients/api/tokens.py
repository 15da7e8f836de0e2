"""JWTs for clients (demo-service and the client portal), signed like the staff tokens.

Their own token types keep them apart: simplejwt's staff authentication accepts only
"access" tokens, so a client token never reaches a staff route, and the reverse.
"""

from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token


class ClientAccessToken(Token):
    token_type = "client_access"
    lifetime = api_settings.ACCESS_TOKEN_LIFETIME


class ClientRefreshToken(Token):
    token_type = "client_refresh"
    lifetime = api_settings.REFRESH_TOKEN_LIFETIME


def tokens_for_client(client, demo_slugs: list[str]) -> dict[str, str]:
    refresh = ClientRefreshToken()
    refresh["client_id"] = client.id
    access = ClientAccessToken()
    access["client_id"] = client.id
    access["demos"] = demo_slugs
    return {"access": str(access), "refresh": str(refresh)}
