"""`@idempotent` on every write route of the API but sign-in, refresh and logout (the contract's
"Safe retries"): the decorated method runs at most once per principal and Idempotency-Key."""

import functools

from rest_framework.response import Response

from clients import idempotency

HEADER = "Idempotency-Key"
# HEADER as the WSGI environ names it: read from META, a write need not build request.headers
# (an object of every header, ~5 µs) to learn that it carries none.
META_KEY = "HTTP_IDEMPOTENCY_KEY"
REPLAYED = "Idempotent-Replayed"
WRITE_METHODS = ("POST", "PATCH", "DELETE")


def idempotent(method):
    """Wrap a viewset method that writes: with an Idempotency-Key, its first answer is stored in
    the write's transaction and replayed to retries (clients/idempotency.py says how)."""

    @functools.wraps(method)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(META_KEY)
        if key is None or request.method not in WRITE_METHODS:
            return method(self, request, *args, **kwargs)
        idempotency.validate_key(key)
        claimed = idempotency.claim(
            principal=idempotency.principal_of(request.user),
            key=key,
            fingerprint=idempotency.fingerprint(request.method, request.path, request.data),
        )
        if isinstance(claimed, idempotency.Replay):
            return Response(claimed.body, status=claimed.status, headers={REPLAYED: "true"})
        headers = {}

        def write():
            response = method(self, request, *args, **kwargs)
            headers.update({name: value for name, value in response.items() if name.lower() == "etag"})
            return response.status_code, response.data

        status, body = idempotency.run(claimed, write)
        return Response(body, status=status, headers=headers)

    wrapper.idempotent = True
    return wrapper
