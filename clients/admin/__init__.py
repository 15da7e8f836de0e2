"""The staff admin: clients with their demo access, demos with their usage, the audit log, and
the service accounts with their API keys."""

from . import audit, clients, demos, second_factor, service_accounts, staff, tokens  # noqa: F401  (each registers its model admins)
