"""The admin site: LTP Labs' name on every page, and no write offered on a read-only database."""

from django.conf import settings
from django.contrib import admin
from django.urls import reverse_lazy


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


SUPERUSER_APPS = ("token_blacklist",)


class LTPLabsAdminSite(admin.AdminSite):
    site_header = "LTP Labs administration"
    site_title = "LTP Labs admin"
    index_title = "Clients, demo access and the audit trail"
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

    def index(self, request, extra_context=None):
        from clients.admin.dashboard import dashboard_context  # the admin package registers on this site

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def each_context(self, request):
        return {**super().each_context(request), "database_read_only": settings.DATABASE_READ_ONLY}
