import re
from random import getrandbits

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import locale
from django.utils import translation
from django_otp import middleware as otp

_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(environ: dict) -> str:
    """A request's id: the caller's X-Request-ID, when it sent a sane one, else a new one.

    32 hex digits, as a uuid4 gave. An id names a request in the logs and guards nothing, so it
    comes from the random module's generator, without os.urandom's system call (uuid4 took five
    times as long); each process has its own, reseeded in every child a fork makes."""
    given = environ.get("HTTP_X_REQUEST_ID")
    return given if given is not None and _VALID_ID.fullmatch(given) else f"{getrandbits(128):032x}"


class RequestIDMiddleware:
    """Every answer carries X-Request-ID (request_id)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id(request.META)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


API_PREFIX = "/api/"


def browser_only(middleware_class):
    """middleware_class, skipped for the token API's requests (paths under /api/).

    Sessions, the session user, messages and the second factor's device serve the admin's browser
    sessions. The API authenticates each request by its bearer token and never reads a cookie (it
    has no session authentication), so for it they would only cost time (~0.1 ms a request).
    """

    class BrowserOnly(middleware_class):
        def __call__(self, request):
            if request.path_info.startswith(API_PREFIX):
                return self.get_response(request)
            return super().__call__(request)

    BrowserOnly.__name__ = BrowserOnly.__qualname__ = f"BrowserOnly{middleware_class.__name__}"
    BrowserOnly.__module__ = __name__
    return BrowserOnly


SessionMiddleware = browser_only(sessions.SessionMiddleware)
AuthenticationMiddleware = browser_only(auth.AuthenticationMiddleware)
MessageMiddleware = browser_only(messages.MessageMiddleware)
OTPMiddleware = browser_only(otp.OTPMiddleware)


class LocaleMiddleware(locale.LocaleMiddleware):
    """The admin's language: the one its switch chose, else the browser's Accept-Language.

    The API answers in LANGUAGE_CODE and negotiates nothing. Its requests still set that language,
    because the language is the thread's: a worker that just served an admin page in Portuguese
    would otherwise answer the API's next request in Portuguese too.
    """

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            return self.get_response(request)
        return super().__call__(request)
