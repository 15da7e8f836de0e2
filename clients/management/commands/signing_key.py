import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ltplabs import signing_keys


class Command(BaseCommand):
    help = "ES256 signing keys: `new [--out FILE]` makes one (PEM), `list` names the configured ones (kid, current first)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        new = commands.add_parser("new", help="print a new EC P-256 private key (PEM), or write it to --out (mode 0600)")
        new.add_argument("--out", type=Path, help="a file that must not exist yet")
        commands.add_parser("list", help="the kid of every key in JWT_SIGNING_KEY, and which one signs")

    def handle(self, *args, action, out=None, **options):
        if action == "new":
            pem = signing_keys.new_pem()
            if out is None:
                self.stdout.write(pem, ending="")
                return
            try:
                descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing key
            except OSError as exc:
                raise CommandError(f"{out}: {exc.strerror}.") from None
            with os.fdopen(descriptor, "w") as file:
                file.write(pem)
            self.stdout.write(f"{out}: new key, kid {signing_keys.parse(pem)[0].kid}")
            return
        if not settings.JWT_SIGNING_KEYS:
            self.stdout.write("No JWT_SIGNING_KEY: tokens are signed with HS256 (JWT_SECRET); /.well-known/jwks.json is empty.")
            return
        for number, key in enumerate(settings.JWT_SIGNING_KEYS):
            role = "current: signs new tokens" if number == 0 else "verifies only"
            self.stdout.write(f"{key.kid}  {role}")
