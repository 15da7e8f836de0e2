"""Unmanaged models over the tables and views of ltplabs.db (owned by the database component).

Nothing here is created or altered by migrations. The database's own constraints and
triggers do the work (`on_delete=DO_NOTHING`), and every write goes through services.py; the status and
days_remaining rules, and the time format, are those of rules.py and legacy_time.py.
"""

from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import rules
from .legacy_time import format_time, now


class LegacyDateTimeField(models.DateTimeField):
    """A time stored as SQLite's own 'YYYY-MM-DD HH:MM:SS' UTC text: no fraction, no offset.

    Other programs compare these values as text, so the microseconds Django would write
    are dropped before the value reaches the database.
    """

    def get_db_prep_value(self, value, connection, prepared=False):
        # An aware datetime is already what get_prep_value would return (it only converts
        # other types and warns about naive times); skipping it halves a create's cost per time.
        if not prepared and not (isinstance(value, datetime) and value.tzinfo is not None):
            value = self.get_prep_value(value)
        if value is not None and hasattr(value, "microsecond"):
            value = value.replace(microsecond=0)
        return super().get_db_prep_value(value, connection, prepared=True)


class ClientQuerySet(models.QuerySet):
    def by_email(self, email: str):
        # clients.email is COLLATE NOCASE (citext on PostgreSQL): '=' ignores case there.
        return self.filter(email=email)

    def active(self):
        return self.filter(rules.status_q(rules.ACTIVE, now()))

    def expired(self):
        return self.filter(rules.status_q(rules.EXPIRED, now()))

    def inactive(self):
        return self.filter(rules.status_q(rules.INACTIVE, now()))


class Client(models.Model):
    id = models.AutoField(primary_key=True)
    name = models.TextField(_("name"))
    email = models.TextField(_("email"), unique=True)
    password_hash = models.TextField(_("password hash"))
    company = models.TextField(_("company"), null=True, blank=True)
    phone = models.TextField(_("phone"), null=True, blank=True)
    data_registo = LegacyDateTimeField(_("registered"), default=now)
    access_end_date = LegacyDateTimeField(_("access end date"), null=True, blank=True)
    is_active = models.BooleanField(_("is active"), default=True)
    last_login_at = LegacyDateTimeField(_("last login at"), null=True, blank=True)
    notes = models.TextField(_("notes"), null=True, blank=True)
    created_by = models.IntegerField(_("created by"), null=True, blank=True)
    created_at = LegacyDateTimeField(_("created at"), default=now)
    updated_at = LegacyDateTimeField(_("updated at"), default=now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        managed = False
        db_table = "clients"
        ordering = ("-created_at", "-id")
        verbose_name = _("client")
        verbose_name_plural = _("clients")

    def __str__(self):
        return f"{self.name} <{self.email}>"

    @property
    def status(self) -> str:
        return rules.status(self.is_active, self.access_end_date, now())


class Demo(models.Model):
    id = models.AutoField(primary_key=True)
    slug = models.TextField(_("slug"), unique=True)
    name = models.TextField(_("name"))
    description = models.TextField(_("description"), null=True, blank=True)
    url = models.TextField(_("url"), null=True, blank=True)
    is_active = models.BooleanField(_("is active"), default=True)
    created_at = LegacyDateTimeField(_("created at"), default=now)

    class Meta:
        managed = False
        db_table = "demos"
        ordering = ("id",)
        verbose_name = _("demo")
        verbose_name_plural = _("demos")

    def __str__(self):
        return self.name


class ClientDemoAccess(models.Model):
    id = models.AutoField(primary_key=True)
    client = models.ForeignKey(Client, models.DO_NOTHING, related_name="demo_access", verbose_name=_("client"))
    demo = models.ForeignKey(Demo, models.DO_NOTHING, related_name="access", verbose_name=_("demo"))
    granted_at = LegacyDateTimeField(_("granted at"), default=now)
    expires_at = LegacyDateTimeField(_("expires at"), null=True, blank=True)
    granted_by = models.IntegerField(_("granted by"), null=True, blank=True)
    access_count = models.IntegerField(_("access count"), default=0)
    last_accessed_at = LegacyDateTimeField(_("last accessed at"), null=True, blank=True)

    class Meta:
        managed = False
        db_table = "client_demo_access"
        unique_together = (("client", "demo"),)
        ordering = ("id",)
        verbose_name = _("demo access")
        verbose_name_plural = _("demo access")

    def __str__(self):
        return f"{self.demo_id} for client {self.client_id}"


class AuditLog(models.Model):
    ACTOR_TYPES = (("staff", _("staff")), ("client", _("client")), ("system", _("system")))

    id = models.AutoField(primary_key=True)
    created_at = LegacyDateTimeField(_("created at"), default=now)
    actor_type = models.TextField(_("actor type"), choices=ACTOR_TYPES)
    actor_id = models.IntegerField(_("actor id"), null=True, blank=True)
    action = models.TextField(_("action"))
    entity_type = models.TextField(_("entity type"))
    entity_id = models.IntegerField(_("entity id"), null=True, blank=True)
    details = models.JSONField(_("details"), null=True, blank=True)
    ip_address = models.TextField(_("ip address"), null=True, blank=True)
    user_agent = models.TextField(_("user agent"), null=True, blank=True)

    class Meta:
        managed = False
        db_table = "audit_log"
        ordering = ("-created_at", "-id")
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def __str__(self):
        return f"{format_time(self.created_at)} {self.action} {self.entity_name()}"

    def entity_name(self) -> str:
        """A client or staff user by name (one query: the admin's page title), anything else by type and id."""
        if self.entity_id is not None and self.entity_type in ("client", "staff_user"):
            if self.entity_type == "client":
                name = Client.objects.filter(pk=self.entity_id).values_list("name", flat=True).first()
            else:
                from django.contrib.auth import get_user_model

                name = get_user_model().objects.filter(pk=self.entity_id).values_list("username", flat=True).first()
            if name:
                return name
        return f"{self.entity_type} {self.entity_id if self.entity_id is not None else ''}".strip()


class ActiveClient(models.Model):
    """A row of the view v_active_clients: clients who may use the platform now."""

    id = models.IntegerField(primary_key=True)
    name = models.TextField()
    email = models.TextField()
    company = models.TextField(null=True)
    phone = models.TextField(null=True)
    data_registo = LegacyDateTimeField()
    access_end_date = LegacyDateTimeField(null=True)
    is_active = models.BooleanField()
    last_login_at = LegacyDateTimeField(null=True)
    created_by = models.IntegerField(null=True)
    created_at = LegacyDateTimeField()
    updated_at = LegacyDateTimeField()
    days_remaining = models.IntegerField(null=True)
    demo_count = models.IntegerField()

    class Meta:
        managed = False
        db_table = "v_active_clients"
        ordering = ("-created_at", "-id")


class DemoUsage(models.Model):
    """A row of the view v_demo_usage, read by analytics."""

    demo = models.OneToOneField(Demo, models.DO_NOTHING, primary_key=True, db_column="demo_id", related_name="usage")
    slug = models.TextField()
    name = models.TextField()
    clients_with_access = models.IntegerField()
    total_accesses = models.IntegerField()
    last_accessed_at = LegacyDateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "v_demo_usage"
        ordering = ("demo_id",)


class IdempotencyKey(models.Model):
    """The gateway's own table (managed, migrated): one row per Idempotency-Key a principal sent.

    `response_status` is NULL while the first request runs; the answer is stored in the same
    transaction as the write it answers (clients/idempotency.py), so a stored answer always
    means its write committed, and a row without one means nothing was written."""

    principal = models.CharField(max_length=100)  # "staff:<id>", "client:<id>" (idempotency.principal_of)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    created_at = models.DateTimeField()
    started_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "gateway_idempotency_key"
        constraints = [models.UniqueConstraint(fields=("principal", "key"), name="gateway_idempotency_key_unique")]
        indexes = [models.Index(fields=("created_at",), name="gateway_idempotency_created")]


# --- The gateway's own tables (managed: Django's migrations create them) --------------------


class TokenCutoff(models.Model):
    """Tokens of a subject ("staff:<id>", "client:<id>") from sign-ins before `not_before_ms`
    (milliseconds since the epoch: a whole number, so the PostgreSQL copy matches exactly) are dead."""

    subject = models.CharField(max_length=40, primary_key=True)
    not_before_ms = models.BigIntegerField()

    class Meta:
        db_table = "gateway_token_cutoff"


class RevokedToken(models.Model):
    """One revoked jti: an access token signed out ("access"), a client sign-in whose refresh token
    was reused ("family"), or a client refresh token already used once ("used"). Kept until the
    token would have expired anyway (`prune` removes it then)."""

    jti = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=10)
    subject = models.CharField(max_length=40, db_index=True)
    expires_at = models.BigIntegerField(db_index=True)  # seconds since the epoch, as a JWT's exp

    class Meta:
        db_table = "gateway_revoked_token"


class ServiceAccount(models.Model):
    """A program (demo-service, analytics, a CRM sync) that calls the API with its own API keys
    (clients/api_keys.py). Deactivating it, or its expiry passing, refuses every key it has."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="UTC; empty: never.")
    created_at = models.DateTimeField()
    created_by = models.IntegerField(null=True, blank=True)  # the staff user's id; none from manage.py

    class Meta:
        db_table = "gateway_service_account"
        ordering = ("name",)

    def __str__(self):
        return self.name


class ApiKey(models.Model):
    """One API key of a service account: `<prefix>.<secret>`, of which only the prefix (to find
    the row, through its unique index) and the SHA-256 of the secret are kept."""

    service_account = models.ForeignKey(ServiceAccount, models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)  # hex SHA-256 of the secret
    scopes = models.CharField(max_length=200)  # space-separated, of api_keys.SCOPES
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="UTC; empty: never.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)  # at most a minute behind (api_keys.LAST_USED_EVERY)

    class Meta:
        db_table = "gateway_api_key"
        ordering = ("-created_at", "-id")
        verbose_name = "API key"

    def __str__(self):
        return self.prefix

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
