"""simplejwt's token-blacklist pages (superusers only, clients.sites): never a token's text, and
a blacklist form that names one outstanding token by id instead of listing them all."""

from django.contrib import admin
from rest_framework_simplejwt.token_blacklist import admin as blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(blacklist_admin.OutstandingTokenAdmin):
    exclude = ("token",)  # a SHA-256 since clients.revocation.stored_token, and nobody's business either way

    def get_readonly_fields(self, *args, **kwargs):
        return [field for field in super().get_readonly_fields(*args, **kwargs) if field != "token"]


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(blacklist_admin.BlacklistedTokenAdmin):
    raw_id_fields = ("token",)  # a select of every outstanding token took 30 s and a 500 at 200,000 rows
