from django.contrib import admin
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ltplabs.http.jwks import jwks
from ltplabs.http.metrics import metrics_view


@require_safe
def landing(request):
    """What this is and where to go: the admin, the API docs, the probes (the admin's "View site")."""
    return render(request, "landing.html", admin.site.each_context(request))


# Django tries the patterns in order: the API's routes first, as they take the traffic.
urlpatterns = [
    path("api/", include("clients.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("health.urls")),
    path("metrics", metrics_view, name="metrics"),
    path(".well-known/jwks.json", jwks, name="jwks"),
    path("admin/", admin.site.urls),
    # The admin's language switch: Django's set_language (POST, CSRF-checked).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", landing, name="landing"),
]

handler400 = "ltplabs.api.errors.handler400"
handler403 = "ltplabs.api.errors.handler403"
handler404 = "ltplabs.api.errors.handler404"
handler500 = "ltplabs.api.errors.handler500"
