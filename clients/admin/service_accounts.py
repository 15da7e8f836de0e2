"""Service accounts and their API keys: every write through clients/api_keys.py; a new key is
shown once, on the page that answers its creation, and never again (only its hash is kept)."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from clients import api_keys
from clients.audit import Actor
from clients.models import ApiKey, ServiceAccount
from clients.sites import WritableUnlessReadOnly

KEY_COLUMNS = ("prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")


def actor(request) -> Actor:
    return Actor.staff(request.user, request)


class ServiceAccountForm(forms.ModelForm):
    class Meta:
        model = ServiceAccount
        fields = ("name", "is_active", "expires_at")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ServiceAccount.objects.filter(name=name).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A service account with this name already exists.")
        return name


class KeyInline(admin.TabularInline):
    model = ApiKey
    fields = KEY_COLUMNS
    readonly_fields = KEY_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceAccount)
class ServiceAccountAdmin(WritableUnlessReadOnly, admin.ModelAdmin):
    form = ServiceAccountForm
    list_display = ("name", "is_active", "expires_at", "keys_in_use", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    inlines = [KeyInline]

    def get_readonly_fields(self, request, obj=None):
        return ("name",) if obj else ()  # audit rows name it: it stays what it was

    @admin.display(description="keys in use")
    def keys_in_use(self, account):
        return account.keys.filter(revoked_at__isnull=True).count()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = api_keys.service_account_update(
                actor=actor(request), account_id=obj.pk, is_active=data["is_active"], expires_at=data["expires_at"]
            )
        else:
            saved = api_keys.service_account_create(actor=actor(request), name=data["name"], expires_at=data["expires_at"])
            if not data["is_active"]:
                saved = api_keys.service_account_update(actor=actor(request), account_id=saved.pk, is_active=False,
                                                        expires_at=saved.expires_at)  # fmt: skip
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)  # the keys inline only shows them: nothing written

    def has_delete_permission(self, request, obj=None):
        return False  # its audit rows and keys name it: deactivate it instead


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=[(scope, scope) for scope in api_keys.SCOPES], widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ("service_account", "scopes", "expires_at")

    def clean_scopes(self):
        return self.cleaned_data["scopes"]

    def _post_clean(self):
        pass  # the model's own validation would read `scopes` as text; api_key_create checks it


@admin.register(ApiKey)
class ApiKeyAdmin(WritableUnlessReadOnly, admin.ModelAdmin):
    list_display = ("prefix", "service_account", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("service_account", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("service_account",)
    search_fields = ("prefix", "service_account__name")
    readonly_fields = ("service_account", *KEY_COLUMNS)
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else ("service_account", "scopes", "expires_at")

    def has_change_permission(self, request, obj=None):
        # The change page only shows the key; revoking is the action (which needs this permission).
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        new = api_keys.api_key_create(actor=actor(request), account=data["service_account"], scopes=data["scopes"],
                                      expires_at=data["expires_at"])  # fmt: skip
        obj.pk = new.api_key.pk
        request._new_api_key = new  # for response_add, this request only: the key is kept nowhere

    def save_related(self, request, form, formsets, change):
        pass

    def response_add(self, request, obj, post_url_continue=None):
        new = request._new_api_key
        context = {**self.admin_site.each_context(request), "opts": self.opts, "api_key": new.api_key, "key": new.key,
                   "title": f"API key {new.api_key.prefix}"}  # fmt: skip
        response = TemplateResponse(request, "admin/clients/apikey/created.html", context)
        return response

    def log_addition(self, request, obj, message):
        pass  # the audit_log row is the record (api_key.create); the admin's own log would repeat it

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        prefixes = list(queryset.filter(revoked_at__isnull=True).values_list("prefix", flat=True))
        for prefix in prefixes:
            api_keys.api_key_revoke(actor=actor(request), prefix=prefix)
        self.message_user(request, f"Revoked {len(prefixes)} key{'s' if len(prefixes) != 1 else ''}.", messages.SUCCESS)
