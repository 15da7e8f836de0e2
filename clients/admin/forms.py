"""The admin's client and demo access forms; their limits are the API's (clients.rules)."""

from django import forms
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clients import rules, selectors
from clients.legacy_time import now
from clients.models import Client, ClientDemoAccess, Demo
from clients.passwords import PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, validate_password


class ClientAddForm(forms.ModelForm):
    name = forms.CharField(label=_("Name"), max_length=rules.NAME_MAX_CHARS)
    email = forms.EmailField(label=_("E-mail"), max_length=rules.EMAIL_MAX_CHARS)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False),
        strip=False,
        help_text=format_lazy(_("Stored as a bcrypt hash; {min} to {max} bytes."), min=PASSWORD_MIN_BYTES, max=PASSWORD_MAX_BYTES),
    )
    company = forms.CharField(label=_("Company"), max_length=rules.COMPANY_MAX_CHARS, required=False, empty_value=None)
    phone = forms.CharField(label=_("Phone"), max_length=rules.PHONE_MAX_CHARS, required=False, empty_value=None)
    notes = forms.CharField(
        label=_("Notes"), max_length=rules.NOTES_MAX_CHARS, required=False, empty_value=None, widget=forms.Textarea(attrs={"rows": 3})
    )
    access_days = forms.IntegerField(
        label=_("Access days"),
        min_value=1,
        max_value=rules.ACCESS_DAYS_MAX,
        initial=rules.ACCESS_DAYS_DEFAULT,
        help_text=_("Access ends this many days from now."),
    )

    class Meta:
        model = Client
        fields = ("name", "email", "company", "phone", "notes")

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict["password"]) from None
        return password


class ClientChangeForm(ClientAddForm):
    password = forms.CharField(
        label=_("New password"),
        widget=forms.PasswordInput(render_value=False),
        strip=False,
        required=False,
        help_text=_("Leave empty to keep the current password. Stored as a bcrypt hash; the current one is never shown."),
    )
    access_days = None
    # The version of the client the page showed, and its newest audit entry then: a save over a
    # change made since is refused, naming it (clean).
    version = forms.CharField(widget=forms.HiddenInput, required=False)
    seen_audit_id = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Client
        fields = ("name", "company", "phone", "notes", "is_active", "access_end_date")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["version"] = rules.client_etag(self.instance)
            self.initial["seen_audit_id"] = selectors.latest_audit_id("client", self.instance.pk) or 0

    def clean(self):
        cleaned = super().clean()
        # The admin's change view runs in one transaction: the row stays locked (PostgreSQL; SQLite
        # holds its write lock) from this check to the save, so no change slips in between.
        current = Client.objects.select_for_update().get(pk=self.instance.pk)
        if cleaned.get("access_end_date") and cleaned["access_end_date"] > rules.latest_end(now()):
            self.add_error("access_end_date", rules.END_TOO_LATE)
        if cleaned.get("version") != rules.client_etag(current):
            changes = selectors.client_changes_since(current.pk, cleaned.get("seen_audit_id") or 0)
            said = "; ".join(changes) if changes else gettext("a change outside the gateway (no audit entry)")
            raise ValidationError(
                gettext(
                    "This client was changed since you opened this page: %(changes)s. Nothing was saved; "
                    "reload the page to see the current values, then make your change again."
                )
                % {"changes": said}
            )
        return cleaned


class DemoAccessForm(forms.ModelForm):
    class Meta:
        model = ClientDemoAccess
        fields = ("demo", "expires_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A row is one demo for good: revoke it and grant another instead.
            self.fields["demo"].disabled = True
        else:
            self.fields["demo"].queryset = Demo.objects.filter(is_active=True)  # a disabled demo cannot be granted


class ExtendForm(forms.Form):
    """Extend by N days: the client's page, the dashboard's buttons and the bulk action."""

    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=rules.ACCESS_DAYS_MAX, initial=rules.ACCESS_DAYS_DEFAULT)


class BulkExtendForm(ExtendForm):
    pass


class BulkGrantForm(forms.Form):
    demo = forms.ModelChoiceField(label=_("Demo"), queryset=Demo.objects.filter(is_active=True).order_by("name"))
    expires_at = forms.SplitDateTimeField(
        label=_("Access to it ends"),
        required=False,
        widget=widgets.AdminSplitDateTime,
        help_text=_("Empty: it follows each client's own end of access."),
    )


class BulkRevokeForm(forms.Form):
    demo = forms.ModelChoiceField(label=_("Demo"), queryset=Demo.objects.order_by("name"))


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))
