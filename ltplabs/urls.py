from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# Django tries the patterns in order: the API's routes first, as they take the traffic.
urlpatterns = [
    path("api/", include("clients.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("health.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "ltplabs.api.errors.handler400"
handler403 = "ltplabs.api.errors.handler403"
handler404 = "ltplabs.api.errors.handler404"
handler500 = "ltplabs.api.errors.handler500"
