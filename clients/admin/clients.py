"""The staff admin's clients, with their demo access (demos.py and audit.py: the other pages).

Every write goes through clients.services with a staff Actor (user, IP, user agent), so the
admin leaves the same audit rows as the API. Lists stay cheap on 100,000 clients: no query
per row (demo_count is a subquery, status and days come from the row), no second COUNT.
"""

import csv
from datetime import UTC, datetime

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr
from django.http import StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from clients import rules, services
from clients.legacy_time import format_time, now
from clients.models import Client, ClientDemoAccess, ClientQuerySet, Demo
from clients.selectors.client_rows import DEMO_COUNT_SQL
from clients.sites import WritableUnlessReadOnly

from .forms import ClientAddForm, ClientChangeForm, DemoAccessForm

STATUS_LABELS = {status: status.capitalize() for status in rules.STATUSES}
CSV_COLUMNS = ("id", "name", "email", "company", "phone", "status", "days_remaining", "demo_count", "data_registo", "access_end_date")


def actor(request) -> services.Actor:
    return services.Actor.staff(request.user, request)


def status_badge(status: str):
    return format_html('<span class="ltp-status ltp-status-{}">{}</span>', status, STATUS_LABELS[status])


# --- clients ---------------------------------------------------------------------------


class AdminClientQuerySet(ClientQuerySet):
    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """The date hierarchy's years, months or days, read as prefixes of SQLite's text times.

        Django truncates each row's time in a Python function, a second on 100,000 clients;
        ltplabs.db keeps UTC text 'YYYY-MM-DD HH:MM:SS' (TIME_ZONE is UTC), so a prefix of
        the text is the truncated time already, and SQLite's own substr is fast.
        """
        if connection.vendor != "sqlite" or kind not in ("year", "month", "day") or tzinfo is not None:
            return super().datetimes(field_name, kind, order, tzinfo)
        size = {"year": 4, "month": 7, "day": 10}[kind]
        prefixes = (
            self.filter(**{f"{field_name}__isnull": False})
            .annotate(prefix=Substr(field_name, 1, size))
            .values_list("prefix", flat=True)
            .distinct()
            .order_by("prefix" if order == "ASC" else "-prefix")
        )
        pad = {"year": "-01-01", "month": "-01", "day": ""}[kind]
        return [datetime.fromisoformat(prefix + pad).replace(tzinfo=UTC) for prefix in prefixes]


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(STATUS_LABELS.items())

    def queryset(self, request, queryset):
        if self.value() in STATUS_LABELS:
            return getattr(queryset, self.value())()
        return queryset


class DemoFilter(admin.SimpleListFilter):
    title = "demo"
    parameter_name = "demo"

    def lookups(self, request, model_admin):
        return [(str(demo.id), demo.name) for demo in Demo.objects.order_by("name")]

    def queryset(self, request, queryset):
        if self.value():
            if not self.value().isdigit():
                raise IncorrectLookupParameters(f"demo={self.value()!r}")
            # (client, demo) is unique, so the join adds no duplicate rows.
            return queryset.filter(demo_access__demo_id=int(self.value()))
        return queryset


class DemoAccessInline(WritableUnlessReadOnly, admin.TabularInline):
    model = ClientDemoAccess
    form = DemoAccessForm
    fields = ("demo", "expires_at", "granted_at", "granted_by", "access_count", "last_accessed_at")
    readonly_fields = ("granted_at", "granted_by", "access_count", "last_accessed_at")
    extra = 0
    verbose_name = "demo access"
    verbose_name_plural = "demo access (expiry empty: follows the client's end of access)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("demo")


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "company", "status_display", "days_remaining_display", "demo_count", "data_registo")
    list_display_links = ("name", "email")
    search_fields = ("name", "email", "company")
    search_help_text = "Name, e-mail or company (part of it)."
    list_filter = (StatusFilter, "company", DemoFilter)
    date_hierarchy = "data_registo"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    list_select_related = False
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    inlines = (DemoAccessInline,)
    actions = ("extend_30_days", "deactivate", "reactivate", "sign_out_everywhere")
    form = ClientChangeForm
    add_form = ClientAddForm
    add_fieldsets = ((None, {"fields": ("name", "email", "password", "company", "phone", "notes", "access_days")}),)
    readonly_fields = (
        "email",
        "status_display",
        "days_remaining_display",
        "data_registo",
        "last_login_at",
        "created_by",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        queryset = AdminClientQuerySet(Client).order_by(*self.get_ordering(request))
        return queryset.defer("password_hash").annotate(demo_count=RawSQL(DEMO_COUNT_SQL, ()))

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        fieldsets = [
            (None, {"fields": ("name", "email", "company", "phone", "notes")}),
            ("Access", {"fields": ("status_display", "is_active", "access_end_date", "days_remaining_display")}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.append(("Password", {"fields": ("password",)}))
        fieldsets.append(("Record", {"fields": ("data_registo", "last_login_at", "created_by", "created_at", "updated_at")}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # No client_delete use case exists: clients are deactivated, never deleted.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status")
    def status_display(self, obj):
        return status_badge(obj.status)

    @admin.display(description="days left", ordering="access_end_date")
    def days_remaining_display(self, obj):
        days = rules.days_remaining(obj.access_end_date, now())
        return "—" if days is None else days

    @admin.display(description="demos")
    def demo_count(self, obj):
        return obj.demo_count

    # --- writes, all through the services ---

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            client = services.client_create(
                actor=actor(request),
                name=data["name"],
                email=data["email"],
                password=data["password"],
                company=data["company"],
                phone=data["phone"],
                notes=data["notes"],
                access_days=data["access_days"],
            )
            for field in Client._meta.concrete_fields:
                setattr(obj, field.attname, getattr(client, field.attname))
            return
        changes = {field: data[field] for field in services.UPDATABLE_FIELDS if field in form.changed_data}
        if changes:
            services.client_update(actor=actor(request), client_id=obj.pk, changes=changes)
        if data.get("password"):
            services.client_set_password(actor=actor(request), client_id=obj.pk, password=data["password"])

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)  # fills new_objects, changed_objects, deleted_objects; writes nothing
        client_id = form.instance.pk
        for access in formset.deleted_objects:
            services.access_revoke(actor=actor(request), client_id=client_id, demo=access.demo.slug)
        for access, changed in formset.changed_objects:
            if "expires_at" in changed:
                services.access_update(actor=actor(request), client_id=client_id, demo=access.demo.slug, expires_at=access.expires_at)
        for access in formset.new_objects:
            services.access_grant(actor=actor(request), client_id=client_id, demo=access.demo.slug, expires_at=access.expires_at)

    def delete_model(self, request, obj):
        raise NotImplementedError("clients are deactivated, never deleted")

    # --- actions ---

    def _run(self, request, queryset, service, done: str, **kwargs) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for client_id in ids:
            service(actor=actor(request), client_id=client_id, **kwargs)
        noun = "client" if len(ids) == 1 else "clients"
        self.message_user(request, f"{done} {len(ids)} {noun}.", messages.SUCCESS if ids else messages.WARNING)

    @admin.action(description="Extend access by 30 days", permissions=["change"])
    def extend_30_days(self, request, queryset):
        self._run(request, queryset, services.client_extend, "Extended access by 30 days for", days=30)

    @admin.action(description="Deactivate", permissions=["change"])
    def deactivate(self, request, queryset):
        self._run(request, queryset.filter(is_active=True), services.client_deactivate, "Deactivated")

    @admin.action(description="Reactivate", permissions=["change"])
    def reactivate(self, request, queryset):
        self._run(request, queryset.filter(is_active=False), services.client_reactivate, "Reactivated")

    @admin.action(description="Sign out everywhere", permissions=["change"])
    def sign_out_everywhere(self, request, queryset):
        self._run(request, queryset, services.client_sign_out_everywhere, "Signed out everywhere")

    # --- the audit history link and the CSV export ---

    def change_view(self, request, object_id, form_url="", extra_context=None):
        history = reverse("admin:clients_auditlog_changelist") + "?" + urlencode({"entity_type": "client", "entity_id": object_id})
        extra_context = {**(extra_context or {}), "audit_history_url": history}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        query = request.GET.copy()
        for param in ("p", "o", "e"):
            query.pop(param, None)
        export = reverse("admin:clients_client_export")
        extra_context = {**(extra_context or {}), "export_url": f"{export}?{query.urlencode()}" if query else export}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="clients_client_export")
        return [export, *super().get_urls()]

    def export_csv(self, request):
        """The change list's clients as CSV, with its search and filters, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = changelist.get_queryset(request).values_list(
            "id", "name", "email", "company", "phone", "is_active", "access_end_date", "demo_count", "data_registo"
        )
        writer = csv.writer(Echo())

        def lines():
            yield writer.writerow(CSV_COLUMNS)
            at = now()
            for client_id, name, email, company, phone, is_active, end, demo_count, registered in rows.iterator(chunk_size=2000):
                yield writer.writerow(
                    [client_id, *map(spreadsheet_safe, (name, email, company, phone)), rules.status(is_active, end, at),
                     rules.days_remaining(end, at), demo_count, fmt(registered), fmt(end)]
                )  # fmt: skip

        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="ltplabs-clients-{stamp}.csv"'
        return response


class Echo:
    def write(self, value):
        return value


def fmt(value):
    return format_time(value) or ""


def spreadsheet_safe(value):
    """A cell a spreadsheet would run as a formula gets a leading quote; phone numbers stay as they are."""
    if not value:
        return value or ""
    if value[0] in "=@\t\r" or (value[0] in "+-" and not value[1:].replace(" ", "").isdigit()):
        return "'" + value
    return value
