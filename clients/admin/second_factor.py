"""The admin's second factor: the sign-in form that takes the code, the enrolment page (QR code,
secret, first code, backup codes shown once), and the superusers' device list, where a staff
user's device is removed (STAFF_2FA; the rules are clients.second_factor)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp import login as otp_login
from django_otp.plugins.otp_static import admin as static_admin  # noqa: F401  (registers its admin, unregistered below)
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp import admin as totp_admin  # registers its admin, replaced below
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients import second_factor, services
from clients.audit import Actor

PENDING_KEY = "ltp_otp_pending_key"  # the secret being enrolled, in the session until its first code


class StaffLoginForm(AdminAuthenticationForm):
    """User name, password and code in one form. A missing or wrong code is refused with the very
    error of a wrong password; django-axes has already counted the attempt (clients.admin.lockout)."""

    otp = forms.CharField(
        label=_("Code"),
        required=False,
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("From your authenticator app, or one of your backup codes. Leave empty if you have not set up two-step sign-in."),
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and second_factor.needs_code(user):
            device = second_factor.verify(user, cleaned.get("otp"))
            if device is None:
                raise self.get_invalid_login_error()
            user.otp_device = device  # django-otp keeps it in the session as the user signs in
        return cleaned


class EnrolForm(forms.Form):
    code = forms.CharField(
        label=_("First code"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def enrol_view(request, site):
    """GET: the QR code and secret of a new device; POST: its first code, then the backup codes, once."""
    if second_factor.mode() == "off":
        raise Http404("STAFF_2FA is off.")
    user = request.user
    context = {
        **site.each_context(request),
        "title": _("Two-step sign-in"),
        "required": second_factor.must_enrol(user),
        "has_device": second_factor.has_device(user),
        "backup_codes_left": second_factor.backup_codes_left(user),
        "next": safe_next(request),
    }
    context["is_nav_sidebar_enabled"] = not context["required"]  # its links lead back here until then
    if settings.DATABASE_READ_ONLY:
        return TemplateResponse(request, "admin/second_factor.html", context)
    if context["has_device"] and request.method == "GET" and "new" not in request.GET:
        return TemplateResponse(request, "admin/second_factor.html", context)
    # One secret until it is confirmed: a reload shows the QR code the app may have scanned already.
    key = request.session.get(PENDING_KEY) or second_factor.new_key()
    request.session[PENDING_KEY] = key
    form = EnrolForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        step = second_factor.first_code_step(key, form.cleaned_data["code"])
        if step is None:
            form.add_error("code", _("That code is not the one your app shows now; check the app's clock and try again."))
        else:
            codes = services.staff_otp_enrol(actor=Actor.staff(user, request), user=user, key=key, first_step=step)
            del request.session[PENDING_KEY]
            otp_login(request, TOTPDevice.objects.devices_for_user(user, confirmed=True).get())
            return TemplateResponse(request, "admin/second_factor.html", {**context, "backup_codes": codes, "enrolled": True})
    return TemplateResponse(
        request,
        "admin/second_factor.html",
        {
            **context,
            "form": form,
            "qr_svg": second_factor.qr_svg(user, key),
            "secret": second_factor.secret_text(key),
            "enrolling": True,
        },
    )


def safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


# --- superusers: each staff user's device, removed through the service (its audit row) ------

admin.site.unregister(StaticDevice)  # backup codes are listed with their TOTP device, never shown
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class StaffDeviceAdmin(totp_admin.TOTPDeviceAdmin):
    """Devices are made by enrolment alone; a superuser removes one (the user enrols again)."""

    list_display = ["user", "name", "created_at", "last_used_at", "backup_codes"]
    list_filter = ["created_at", "last_used_at"]
    readonly_fields = ["user", "name", "created_at", "last_used_at", "backup_codes"]
    fieldsets = None
    fields = readonly_fields
    actions = ["remove_devices"]

    def get_list_display(self, request):
        return self.list_display

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": self.fields})]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("backup codes left"))
    def backup_codes(self, device):
        return second_factor.backup_codes_left(device.user)

    def delete_model(self, request, obj):
        services.staff_otp_remove(actor=Actor.staff(request.user, request), staff_id=obj.user_id)

    def delete_queryset(self, request, queryset):
        for staff_id in sorted(set(queryset.values_list("user_id", flat=True))):
            services.staff_otp_remove(actor=Actor.staff(request.user, request), staff_id=staff_id)

    @admin.action(description=_("Remove the second factor (the user enrols again)"), permissions=["delete"])
    def remove_devices(self, request, queryset):
        users = sorted(set(queryset.values_list("user_id", flat=True)))
        self.delete_queryset(request, queryset)
        count = len(users)
        self.message_user(
            request,
            ngettext("Removed the second factor of %(count)d staff user.", "Removed the second factor of %(count)d staff users.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # remove_devices says what it does, and audits it
        return actions

    def get_urls(self):
        return admin.ModelAdmin.get_urls(self)  # no QR code pages: a key is never shown again
