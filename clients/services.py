"""Every write to ltplabs.db: one function per use case, one transaction, audit row included.

The API, the admin and the management commands call these and nothing else writes.
With BEGIN IMMEDIATE every `transaction.atomic()` takes SQLite's write lock at once,
so a busy database makes the writer wait (busy_timeout) instead of failing half-way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ltplabs.exceptions import Conflict, InvalidCredentials, NotFound, PreconditionFailed
from ltplabs.http.sessions import end_sessions

from . import revocation, rules
from .audit import Actor, append, audit, audit_row, insert
from .legacy_time import format_time, now
from .models import Client, ClientDemoAccess, Demo
from .passwords import check_password, dummy_check, hash_cost, hash_password, validate_password_hash

GRANTED_ALREADY = "The client already has access to this demo."
UPDATABLE_FIELDS = ("name", "company", "phone", "notes", "is_active", "access_end_date")


# --- validation helpers ----------------------------------------------------------------


def _clean_text(field: str, value: Any, *, required: bool = False, max_chars: int = 1000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise ValidationError({field: ["This field is required."]})
        return None
    if not isinstance(value, str):
        raise ValidationError({field: ["Must be a string."]})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: ["Must not be blank."]})
    if "\x00" in value:
        raise ValidationError({field: ["Must not contain NUL characters."]})
    if len(value) > max_chars:
        raise ValidationError({field: [f"Must be at most {max_chars} characters."]})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError({field: ["Must be valid Unicode text."]}) from exc
    return value


def _clean_email(value: Any) -> str:
    from django.core.validators import validate_email

    email = _clean_text("email", value, required=True, max_chars=rules.EMAIL_MAX_CHARS)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": ["Enter a valid e-mail address."]}) from exc
    return email


def _clean_days(field: str, value: Any, maximum: int = rules.ACCESS_DAYS_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationError({field: [f"Must be a whole number from 1 to {maximum}."]})
    return value


def _get_client_for_update(client_id: int, if_match: str | None = None) -> Client:
    """The client's row, locked until the transaction ends, so a write that reads it first (extend
    adds to the current end) never works from a value another writer is changing. PostgreSQL:
    SELECT ... FOR UPDATE; SQLite: a no-op, BEGIN IMMEDIATE already holds the one write lock.
    `if_match`: the ETag the caller saw; checked under the lock, so nothing is written over a
    change it did not see."""
    try:
        client = Client.objects.select_for_update().get(pk=client_id)
    except (Client.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("Client not found.") from None
    if if_match is not None and not rules.etag_matches(if_match, rules.client_etag(client)):
        raise PreconditionFailed("The client has changed since this version was read (If-Match); read it again.")
    return client


def _get_demo_to_grant(slug: str) -> Demo:
    try:
        demo = Demo.objects.get(slug=slug)
    except Demo.DoesNotExist:
        raise ValidationError({"demo": [f"Unknown demo {str(slug)[:100]!r}."]}) from None
    if not demo.is_active:
        raise ValidationError({"demo": [rules.DEMO_INACTIVE]})
    return demo


def _check_end(field: str, end: datetime | None, at: datetime) -> None:
    if end is not None and end > rules.latest_end(at):
        raise ValidationError({field: [rules.END_TOO_LATE]})


def _fmt(value: Any) -> Any:
    """A value as the audit row's details keep it: times in the legacy text, the rest as it is."""
    return format_time(value) if isinstance(value, datetime) else value


def client_fields_errors(
    *,
    name: Any,
    email: Any,
    company: Any = None,
    phone: Any = None,
    access_days: Any = rules.ACCESS_DAYS_DEFAULT,
    demos: Iterable[str] = (),
) -> dict[str, list[str]]:
    """Every field error client_create would find, not only the first (an import reports them all)."""
    errors: dict[str, list[str]] = {}
    checks = [
        lambda: _clean_text("name", name, required=True, max_chars=rules.NAME_MAX_CHARS),
        lambda: _clean_email(email),
        lambda: _clean_text("company", company, max_chars=rules.COMPANY_MAX_CHARS),
        lambda: _clean_text("phone", phone, max_chars=rules.PHONE_MAX_CHARS),
        lambda: _clean_days("access_days", access_days),
    ]
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    slugs = list(dict.fromkeys(demos or ()))
    known = dict(Demo.objects.filter(slug__in=slugs).values_list("slug", "is_active"))
    problems = [f"Unknown demo {str(slug)[:100]!r}." for slug in sorted(set(slugs) - set(known))]
    problems += [f"{slug}: {rules.DEMO_INACTIVE}" for slug in sorted(slug for slug, active in known.items() if not active)]
    if problems:
        errors["demos"] = problems
    return errors


# --- use cases -------------------------------------------------------------------------


def client_create(
    *,
    actor: Actor,
    name: str,
    email: str,
    password: str | None = None,
    password_hash: str | None = None,
    company: str | None = None,
    phone: str | None = None,
    notes: str | None = None,
    access_days: int = rules.ACCESS_DAYS_DEFAULT,
    demos: Iterable[str] = (),
) -> Client:
    """Register a client with its demo access and the audit row, all or nothing."""
    name = _clean_text("name", name, required=True, max_chars=rules.NAME_MAX_CHARS)
    email = _clean_email(email)
    company = _clean_text("company", company, max_chars=rules.COMPANY_MAX_CHARS)
    phone = _clean_text("phone", phone, max_chars=rules.PHONE_MAX_CHARS)
    notes = _clean_text("notes", notes, max_chars=rules.NOTES_MAX_CHARS)
    access_days = _clean_days("access_days", access_days)
    if (password is None) == (password_hash is None):
        raise ValidationError({"password": ["Give either password or password_hash."]})
    if password is not None:
        if not isinstance(password, str):
            raise ValidationError({"password": ["Must be a string."]})
        password_hash = hash_password(password)
    elif not isinstance(password_hash, str):
        raise ValidationError({"password_hash": ["Must be a string."]})
    else:
        validate_password_hash(password_hash)
    slugs = list(dict.fromkeys(demos or ()))
    # The rows are built before the transaction, their times set in it: on SQLite it holds the one
    # write lock, and building them was about a sixth of that hold (bench/README.md, "The write lock's hold").
    client = Client(
        name=name,
        email=email,
        password_hash=password_hash,
        company=company,
        phone=phone,
        notes=notes,
        is_active=True,
        created_by=actor.id if actor.type == "staff" else None,
    )
    entry = audit_row(
        actor=actor,
        action="client.create",
        entity_type="client",
        details={"email": email, "company": company, "access_days": access_days, "demos": slugs},
    )
    try:
        with transaction.atomic():
            demo_rows = [_get_demo_to_grant(slug) for slug in slugs]
            at = now()
            client.data_registo = client.created_at = client.updated_at = at
            client.access_end_date = at + timedelta(days=access_days)
            insert(client)
            if demo_rows:
                ClientDemoAccess.objects.bulk_create(
                    [ClientDemoAccess(client=client, demo=demo, granted_at=at, granted_by=actor.id) for demo in demo_rows]
                )
            entry.entity_id = client.id
            append(entry)
    except IntegrityError as exc:
        # clients.email's UNIQUE index (NOCASE; citext on PostgreSQL) decides, also between
        # concurrent writers: no separate check, one query less on every create. The refused
        # INSERT rolled the transaction back; any other integrity error is not a conflict.
        if Client.objects.by_email(email).exists():
            raise Conflict("A client with this e-mail already exists.") from exc
        raise
    return client


def client_update(*, actor: Actor, client_id: int, changes: dict[str, Any], if_match: str | None = None) -> Client:
    """Change a client's editable fields; the audit row holds each field before and after."""
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in unknown})
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field in rules.TEXT_MAX_CHARS:
            cleaned[field] = _clean_text(field, value, required=field == "name", max_chars=rules.TEXT_MAX_CHARS[field])
        elif field == "is_active":
            if not isinstance(value, bool):
                raise ValidationError({field: ["Must be true or false."]})
            cleaned[field] = value
        elif field == "access_end_date":
            if value is not None and not isinstance(value, datetime):
                raise ValidationError({field: ["Must be a date and time, or null."]})
            cleaned[field] = value.replace(microsecond=0) if value is not None else None
            _check_end(field, cleaned[field], now())

    with transaction.atomic():
        client = _get_client_for_update(client_id, if_match)
        before, after = {}, {}
        for field, value in cleaned.items():
            if getattr(client, field) != value:
                before[field], after[field] = _fmt(getattr(client, field)), _fmt(value)
                setattr(client, field, value)
        if not after:
            return client
        client.updated_at = now()
        client.save(update_fields=[*after, "updated_at"])
        if after.get("is_active") is False:
            revocation.end_all(revocation.subject("client", client.id))  # reactivation never revives them
        action = "client.update"
        if set(after) == {"is_active"}:
            action = "client.reactivate" if after["is_active"] else "client.deactivate"
        audit(actor=actor, action=action, entity_type="client", entity_id=client.id, details={"before": before, "after": after})
    return client


def client_deactivate(*, actor: Actor, client_id: int, if_match: str | None = None) -> Client:
    """Deactivate a client (is_active = 0); the row stays."""
    return client_update(actor=actor, client_id=client_id, changes={"is_active": False}, if_match=if_match)


def client_reactivate(*, actor: Actor, client_id: int) -> Client:
    """Let a deactivated client in again."""
    return client_update(actor=actor, client_id=client_id, changes={"is_active": True})


def client_extend(*, actor: Actor, client_id: int, days: int, if_match: str | None = None) -> Client:
    """Move access_end_date to max(now, current end) + days."""
    days = _clean_days("days", days)
    with transaction.atomic():
        client = _get_client_for_update(client_id, if_match)
        at = now()
        start = max(at, client.access_end_date) if client.access_end_date else at
        before = _fmt(client.access_end_date)
        client.access_end_date = start + timedelta(days=days)
        _check_end("days", client.access_end_date, at)
        client.updated_at = at
        client.save(update_fields=["access_end_date", "updated_at"])
        audit(
            actor=actor,
            action="client.extend",
            entity_type="client",
            entity_id=client.id,
            details={"days": days, "before": {"access_end_date": before}, "after": {"access_end_date": _fmt(client.access_end_date)}},
        )
    return client


def client_set_password(*, actor: Actor, client_id: int, password: str) -> Client:
    """Store a new bcrypt hash for a client (the audit row never holds the password or hash)."""
    if not isinstance(password, str):
        raise ValidationError({"password": ["Must be a string."]})
    password_hash = hash_password(password)
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        client.password_hash = password_hash
        client.updated_at = now()
        client.save(update_fields=["password_hash", "updated_at"])
        audit(actor=actor, action="client.password", entity_type="client", entity_id=client.id, details={"fields": ["password"]})
    return client


def access_grant(*, actor: Actor, client_id: int, demo: str, expires_at: datetime | None = None) -> ClientDemoAccess:
    """Give a client access to a demo (409 when it already has it)."""
    if expires_at is not None and not isinstance(expires_at, datetime):
        raise ValidationError({"expires_at": ["Must be a date and time, or null."]})
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        demo_row = _get_demo_to_grant(demo)
        if ClientDemoAccess.objects.filter(client=client, demo=demo_row).exists():
            raise Conflict(GRANTED_ALREADY)
        try:
            # (client_id, demo_id)'s UNIQUE index decides should a writer that did not lock the
            # client row (demo-service, a shell) insert between the check and this INSERT.
            with transaction.atomic():
                access = ClientDemoAccess.objects.create(
                    client=client, demo=demo_row, granted_at=now(), expires_at=expires_at,
                    granted_by=actor.id if actor.type == "staff" else None,
                )  # fmt: skip
        except IntegrityError as exc:
            raise Conflict(GRANTED_ALREADY) from exc
        audit(
            actor=actor,
            action="access.grant",
            entity_type="client",
            entity_id=client.id,
            details={"demo": demo_row.slug, "access_id": access.id, "expires_at": _fmt(expires_at)},
        )
    return access


def access_revoke(*, actor: Actor, client_id: int, demo: str) -> None:
    """Remove a client's access to a demo."""
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        access = ClientDemoAccess.objects.filter(client=client, demo__slug=demo).select_related("demo").first()
        if access is None:
            raise NotFound("The client has no access to this demo.")
        details = {"demo": access.demo.slug, "access_id": access.id, "access_count": access.access_count}
        ClientDemoAccess.objects.filter(pk=access.pk).delete()
        audit(actor=actor, action="access.revoke", entity_type="client", entity_id=client.id, details=details)


def staff_event(*, actor: Actor, action: str, staff_id: int, details: dict | None = None) -> None:
    """A staff sign-in event (staff.login, staff.logout, staff.password_change,
    staff.permissions_change) in audit_log; nothing on a read-only gateway."""
    if settings.DATABASE_READ_ONLY:
        return
    with transaction.atomic():
        audit(actor=actor, action=action, entity_type="staff_user", entity_id=staff_id, details=details)


def staff_sign_out_everywhere(*, actor: Actor, staff_id: int) -> None:
    """Every token of the staff user issued before now stops working, and its admin sessions end."""
    with transaction.atomic():
        revocation.end_all(revocation.subject("staff", staff_id))
        sessions = end_sessions(staff_id)
        audit(actor=actor, action="staff.logout", entity_type="staff_user", entity_id=staff_id,
              details={"everywhere": True, "admin_sessions_ended": sessions})  # fmt: skip


def client_sign_out_everywhere(*, actor: Actor, client_id: int) -> None:
    """Every token of the client issued before now stops working."""
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        revocation.end_all(revocation.subject("client", client.id))
        audit(actor=actor, action="client.sign_out_everywhere", entity_type="client", entity_id=client.id)


def client_password_change(*, actor: Actor, client_id: int, current_password: str, new_password: str) -> Client:
    """The client's own password change: the current one must match; every token issued before stops working."""
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        if not isinstance(current_password, str) or not check_password(current_password, client.password_hash):
            raise InvalidCredentials()
        client.password_hash = hash_password(new_password)
        client.updated_at = now()
        client.save(update_fields=["password_hash", "updated_at"])
        revocation.end_all(revocation.subject("client", client.id))
        audit(actor=actor, action="client.password_change", entity_type="client", entity_id=client.id)
    return client


def _stored_cost() -> int | None:
    newest = Client.objects.order_by("-id").values_list("password_hash", flat=True).first()
    return hash_cost(newest) if newest else None


def client_login(*, email: str, password: str, ip_address: str | None = None, user_agent: str | None = None) -> Client:
    """Check a client's credentials; one refusal for every cause, in the same time."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise InvalidCredentials()
    client = Client.objects.by_email(email.strip()).first() if email.strip() and "\x00" not in email else None
    password_ok = check_password(password, client.password_hash) if client else dummy_check(password, _stored_cost)
    if not client or not password_ok or client.status != rules.ACTIVE:
        raise InvalidCredentials()
    if settings.DATABASE_READ_ONLY:
        return client  # nothing is recorded on a read-only gateway
    with transaction.atomic():
        at = now()
        Client.objects.filter(pk=client.pk).update(last_login_at=at)
        client.last_login_at = at
        audit(
            actor=Actor("client", client.id, ip_address, user_agent),
            action="client.login",
            entity_type="client",
            entity_id=client.id,
        )
    return client


def access_update(*, actor: Actor, client_id: int, demo: str, expires_at: datetime | None) -> ClientDemoAccess:
    """Change when a client's access to one demo ends (None: it follows the client's end date)."""
    if expires_at is not None and not isinstance(expires_at, datetime):
        raise ValidationError({"expires_at": ["Must be a date and time, or null."]})
    expires_at = expires_at.replace(microsecond=0) if expires_at is not None else None
    with transaction.atomic():
        client = _get_client_for_update(client_id)
        access = ClientDemoAccess.objects.filter(client=client, demo__slug=demo).select_related("demo").first()
        if access is None:
            raise NotFound("The client has no access to this demo.")
        if access.expires_at == expires_at:
            return access
        before = _fmt(access.expires_at)
        access.expires_at = expires_at
        access.save(update_fields=["expires_at"])
        audit(
            actor=actor,
            action="access.update",
            entity_type="client",
            entity_id=client.id,
            details={
                "demo": access.demo.slug,
                "access_id": access.id,
                "before": {"expires_at": before},
                "after": {"expires_at": _fmt(expires_at)},
            },
        )
    return access


# --- the staff second factor (clients.second_factor) ------------------------------------


def staff_otp_enrol(*, actor: Actor, user, key: str, first_step: int) -> list[str]:
    """A staff user's TOTP device, confirmed by a first code of time step `first_step`, and new
    backup codes, replacing any device before; returns the backup codes (shown once)."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from .second_factor import BACKUP_CODES

    with transaction.atomic():
        replaced = TOTPDevice.objects.filter(user=user).delete()[0] > 0
        StaticDevice.objects.filter(user=user).delete()
        # last_t: the enrolment's code is spent, it cannot sign in afterwards.
        TOTPDevice.objects.create(user=user, name="authenticator", key=key, confirmed=True, last_t=first_step)
        backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
        audit(
            actor=actor, action="staff.otp_enrol", entity_type="staff_user", entity_id=user.pk,
            details={"backup_codes": len(codes), "replaced": replaced},
        )  # fmt: skip
    return codes


def staff_otp_remove(*, actor: Actor, staff_id: int) -> int:
    """Remove a staff user's second factor (its TOTP device and backup codes); the number of devices removed."""
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user_id=staff_id).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user_id=staff_id).delete()[1].get(StaticDevice._meta.label, 0)
        if removed:
            audit(actor=actor, action="staff.otp_remove", entity_type="staff_user", entity_id=staff_id, details={"devices": removed})
    return removed
