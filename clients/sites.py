"""The admin site: LTP Labs' name on every page, and a notice when the database is read-only."""

from django.conf import settings
from django.contrib import admin


class LTPLabsAdminSite(admin.AdminSite):
    site_header = "LTP Labs administration"
    site_title = "LTP Labs admin"
    index_title = "Clients, demo access and the audit trail"

    def each_context(self, request):
        return {**super().each_context(request), "database_read_only": settings.DATABASE_READ_ONLY}
