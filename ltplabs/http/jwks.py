"""GET /.well-known/jwks.json: the public halves of the signing keys (RFC 7517), so that a program
(demo-service) checks the gateway's tokens without holding anything that could mint one."""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

# Short enough that a verifier sees a key added for rotation well before it signs (README,
# "Rotating the signing key"); long enough that verifiers do not ask on every token.
JWKS_MAX_AGE = 300


@require_safe
@cache_control(public=True, max_age=JWKS_MAX_AGE)
def jwks(request):
    """Every configured ES256 key, current first; {"keys": []} under HS256 (nothing public to check with)."""
    return JsonResponse({"keys": [key.jwk() for key in settings.JWT_SIGNING_KEYS]})
