"""Credentials stored before this release were usable as read: refresh tokens whole in
token_blacklist_outstandingtoken.token, admin session keys in django_session. Hash the tokens as
clients.revocation.stored_token does, and end the sessions (their rows hold the bare key; the
admin asks everyone to sign in again)."""

import hashlib

from django.db import migrations


def hash_stored_credentials(apps, schema_editor):
    outstanding = apps.get_model("token_blacklist", "OutstandingToken")
    for row in outstanding.objects.exclude(token="").exclude(token__startswith="sha256:").only("id", "token").iterator():
        outstanding.objects.filter(pk=row.pk).update(token="sha256:" + hashlib.sha256(row.token.encode()).hexdigest())
    apps.get_model("sessions", "Session").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0004_translated_labels"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(hash_stored_credentials, migrations.RunPython.noop)]
