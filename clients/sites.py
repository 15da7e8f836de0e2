"""The admin site: LTP Labs' name on every page, and no write offered on a read-only database."""

from functools import update_wrapper

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.urls import path, reverse, reverse_lazy
from django.utils.translation import gettext_lazy as _

from clients import second_factor


class WritableUnlessReadOnly:
    """DATABASE_READ_ONLY=1: no add, change or delete is offered (pages stay readable)."""

    def has_add_permission(self, request, *args):
        return not settings.DATABASE_READ_ONLY and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return not settings.DATABASE_READ_ONLY and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not settings.DATABASE_READ_ONLY and super().has_delete_permission(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Pages to look at: no add, change or delete for anyone, superusers included."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SuperusersOnly:
    """Pages for superusers alone (the JWT blacklist tables: every token of every user)."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_delete_permission(request, obj)


SUPERUSER_APPS = ("token_blacklist", "otp_totp", "otp_static")
# Admin views a signed-in user reaches before enrolling a second factor (STAFF_2FA=required).
BEFORE_ENROLMENT = ("logout", "second_factor_view", "i18n_javascript")


class LTPLabsAdminSite(admin.AdminSite):
    site_header = _("LTP Labs administration")
    site_title = _("LTP Labs admin")
    index_title = _("Clients, demo access and the audit trail")
    site_url = reverse_lazy("landing")  # "View site": the gateway's landing page

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every model admin, ours or a library's (staff users, groups, JWT blacklist), in one place.
        admin_class = admin_class or admin.ModelAdmin
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else list(model_or_iterable)
        mixins = [mixin for mixin in (WritableUnlessReadOnly,) if not issubclass(admin_class, mixin)]
        if any(model._meta.app_label in SUPERUSER_APPS for model in models) and not issubclass(admin_class, SuperusersOnly):
            mixins.insert(0, SuperusersOnly)
        if mixins:
            admin_class = type(admin_class.__name__, (*mixins, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)

    # --- the second factor (clients.second_factor, clients.admin.second_factor) ---------------

    @property
    def login_form(self):
        from clients.admin.second_factor import StaffLoginForm

        return StaffLoginForm

    def has_permission(self, request):
        """Active staff, and signed in with its device when it has one (a session from before the
        device, or from a password alone, is sent back to sign in)."""
        if not super().has_permission(request):
            return False
        user = request.user
        return getattr(user, "otp_device", None) is not None or not second_factor.needs_code(user)

    def admin_view(self, view, cacheable=False):
        guarded = super().admin_view(view, cacheable)
        if getattr(view, "__name__", "") in BEFORE_ENROLMENT:
            return guarded

        def inner(request, *args, **kwargs):
            if request.user.is_active and request.user.is_staff and second_factor.must_enrol(request.user):
                # To the enrolment page, with ?next= this page (the query string login redirects use).
                return redirect_to_login(request.get_full_path(), reverse("admin:second_factor", current_app=self.name))
            return guarded(request, *args, **kwargs)

        return update_wrapper(inner, guarded)

    def get_urls(self):
        return [path("second-factor/", self.admin_view(self.second_factor_view), name="second_factor"), *super().get_urls()]

    def second_factor_view(self, request):
        from clients.admin.second_factor import enrol_view

        return enrol_view(request, self)

    def index(self, request, extra_context=None):
        from clients.admin.dashboard import dashboard_context  # the admin package registers on this site

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def each_context(self, request):
        return {
            **super().each_context(request),
            "database_read_only": settings.DATABASE_READ_ONLY,
            "second_factor_on": second_factor.mode() != "off",
        }
