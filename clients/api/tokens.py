"""JWTs for clients (demo-service and the client portal), signed like the staff tokens.

Their own token types keep them apart: simplejwt's staff authentication accepts only
"access" tokens, so a client token never reaches a staff route, and the reverse.
"""

import time
import uuid

from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token


class ClientAccessToken(Token):
    token_type = "client_access"
    lifetime = api_settings.ACCESS_TOKEN_LIFETIME


class ClientRefreshToken(Token):
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
