import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Development only (DJANGO_DEBUG=1): create or reset the staff superuser 'admin' and print its login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default=None, help="default: a new random one")

    def handle(self, *args, username, password, **options):
        if not settings.DEBUG:
            raise CommandError("create_dev_staff is for development (DJANGO_DEBUG=1); use createsuperuser elsewhere.")
        password = password or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        if not user.check_password(password):  # a new password ends the user's tokens; the same one need not
            user.set_password(password)
        user.save()
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
        self.stdout.write(f"Development staff login: user {username!r}, password {password!r} (admin at /admin/, API at /api/)")
