"""Who makes a change (Actor), and the audit_log row each use case writes in its transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from ltplabs import metrics
from ltplabs.http.address import client_address

from .insert_values import Adapt, adapter
from .legacy_time import now
from .models import AuditLog

# Every action written to audit_log: the gateway's use cases, and demo-service's demo.open. The
# admin's action filter lists these rather than scan the log for its distinct actions (a few
# hundred ms on a large log); clients/tests/test_audit_actions.py checks that none is missing.
ACTIONS = (
    "client.create", "client.update", "client.extend", "client.deactivate", "client.reactivate", "client.password",
    "client.password_change", "client.sign_out_everywhere", "client.login",
    "access.grant", "access.update", "access.revoke",
    "demo.open",
    "service_account.create", "service_account.update", "api_key.create", "api_key.revoke",
    "staff.login", "staff.logout", "staff.password_change", "staff.permissions_change", "staff.otp_enrol", "staff.otp_remove",
)  # fmt: skip
# And the entities they are about (the entity type filter, likewise).
ENTITY_TYPES = ("client", "demo", "staff_user", "service_account")


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and from where (written to audit_log)."""

    type: str
    id: int | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    name: str | None = None  # a service account's, written into each of its rows' details

    @classmethod
    def staff(cls, user, request=None) -> Actor:
        return cls("staff", user.pk, *_origin(request))

    @classmethod
    def client(cls, client_id: int, request=None) -> Actor:
        return cls("client", client_id, *_origin(request))

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def service_account(cls, account, request=None) -> Actor:
        """A program's API key: actor_type system, actor_id the account's id, its name in details."""
        return cls("system", account.pk, *_origin(request), name=account.name)


def _origin(request) -> tuple[str | None, str | None]:
    if request is None:
        return None, None
    meta = request.META
    return client_address(request), (meta.get("HTTP_USER_AGENT") or "")[:500] or None


def insert(instance: models.Model) -> models.Model:
    """INSERT a new row and set its id: the statement Model.save() sends, without the rest of
    its machinery (model signals, which nothing here listens to for these tables), in a third
    of the time; the hot path of POST /api/clients does two. Each value is adapted as its
    field's get_db_prep_save would (clients/insert_values.py), so times keep the legacy text on
    SQLite and details are jsonb on PostgreSQL. Call it inside the use case's transaction."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a context-local lookup
    sql, columns = _insert_statement(type(instance), db.vendor)
    with db.cursor() as cursor:
        cursor.execute(sql, [adapt(getattr(instance, attname), db) for attname, adapt in columns])
        instance.pk = cursor.fetchone()[0]
    instance._state.adding, instance._state.db = False, db.alias
    return instance


@functools.cache
def _insert_statement(model: type[models.Model], vendor: str) -> tuple[str, tuple[tuple[str, Adapt], ...]]:
    """The INSERT ... RETURNING id of `model` on the `vendor` backend, and each value's attribute
    and adaptation, in order."""
    db = connections[DEFAULT_DB_ALIAS]
    meta, quote = model._meta, db.ops.quote_name
    fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}"
    )
    return sql, tuple((field.attname, adapter(field, db)) for field in fields)


def audit(*, actor: Actor, action: str, entity_type: str, entity_id: int | None, details: dict | None = None) -> AuditLog:
    """Append one audit_log row (call inside the use case's transaction)."""
    return append(audit_row(actor=actor, action=action, entity_type=entity_type, entity_id=entity_id, details=details))


def audit_row(*, actor: Actor, action: str, entity_type: str, entity_id: int | None = None, details: dict | None = None) -> AuditLog:
    """The audit_log row of a change, built and not yet written (append() writes it). A use case
    that knows its row before its transaction builds it there: on SQLite the transaction holds the
    one write lock, which every other writer waits for (bench/README.md, "The write lock's hold")."""
    if actor.name is not None:
        details = {**(details or {}), "service_account": actor.name}
    return AuditLog(
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        details=details,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )


def append(row: AuditLog) -> AuditLog:
    """Write audit_row()'s row, timed now (call inside the use case's transaction)."""
    # Counted once the row is committed: a use case rolled back wrote none.
    transaction.on_commit(metrics.AUDIT_ROWS.labels(row.action).inc)
    row.created_at = now()
    return insert(row)
