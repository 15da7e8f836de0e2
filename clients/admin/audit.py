"""The audit log, to look at, filter and search: times to the second, staff users and clients
by name, the demo of an access row, and an update's before and after side by side."""

import json

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from clients import selectors
from clients.audit import ACTIONS, ENTITY_TYPES
from clients.legacy_time import format_time
from clients.models import AuditLog, Client
from clients.selectors.dashboard import audit_names
from clients.sites import ReadOnlyAdmin

# A name or e-mail search matches at most this many clients; their entries are listed.
SEARCH_CLIENTS_MAX = 500


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
        names = audit_names(self.result_list)  # two queries for the page, not two per row
        for entry in self.result_list:
            entry.names = names


class ActionFilter(admin.SimpleListFilter):
    """The known actions (clients.audit.ACTIONS), not a DISTINCT scan of the log; ?action= takes any."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in sorted(ACTIONS)]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(action=self.value())


class EntityTypeFilter(admin.SimpleListFilter):
    title = _("entity type")
    parameter_name = "entity_type"

    def __init__(self, request, params, model, model_admin):
        self.with_entity_id = bool(request.GET.get("entity_id"))
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(entity_type, entity_type) for entity_type in ENTITY_TYPES]  # no DISTINCT scan of the log

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return selectors.audit_entity_type_filter(queryset, self.value(), with_entity_id=self.with_entity_id)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Append-only: the database's triggers refuse edits and deletes, and the admin offers none."""

    list_display = ("time", "action", "entity_link", "demo", "actor", "ip_address")
    list_display_links = ("time",)
    list_filter = (ActionFilter, EntityTypeFilter, "actor_type", "created_at")
    search_fields = ("=entity_id", "=actor_id", "ip_address")
    search_help_text = _("A client's e-mail or name (part of it), an entity or actor id, or an IP address.")
    ordering = ("-id",)  # the log's order (the cursor's); no other order can page in constant time
    sortable_by = ()
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "time", "action", "entity_type", "entity_id", "entity_link", "actor", "ip_address", "user_agent", "changes", "details_json",
    )  # fmt: skip
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

    def get_search_results(self, request, queryset, search_term):
        """Besides the exact id and address fields: the entries of the clients whose name or e-mail holds the term."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, may_have_duplicates
        ids = list(
            Client.objects.filter(Q(email__icontains=term) | Q(name__icontains=term))
            .order_by("id")
            .values_list("id", flat=True)[:SEARCH_CLIENTS_MAX]
        )
        if not ids:
            return found, may_have_duplicates
        of_clients = queryset.filter(Q(entity_type="client", entity_id__in=ids) | Q(actor_type="client", actor_id__in=ids))
        return found | of_clients, may_have_duplicates

    def history_view(self, request, object_id, extra_context=None):
        """Django's History reads django_admin_log, which stays empty: the entries of this entry's entity instead."""
        entry = self.get_object(request, object_id)
        if entry is None or entry.entity_id is None:
            return HttpResponseRedirect(reverse("admin:clients_auditlog_changelist"))
        query = urlencode({"entity_type": entry.entity_type, "entity_id": entry.entity_id})
        return HttpResponseRedirect(reverse("admin:clients_auditlog_changelist") + "?" + query)

    def names(self, entry):
        return getattr(entry, "names", None) or audit_names([entry])

    @admin.display(description=_("time (UTC)"))
    def time(self, entry):
        return format_time(entry.created_at)

    @admin.display(description=_("entity"))
    def entity_link(self, entry):
        name = self.names(entry).entity(entry)
        if entry.entity_type == "client" and entry.entity_id is not None:
            url = reverse("admin:clients_client_change", args=[entry.entity_id])
            return format_html('<a href="{}">{}</a>', url, name)
        return name

    @admin.display(description=_("demo"))
    def demo(self, entry):
        return (entry.details or {}).get("demo", "") if isinstance(entry.details, dict) else ""

    @admin.display(description=_("actor"), ordering="actor_type")
    def actor(self, entry):
        name = self.names(entry).actor(entry)
        if entry.actor_type == "client" and entry.actor_id is not None:
            return format_html('<a href="{}">{}</a>', reverse("admin:clients_client_change", args=[entry.actor_id]), name)
        return name

    @admin.display(description=_("before and after"))
    def changes(self, entry):
        details = entry.details if isinstance(entry.details, dict) else {}
        before, after = details.get("before"), details.get("after")
        if not isinstance(before, dict) or not isinstance(after, dict):
            return "—"
        rows = format_html_join(
            "", "<tr><th scope=\"row\">{}</th><td class=\"ltp-before\">{}</td><td class=\"ltp-after\">{}</td></tr>",
            ((field, show(before.get(field)), show(after.get(field))) for field in sorted({*before, *after})),
        )  # fmt: skip
        return format_html(
            '<table class="ltp-changes"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("field"), _("before"), _("after"), rows,
        )  # fmt: skip

    @admin.display(description=_("details"))
    def details_json(self, entry):
        if entry.details is None:
            return "—"
        return format_html('<pre class="ltp-json">{}</pre>', json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True))


def show(value) -> str:
    return "—" if value is None else json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
