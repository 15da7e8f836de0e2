"""Demos with their usage (v_demo_usage), to look at."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from clients.models import Demo
from clients.sites import ReadOnlyAdmin


@admin.register(Demo)
class DemoAdmin(ReadOnlyAdmin):
    """Read-only: no demo use case exists among the services, and demo-service owns the catalogue."""

    list_display = ("name", "slug", "is_active", "clients_with_access", "total_accesses", "last_accessed_at", "url")
    list_select_related = ("usage",)
    search_fields = ("name", "slug")
    list_filter = ("is_active",)
    fields = ("name", "slug", "description", "url", "is_active", "created_at", "clients_with_access", "total_accesses", "last_accessed_at")
    readonly_fields = fields

    @admin.display(description=_("clients with access"))
    def clients_with_access(self, demo):
        clients = reverse("admin:clients_client_changelist") + "?" + urlencode({"demo": demo.id})
        return format_html('<a href="{}">{}</a>', clients, demo.usage.clients_with_access)

    @admin.display(description=_("total accesses"))
    def total_accesses(self, demo):
        return demo.usage.total_accesses

    @admin.display(description=_("last accessed"))
    def last_accessed_at(self, demo):
        return demo.usage.last_accessed_at
