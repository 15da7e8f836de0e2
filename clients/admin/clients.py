"""The staff admin's clients, with their demo access (demos.py and audit.py: the other pages).

Every write goes through clients.services with a staff Actor (user, IP, user agent), so the
admin leaves the same audit rows as the API. Lists stay cheap on 100,000 clients: no query
per row (demo_count is a subquery, status and days come from the row), no second COUNT.
"""

import csv
import secrets
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, ngettext_lazy

from clients import rules, services
from clients.importing import COLUMNS as IMPORT_COLUMNS
from clients.importing import ImportFileError, import_clients, read_rows
from clients.legacy_time import format_time, now
from clients.models import Client, ClientDemoAccess, ClientQuerySet, Demo
from clients.selectors.client_rows import DEMO_COUNT_SQL
from clients.selectors.dashboard import EXPIRING_WINDOWS
from clients.sites import WritableUnlessReadOnly
from ltplabs.exceptions import Conflict, NotFound

from .forms import BulkExtendForm, BulkGrantForm, BulkRevokeForm, ClientAddForm, ClientChangeForm, DemoAccessForm, ExtendForm, ImportForm

STATUS_LABELS = {rules.ACTIVE: gettext_lazy("Active"), rules.EXPIRED: gettext_lazy("Expired"), rules.INACTIVE: gettext_lazy("Inactive")}
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
    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(STATUS_LABELS.items())

    def queryset(self, request, queryset):
        if self.value() in STATUS_LABELS:
            return getattr(queryset, self.value())()
        return queryset


class ExpiringFilter(admin.SimpleListFilter):
    title = gettext_lazy("expiring")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [(str(days), gettext_lazy("within %(days)s days") % {"days": days}) for days in EXPIRING_WINDOWS]

    def queryset(self, request, queryset):
        if self.value():
            if self.value() not in {str(days) for days in EXPIRING_WINDOWS}:
                raise IncorrectLookupParameters(f"expiring={self.value()!r}")
            at = now()
            return queryset.filter(is_active=True, access_end_date__gt=at, access_end_date__lte=at + timedelta(days=int(self.value())))
        return queryset


class DemoFilter(admin.SimpleListFilter):
    title = gettext_lazy("demo")
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
    fields = ("demo", "expires_at", "granted_at", "granted_by_name", "access_count", "last_accessed_at")
    readonly_fields = ("granted_at", "granted_by_name", "access_count", "last_accessed_at")
    extra = 0
    verbose_name = gettext_lazy("demo access")
    verbose_name_plural = gettext_lazy("demo access (expiry empty: follows the client's end of access)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("demo")

    @admin.display(description=gettext_lazy("granted by"))
    def granted_by_name(self, access):
        return staff_name(access.granted_by)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "company", "status_display", "days_remaining_display", "demo_count", "registered")
    list_display_links = ("name", "email")
    search_fields = ("name", "email", "company")
    search_help_text = gettext_lazy("Name, e-mail or company (part of it).")
    list_filter = (StatusFilter, ExpiringFilter, "company", DemoFilter)
    date_hierarchy = "data_registo"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    list_select_related = False
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    inlines = (DemoAccessInline,)
    actions = ("extend_30_days", "extend_days", "grant_demo", "revoke_demo", "deactivate", "reactivate", "sign_out_everywhere")
    form = ClientChangeForm
    add_form = ClientAddForm
    add_fieldsets = ((None, {"fields": ("name", "email", "password", "company", "phone", "notes", "access_days")}),)
    readonly_fields = (
        "email",
        "status_display",
        "days_remaining_display",
        "data_registo",
        "last_login_at",
        "created_by_name",
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
            (_("Access"), {"fields": ("status_display", "is_active", "access_end_date", "days_remaining_display")}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets[0][1]["fields"] += ("version", "seen_audit_id")  # hidden: the stale-save check (forms.py)
            fieldsets.append((_("Password"), {"fields": ("password",)}))
        fieldsets.append((_("Record"), {"fields": ("data_registo", "last_login_at", "created_by_name", "created_at", "updated_at")}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.readonly_fields if self.has_activate_permission(request) else (*self.readonly_fields, "is_active")

    def has_activate_permission(self, request, obj=None):
        """Deactivating and reactivating: the API's rule (clients.rules.permissions_for_changes)."""
        return self.has_change_permission(request, obj) and request.user.has_perms(rules.permissions_for_changes(["is_active"]))

    def has_grant_permission(self, request, obj=None):
        """Granting a demo to many: what POST /api/clients/{id}/demos needs (add on demo access)."""
        return request.user.has_perm("clients.add_clientdemoaccess") and not settings.DATABASE_READ_ONLY

    def has_revoke_permission(self, request, obj=None):
        """Revoking a demo from many: what DELETE /api/clients/{id}/demos/{slug} needs."""
        return request.user.has_perm("clients.delete_clientdemoaccess") and not settings.DATABASE_READ_ONLY

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # No client_delete use case exists: clients are deactivated, never deleted.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("status"))
    def status_display(self, obj):
        return status_badge(obj.status)

    # Soonest end first; no end date is the longest access of all, so it sorts last (first, reversed).
    @admin.display(description=gettext_lazy("days left"), ordering=F("access_end_date").asc(nulls_last=True))
    def days_remaining_display(self, obj):
        return days_left_words(obj.is_active, obj.access_end_date, now())

    @admin.display(description=gettext_lazy("demos"))
    def demo_count(self, obj):
        return obj.demo_count

    @admin.display(description=gettext_lazy("created by"))
    def created_by_name(self, obj):
        return staff_name(obj.created_by)

    @admin.display(description=gettext_lazy("registered"), ordering="data_registo")
    def registered(self, obj):
        return date_format(obj.data_registo, "SHORT_DATE_FORMAT") if obj.data_registo else ""

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

    def _run(self, request, queryset, service, done, **kwargs) -> None:
        """Each chosen client through `service`; `done` (an ngettext_lazy of %(count)d) says what was done."""
        ids = list(queryset.values_list("pk", flat=True))
        for client_id in ids:
            service(actor=actor(request), client_id=client_id, **kwargs)
        self.message_user(request, done % {"count": len(ids)}, messages.SUCCESS if ids else messages.WARNING)

    @admin.action(description=gettext_lazy("Extend access by 30 days"), permissions=["change"])
    def extend_30_days(self, request, queryset):
        done = ngettext_lazy(
            "Extended access by 30 days for %(count)d client.", "Extended access by 30 days for %(count)d clients.", "count"
        )
        self._run(request, queryset, services.client_extend, done, days=30)

    @admin.action(description=gettext_lazy("Extend access by N days…"), permissions=["change"])
    def extend_days(self, request, queryset):
        return self._with_form(request, queryset, BulkExtendForm, "extend_days", self._extend_days)

    def _extend_days(self, request, ids, data):
        for client_id in ids:
            services.client_extend(actor=actor(request), client_id=client_id, days=data["days"])
        return ngettext(
            "Extended access by %(days)d days for %(count)d client.", "Extended access by %(days)d days for %(count)d clients.", len(ids)
        ) % {"days": data["days"], "count": len(ids)}

    @admin.action(description=gettext_lazy("Grant a demo…"), permissions=["grant"])
    def grant_demo(self, request, queryset):
        return self._with_form(request, queryset, BulkGrantForm, "grant_demo", self._grant_demo)

    def _grant_demo(self, request, ids, data):
        demo, granted, had = data["demo"], 0, 0
        for client_id in ids:
            try:
                services.access_grant(actor=actor(request), client_id=client_id, demo=demo.slug, expires_at=data["expires_at"])
                granted += 1
            except Conflict:
                had += 1
        message = _("Granted %(demo)s to %(granted)d of %(count)d clients.") % {"demo": demo.name, "granted": granted, "count": len(ids)}
        if had:
            message += " " + _("%(had)d had it already (unchanged).") % {"had": had}
        return message

    @admin.action(description=gettext_lazy("Revoke a demo…"), permissions=["revoke"])
    def revoke_demo(self, request, queryset):
        return self._with_form(request, queryset, BulkRevokeForm, "revoke_demo", self._revoke_demo)

    def _revoke_demo(self, request, ids, data):
        demo, revoked, lacked = data["demo"], 0, 0
        for client_id in ids:
            try:
                services.access_revoke(actor=actor(request), client_id=client_id, demo=demo.slug)
                revoked += 1
            except NotFound:
                lacked += 1
        message = _("Revoked %(demo)s from %(revoked)d of %(count)d clients.") % {"demo": demo.name, "revoked": revoked, "count": len(ids)}
        if lacked:
            message += " " + _("%(lacked)d did not have it.") % {"lacked": lacked}
        return message

    def _with_form(self, request, queryset, form_class, action: str, apply):
        """An action with a parameter: Django's intermediate page (the form and the chosen clients),
        then, posted again with `apply`, each client through its service."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True))
            self.message_user(request, apply(request, ids, form.cleaned_data), messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/clients/client/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": dict(self.get_action_choices(request)).get(action, action),
                "opts": self.model._meta,
                "form": form,
                "action": action,
                "clients": queryset.order_by("name")[:200],
                "count": queryset.count(),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "preserved_query": request.GET.urlencode(),
            },
        )

    @admin.action(description=gettext_lazy("Deactivate"), permissions=["activate"])
    def deactivate(self, request, queryset):
        done = ngettext_lazy("Deactivated %(count)d client.", "Deactivated %(count)d clients.", "count")
        self._run(request, queryset.filter(is_active=True), services.client_deactivate, done)

    @admin.action(description=gettext_lazy("Reactivate"), permissions=["activate"])
    def reactivate(self, request, queryset):
        done = ngettext_lazy("Reactivated %(count)d client.", "Reactivated %(count)d clients.", "count")
        self._run(request, queryset.filter(is_active=False), services.client_reactivate, done)

    @admin.action(description=gettext_lazy("Sign out everywhere"), permissions=["change"])
    def sign_out_everywhere(self, request, queryset):
        done = ngettext_lazy("Signed out everywhere %(count)d client.", "Signed out everywhere %(count)d clients.", "count")
        self._run(request, queryset, services.client_sign_out_everywhere, done)

    # --- the audit history link and the CSV export ---

    def change_view(self, request, object_id, form_url="", extra_context=None):
        history = reverse("admin:clients_auditlog_changelist") + "?" + urlencode({"entity_type": "client", "entity_id": object_id})
        extra_context = {**(extra_context or {}), "audit_history_url": history}
        if self.has_change_permission(request) and str(object_id).isdigit():
            extra_context["extend_url"] = reverse("admin:clients_client_extend", args=[int(object_id)])
            extra_context["extend_form"] = ExtendForm()
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """Django's History reads django_admin_log, which stays empty (every change goes through
        the services): the client's audit entries instead."""
        query = urlencode({"entity_type": "client", "entity_id": object_id})
        return HttpResponseRedirect(reverse("admin:clients_auditlog_changelist") + "?" + query)

    def changelist_view(self, request, extra_context=None):
        query = request.GET.copy()
        for param in ("p", "o", "e"):
            query.pop(param, None)
        export = reverse("admin:clients_client_export")
        extra_context = {**(extra_context or {}), "export_url": f"{export}?{query.urlencode()}" if query else export}
        if self.has_add_permission(request):
            extra_context["import_url"] = reverse("admin:clients_client_import")
        # Eight columns and the filters fit 1366 px only without the navigation sidebar (breadcrumbs remain).
        extra_context["is_nav_sidebar_enabled"] = False
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv), name="clients_client_export")
        extend = path("<int:client_id>/extend/", self.admin_site.admin_view(self.extend_view), name="clients_client_extend")
        upload = path("import/", self.admin_site.admin_view(self.import_view), name="clients_client_import")
        return [export, extend, upload, *super().get_urls()]

    def import_view(self, request):
        """Upload a CSV or XLSX file: a dry run shows every row's outcome, then Import writes all rows or none.

        Between the two steps the file waits in the temp folder under a random name that only this
        session knows; the second step reads and checks it all again in its one transaction."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form, result, token = ImportForm(), None, None
        if request.method == "POST" and "token" in request.POST:
            pending = request.session.get("client_import") or {}
            if not pending or not secrets.compare_digest(pending.get("token", ""), request.POST["token"]):
                self.message_user(request, _("That upload is no longer waiting; upload the file again."), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:clients_client_import"))
            stored = import_path(pending["token"])
            rows = read_rows(stored.read_bytes(), pending["name"])
            result = import_clients(actor=actor(request), rows=rows, dry_run=False)
            if result.written:
                stored.unlink(missing_ok=True)
                del request.session["client_import"]
                count = len(result.rows)
                self.message_user(
                    request,
                    ngettext("Imported %(count)d client.", "Imported %(count)d clients.", count) % {"count": count},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:clients_client_changelist"))
            self.message_user(request, _("Nothing was imported: some rows have errors now."), messages.ERROR)
        elif request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                content = upload.read()
                try:
                    rows = read_rows(content, upload.name)
                except ImportFileError as exc:
                    form.add_error("file", str(exc))
                else:
                    result = import_clients(actor=actor(request), rows=rows, dry_run=True)
                    if not result.failed:
                        token = secrets.token_urlsafe(24)
                        import_path(token).write_bytes(content)
                        request.session["client_import"] = {"token": token, "name": upload.name}
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import clients"),
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "token": token,
            "columns": IMPORT_COLUMNS,
        }
        return TemplateResponse(request, "admin/clients/client/import.html", context)

    def extend_view(self, request, client_id: int):
        """POST days=N: extend one client's access (the dashboard's buttons, the client's page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ExtendForm(request.POST)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            back = reverse("admin:clients_client_change", args=[client_id])
        if not form.is_valid():
            self.message_user(request, " ".join(form.errors["days"]), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            client = services.client_extend(actor=actor(request), client_id=client_id, days=form.cleaned_data["days"])
        except NotFound as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            _("Extended access for %(name)s by %(days)s days, to %(end)s.")
            % {"name": client.name, "days": form.cleaned_data["days"], "end": format_time(client.access_end_date)},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(back)

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


def staff_name(user_id: int | None) -> str:
    """A staff user's name where the schema keeps its id (created_by, granted_by); empty: the system."""
    if user_id is None:
        return _("the system")
    username = get_user_model().objects.filter(pk=user_id).values_list("username", flat=True).first()
    return username or _("staff user %(id)s (deleted)") % {"id": user_id}


def days_left_words(is_active: bool, end, at) -> str:
    """Days left said in words: no end date, expired (and how long ago), or the days to go."""
    days = rules.days_remaining(end, at)
    if days is None:
        return _("no end date")
    if rules.status(is_active, end, at) == rules.EXPIRED or (not is_active and end <= at):
        ago = -days
        if ago == 0:
            return _("expired today")
        return ngettext("expired %(days)d day ago", "expired %(days)d days ago", ago) % {"days": ago}
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


def import_path(token: str) -> Path:
    folder = Path(tempfile.gettempdir()) / "ltplabs-client-imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{token}.upload"


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
