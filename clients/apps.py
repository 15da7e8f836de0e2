from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ClientsConfig(AppConfig):
    default = True
    name = "clients"
    verbose_name = _("Clients")
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from .api import openapi  # noqa: F401  (registers the OpenAPI descriptions of our authenticators)
        from .api.authentication import connect_staff_signals
        from .api.tokens import install_staff_backend

        connect_staff_signals()
        install_staff_backend()
        from .revocation import connect_outstanding_token_hashing, connect_user_signals

        connect_user_signals()
        connect_outstanding_token_hashing()

        if settings.DATABASE_READ_ONLY:
            # Signing in to the admin would write auth_user.last_login to a read-only file.
            from django.contrib.auth.signals import user_logged_in

            user_logged_in.disconnect(dispatch_uid="update_last_login")


class LTPLabsAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with LTP Labs' site (INSTALLED_APPS names this instead)."""

    default = False
    default_site = "clients.sites.LTPLabsAdminSite"


class SecondFactorConfig(AppConfig):
    """django-otp's TOTP devices, named in the admin's app list (the library gives them no name)."""

    name = "django_otp.plugins.otp_totp"
    label = "otp_totp"
    verbose_name = _("Second factor")
    default_auto_field = "django.db.models.AutoField"
