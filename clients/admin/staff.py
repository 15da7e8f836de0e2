"""Staff users: Django's own user admin, with *Sign out everywhere* (every token and admin session
of the selected users ends; audited as staff.logout)."""

from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model

from clients import services

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(auth_admin.UserAdmin):
    actions = ("sign_out_everywhere",)

    @admin.action(description="Sign out everywhere (every token and admin session)", permissions=["change"])
    def sign_out_everywhere(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for staff_id in ids:
            services.staff_sign_out_everywhere(actor=services.Actor.staff(request.user, request), staff_id=staff_id)
        self.message_user(request, f"Signed out everywhere {len(ids)} staff user{'s' if len(ids) != 1 else ''}.", messages.SUCCESS)
