"""The staff admin: clients with their demo access, demos with their usage, and the audit log."""

from . import audit, clients, demos, second_factor, staff, tokens  # noqa: F401  (each registers its model admins)
