"""django-axes for the admin's sign-in form, counting with clients.signin: the admin form and
POST /api/auth/token share one set of counters and one lockout."""

from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from django.http import HttpResponse

from clients import signin
from ltplabs.http.address import client_address


class SignInLimitHandler(AbstractAxesHandler, AxesBaseHandler):
    """is_allowed() counts the attempt (axes calls it once per authenticate() of the admin form)."""

    def is_allowed(self, request, credentials=None) -> bool:
        if not self.is_admin_request(request) or request.method != "POST":
            return True
        wait = signin.attempt("staff", (credentials or {}).get("username"), client_address(request))
        request.signin_retry_after = wait
        if wait is not None:
            request.axes_locked_out = True  # AxesMiddleware answers with lockout_response
        return wait is None

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        pass

    def user_logged_in(self, sender, request, user, **kwargs):
        pass

    def user_logged_out(self, sender, request, user, **kwargs):
        pass

    def get_failures(self, request, credentials=None) -> int:
        return 0


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """The admin's 429, with the same Retry-After the API gives."""
    wait = getattr(request, "signin_retry_after", None) or 60
    response = HttpResponse(
        "Too many sign-in attempts for this account or address; try again later.", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(wait)
    return response
