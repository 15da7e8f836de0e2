"""The audit log, to look at and filter."""

import json

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from clients import selectors
from clients.models import AuditLog
from clients.sites import ReadOnlyAdmin

CURSOR_VAR = "cursor"


class AuditChangeList(ChangeList):
    """Pages by cursor (`?cursor=`, the last id of the page before), newest first: LIMIT n+1 after
    `id < cursor`, the same query at any depth, with no OFFSET and no COUNT (selectors.audit_queryset
    says why id order is the log's order and which index serves it)."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(CURSOR_VAR, None)
        return lookup_params

    def get_results(self, request):
        cursor = request.GET.get(CURSOR_VAR)
        queryset = self.queryset
        if cursor:
            try:
                queryset = queryset.filter(id__lt=selectors.decode_audit_cursor(cursor))
            except ValidationError:  # a cursor this admin did not give: the first page
                cursor = None
        rows = list(queryset[: self.list_per_page + 1])
        has_more = len(rows) > self.list_per_page
        self.result_list = rows[: self.list_per_page]
        self.result_count = len(self.result_list)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = False
        self.can_show_all = False
        self.multi_page = has_more or bool(cursor)
        self.paginator = self.model_admin.get_paginator(request, self.result_list, self.list_per_page)
        self.newest_url = self.get_query_string(remove=[CURSOR_VAR]) if cursor else None
        self.older_url = self.get_query_string({CURSOR_VAR: selectors.encode_audit_cursor(self.result_list[-1].id)}) if has_more else None


class EntityTypeFilter(admin.SimpleListFilter):
    title = "entity type"
    parameter_name = "entity_type"

    def __init__(self, request, params, model, model_admin):
        self.with_entity_id = bool(request.GET.get("entity_id"))
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        types = AuditLog.objects.order_by("entity_type").values_list("entity_type", flat=True).distinct()
        return [(entity_type, entity_type) for entity_type in types]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return selectors.audit_entity_type_filter(queryset, self.value(), with_entity_id=self.with_entity_id)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Append-only: the database's triggers refuse edits and deletes, and the admin offers none."""

    list_display = ("created_at", "action", "entity_link", "actor", "ip_address")
    list_filter = ("action", EntityTypeFilter, "actor_type", "created_at")
    search_fields = ("=entity_id", "=actor_id", "ip_address")
    search_help_text = "An entity id, an actor id or an IP address (exactly)."
    ordering = ("-id",)  # the log's order (the cursor's); no other order can page in constant time
    sortable_by = ()
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "created_at", "action", "entity_type", "entity_id", "entity_link", "actor_type", "actor_id", "ip_address", "user_agent",
        "details_json",
    )  # fmt: skip
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

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
