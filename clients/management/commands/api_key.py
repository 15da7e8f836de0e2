from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clients import api_keys
from clients.audit import Actor
from clients.legacy_time import FORMAT
from clients.models import ApiKey, ServiceAccount
from ltplabs.exceptions import ServiceError


def _when(value) -> str:
    return value.strftime(FORMAT) if value is not None else "-"


class Command(BaseCommand):
    help = "Service accounts' API keys: create (the key printed once, on the last line), list, revoke."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="a key for service account NAME (created when missing)")
        create.add_argument("name")
        create.add_argument("--scope", action="append", required=True, choices=api_keys.SCOPES, dest="scopes")
        create.add_argument("--expires", help='UTC, "YYYY-MM-DD HH:MM:SS"')
        commands.add_parser("list", help="every key: prefix, account, scopes, expiry, last used (never a key)")
        revoke = commands.add_parser("revoke", help="refuse the key with this prefix from now on")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except ServiceError as exc:
            raise CommandError(exc.message) from None

    def _create(self, *, name, scopes, expires, **options):
        try:
            expires_at = datetime.strptime(expires, FORMAT).replace(tzinfo=UTC) if expires else None
        except ValueError:
            raise CommandError(f'--expires must be "YYYY-MM-DD HH:MM:SS" (UTC), not {expires!r}.') from None
        account = ServiceAccount.objects.filter(name=name.strip()).first()
        if account is None:
            account = api_keys.service_account_create(actor=Actor.system(), name=name)
            self.stdout.write(f"Created service account {account.name} (id {account.id}).")
        new = api_keys.api_key_create(actor=Actor.system(), account=account, scopes=scopes, expires_at=expires_at)
        self.stdout.write(f"Key {new.api_key.prefix} for {account.name}: {new.api_key.scopes}; expires {_when(expires_at)}.")
        self.stdout.write("Shown once; only its hash is kept. Send it as 'Authorization: Api-Key <key>'.")
        self.stdout.write(new.key)

    def _list(self, **options):
        header = ("prefix", "account", "scopes", "expires", "last used", "revoked")
        self.stdout.write(f"{header[0]:<13} {header[1]:<20} {header[2]:<40} {header[3]:<20} {header[4]:<20} {header[5]}")
        for key in ApiKey.objects.select_related("service_account").order_by("service_account__name", "created_at"):
            account = key.service_account.name + ("" if key.service_account.is_active else " (inactive)")
            self.stdout.write(
                f"{key.prefix:<13} {account:<20} {key.scopes:<40} {_when(key.expires_at):<20} {_when(key.last_used_at):<20} "
                f"{_when(key.revoked_at)}"
            )

    def _revoke(self, *, prefix, **options):
        key = api_keys.api_key_revoke(actor=Actor.system(), prefix=prefix)
        self.stdout.write(f"Revoked {key.prefix} of {key.service_account.name} at {_when(key.revoked_at)}.")
