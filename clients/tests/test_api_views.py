"""Every API view, ours and simplejwt's, is built on ltplabs.api.views.GatewayView: the read-only
gate and the release of each answer once sent (clients/tests/test_api.py tests what they do)."""

from django.urls import URLPattern, URLResolver, get_resolver

from ltplabs.api.views import GatewayView


def api_views(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/") and pattern.callback.__module__.startswith("clients."):
            yield route, getattr(pattern.callback, "cls", None)


def test_every_api_view_is_a_gateway_view():
    views = dict(api_views())
    assert {"api/auth/token", "api/auth/logout", "api/client-auth/login", "api/me"} <= set(views)
    assert len(views) >= 12
    assert not {route: view for route, view in views.items() if not (isinstance(view, type) and issubclass(view, GatewayView))}


def test_only_signing_in_and_out_and_the_entitlement_check_pass_the_read_only_gate():
    # they write nothing on a read-only gateway, or meet the read-only file (clients/api/auth_views.py);
    # the check refuses `record` itself (clients/tests/test_api_keys.py)
    ungated = {route for route, view in api_views() if not view.read_only_gate}
    assert ungated == {
        "api/auth/token", "api/auth/token/refresh", "api/auth/token/verify", "api/auth/logout", "api/client-auth/login",
        "api/client-auth/refresh", "api/entitlements/check",
    }  # fmt: skip
