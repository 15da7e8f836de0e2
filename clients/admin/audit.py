"""The audit log, to look at and filter."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from clients.models import AuditLog
from clients.sites import ReadOnlyAdmin


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Append-only: the database's triggers refuse edits and deletes, and the admin offers none."""

    list_display = ("created_at", "action", "entity_link", "actor", "ip_address")
    list_filter = ("action", "entity_type", "actor_type", "created_at")
    search_fields = ("=entity_id", "=actor_id", "ip_address")
    search_help_text = "An entity id, an actor id or an IP address (exactly)."
    ordering = ("-created_at", "-id")
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "created_at", "action", "entity_type", "entity_id", "entity_link", "actor_type", "actor_id", "ip_address", "user_agent",
        "details_json",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="entity")
    def entity_link(self, entry):
        if entry.entity_type == "client" and entry.entity_id is not None:
            url = reverse("admin:clients_client_change", args=[entry.entity_id])
            return format_html('<a href="{}">client {}</a>', url, entry.entity_id)
        return f"{entry.entity_type} {entry.entity_id if entry.entity_id is not None else ''}".strip()

    @admin.display(description="actor", ordering="actor_type")
    def actor(self, entry):
        return entry.actor_type if entry.actor_id is None else f"{entry.actor_type} {entry.actor_id}"

    @admin.display(description="details")
    def details_json(self, entry):
        if entry.details is None:
            return "—"
        return format_html('<pre class="ltp-json">{}</pre>', json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True))
