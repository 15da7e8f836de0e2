"""Every use case: the rows it writes, its audit row, and the rollback when any part fails."""

from datetime import timedelta

import bcrypt
import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection

from clients import audit, rules, services
from clients.models import AuditLog, Client, ClientDemoAccess, now
from tests.fixtures import IS_POSTGRES

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'


@pytest.fixture
def actor(staff_user):
    return services.Actor("staff", staff_user.pk, "203.0.113.7", "pytest")


@pytest.fixture
def client_row(actor):
    return services.client_create(actor=actor, name="Inês Araújo", email="ines@example.com", password_hash=HASH, demos=["pricing-lab"])


def counts() -> tuple[int, int, int]:
    return Client.objects.count(), ClientDemoAccess.objects.count(), AuditLog.objects.count()


def test_create_writes_client_access_rows_and_one_audit_row(actor):
    before = counts()
    client = services.client_create(
        actor=actor, name="  Søren Müller ", email="Soren@Example.com", password="correct horse", company="EDP",
        access_days=10, demos=["route-optimizer", "pricing-lab"],
    )  # fmt: skip
    assert counts() == (before[0] + 1, before[1] + 2, before[2] + 1)
    client.refresh_from_db()
    assert client.name == "Søren Müller"
    assert client.created_by == actor.id
    assert client.access_end_date - client.data_registo == timedelta(days=10)
    assert sorted(client.demo_access.values_list("demo__slug", flat=True)) == ["pricing-lab", "route-optimizer"]
    entry = AuditLog.objects.get(action="client.create", entity_id=client.id)
    assert (entry.actor_type, entry.actor_id, entry.entity_type) == ("staff", actor.id, "client")
    assert (entry.ip_address, entry.user_agent) == ("203.0.113.7", "pytest")
    assert entry.details == {"email": "Soren@Example.com", "company": "EDP", "access_days": 10, "demos": ["route-optimizer", "pricing-lab"]}
    assert "correct horse" not in str(entry.details) and "$2b$" not in str(entry.details)


def rows_built_at_depth(monkeypatch, *models) -> list[tuple[str, int]]:
    """(model, how many atomic blocks were open) for each instance of `models` made from here on."""
    built = []
    for model in models:

        def init(self, *args, _init=model.__init__, _name=model.__name__, **kwargs):
            built.append((_name, len(connection.atomic_blocks)))
            _init(self, *args, **kwargs)

        monkeypatch.setattr(model, "__init__", init)
    return built


def test_a_create_builds_its_rows_before_its_transaction_and_times_them_in_it(actor, monkeypatch):
    # On SQLite the transaction holds the one write lock; the rows' building need not (bench/README.md).
    depth = len(connection.atomic_blocks)  # pytest-django's own transaction, on some tests
    written_at = now().replace(microsecond=0) - timedelta(days=3)  # a time no clock gives now
    real_now = services.now

    def clock():
        return written_at if len(connection.atomic_blocks) > depth else real_now()

    monkeypatch.setattr(services, "now", clock)
    monkeypatch.setattr(audit, "now", clock)
    built = rows_built_at_depth(monkeypatch, Client, AuditLog)
    client = services.client_create(actor=actor, name="Built before", email="built@example.com", password_hash=HASH, access_days=7)
    assert built == [("Client", depth), ("AuditLog", depth)]
    client.refresh_from_db()
    assert client.data_registo == client.created_at == client.updated_at == written_at
    assert client.access_end_date == written_at + timedelta(days=7)
    assert AuditLog.objects.get(action="client.create", entity_id=client.id).created_at == written_at


def test_password_is_stored_as_a_bare_bcrypt_2b_hash_demo_service_can_verify(actor):
    client = services.client_create(actor=actor, name="Hash", email="hash@example.com", password="pässwörd-ok")
    client.refresh_from_db()
    assert client.password_hash.startswith("$2b$")
    assert int(client.password_hash.split("$")[2]) >= 10
    assert bcrypt.checkpw("pässwörd-ok".encode(), client.password_hash.encode())


@pytest.mark.parametrize("password", ["short", "x" * 73, "é" * 37])
def test_password_outside_8_to_72_utf8_bytes_is_refused_and_nothing_written(actor, password):
    before = counts()
    with pytest.raises(ValidationError) as error:
        services.client_create(actor=actor, name="P", email="p@example.com", password=password)
    assert "password" in error.value.message_dict
    assert counts() == before


@pytest.mark.parametrize("value", ["plain", "bcrypt$$2b$10$abc", "$2y$10$" + "a" * 53, "$2b$04$" + "a" * 53, "$2b$10$" + "a" * 52])
def test_password_hash_must_be_a_bcrypt_hash(actor, value):
    with pytest.raises(ValidationError) as error:
        services.client_create(actor=actor, name="P", email="p@example.com", password_hash=value)
    assert "password_hash" in error.value.message_dict


def test_duplicate_email_in_other_case_is_a_conflict_and_nothing_written(actor, client_row):
    before = counts()
    with pytest.raises(services.Conflict):
        services.client_create(actor=actor, name="Again", email="INES@EXAMPLE.COM", password_hash=HASH)
    assert counts() == before


def test_unknown_demo_rolls_back_the_whole_create(actor):
    before = counts()
    with pytest.raises(ValidationError) as error:
        services.client_create(actor=actor, name="N", email="n@example.com", password_hash=HASH, demos=["pricing-lab", "no-such-demo"])
    assert "demo" in error.value.message_dict
    assert counts() == before


@pytest.mark.skipif(IS_POSTGRES, reason="uses a SQLite TEMP trigger on the test connection")
def test_failing_audit_insert_rolls_back_the_client_and_its_access(actor):
    before = counts()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END")
    try:
        with pytest.raises(DatabaseError):
            services.client_create(actor=actor, name="Rollback", email="rb@example.com", password_hash=HASH, demos=["pricing-lab"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER temp.fail_audit")
    assert counts() == before
    assert not Client.objects.filter(email="rb@example.com").exists()


def test_update_records_each_changed_field_before_and_after(actor, client_row):
    end_before = Client.objects.get(pk=client_row.id).access_end_date  # the stored value, read before the change
    assert end_before is not None
    end = now() + timedelta(days=90)
    services.client_update(actor=actor, client_id=client_row.id, changes={"company": "Galp", "name": "Inês A.", "access_end_date": end})
    client_row.refresh_from_db()
    assert (client_row.company, client_row.name, client_row.access_end_date) == ("Galp", "Inês A.", end)
    entry = AuditLog.objects.filter(action="client.update", entity_id=client_row.id).get()
    assert entry.details["before"] == {
        "company": None,
        "name": "Inês Araújo",
        "access_end_date": end_before.strftime("%Y-%m-%d %H:%M:%S"),
    }
    assert entry.details["after"] == {"company": "Galp", "name": "Inês A.", "access_end_date": end.strftime("%Y-%m-%d %H:%M:%S")}


def test_update_without_a_change_writes_no_audit_row(actor, client_row):
    before = counts()
    services.client_update(actor=actor, client_id=client_row.id, changes={"name": "Inês Araújo"})
    assert counts() == before


def test_update_refuses_fields_that_cannot_be_changed(actor, client_row):
    with pytest.raises(ValidationError) as error:
        services.client_update(actor=actor, client_id=client_row.id, changes={"password_hash": HASH, "created_by": 9})
    assert set(error.value.message_dict) == {"password_hash", "created_by"}


def test_deactivate_keeps_the_row_and_reactivate_restores_it(actor, client_row):
    services.client_deactivate(actor=actor, client_id=client_row.id)
    client_row.refresh_from_db()
    assert client_row.is_active is False and client_row.status == "inactive"
    services.client_reactivate(actor=actor, client_id=client_row.id)
    client_row.refresh_from_db()
    assert client_row.status == "active"
    actions = list(AuditLog.objects.filter(entity_type="client", entity_id=client_row.id).order_by("id").values_list("action", flat=True))
    assert actions == ["client.create", "client.deactivate", "client.reactivate"]


def test_extend_counts_from_the_later_of_now_and_the_current_end(actor, client_row):
    end = client_row.access_end_date
    services.client_extend(actor=actor, client_id=client_row.id, days=5)
    client_row.refresh_from_db()
    assert client_row.access_end_date == end + timedelta(days=5)
    Client.objects.filter(pk=client_row.pk).update(access_end_date=now() - timedelta(days=100))
    services.client_extend(actor=actor, client_id=client_row.id, days=5)
    client_row.refresh_from_db()
    assert abs(client_row.access_end_date - (now() + timedelta(days=5))) <= timedelta(seconds=2)
    assert AuditLog.objects.filter(action="client.extend", entity_id=client_row.id).count() == 2


@pytest.mark.parametrize("days", [0, -1, 3651, "10", 1.5, True])
def test_extend_refuses_days_outside_1_to_3650(actor, client_row, days):
    with pytest.raises(ValidationError):
        services.client_extend(actor=actor, client_id=client_row.id, days=days)


def test_grant_and_revoke_write_and_remove_the_access_row_with_audit(actor, client_row):
    access = services.access_grant(actor=actor, client_id=client_row.id, demo="inventory-sim")
    assert access.granted_by == actor.id
    with pytest.raises(services.Conflict):
        services.access_grant(actor=actor, client_id=client_row.id, demo="inventory-sim")
    services.access_revoke(actor=actor, client_id=client_row.id, demo="inventory-sim")
    assert not ClientDemoAccess.objects.filter(client=client_row, demo__slug="inventory-sim").exists()
    with pytest.raises(services.NotFound):
        services.access_revoke(actor=actor, client_id=client_row.id, demo="inventory-sim")
    actions = list(AuditLog.objects.filter(entity_id=client_row.id, action__startswith="access.").values_list("action", flat=True))
    assert sorted(actions) == ["access.grant", "access.revoke"]


def test_missing_client_is_not_found(actor):
    with pytest.raises(services.NotFound):
        services.client_extend(actor=actor, client_id=999999, days=1)


def test_login_sets_last_login_and_writes_client_login(client_row):
    client = services.client_login(email="INES@example.com", password="ltplabs-demo", ip_address="198.51.100.1", user_agent="ua")
    assert client.id == client_row.id
    client_row.refresh_from_db()
    assert client_row.last_login_at is not None
    entry = AuditLog.objects.get(action="client.login", entity_id=client_row.id)
    assert (entry.actor_type, entry.actor_id, entry.ip_address) == ("client", client_row.id, "198.51.100.1")


@pytest.mark.parametrize(
    "email,password,state",
    [("ines@example.com", "wrong-password", "active"), ("nobody@example.com", "ltplabs-demo", "active"),
     ("ines@example.com", "ltplabs-demo", "inactive"), ("ines@example.com", "ltplabs-demo", "expired")],
)  # fmt: skip
def test_login_refuses_every_cause_with_one_message(actor, client_row, email, password, state):
    if state == "inactive":
        services.client_deactivate(actor=actor, client_id=client_row.id)
    if state == "expired":
        Client.objects.filter(pk=client_row.pk).update(access_end_date=now() - timedelta(seconds=1))
    before = AuditLog.objects.filter(action="client.login").count()
    with pytest.raises(services.InvalidCredentials) as error:
        services.client_login(email=email, password=password)
    assert error.value.message == "Invalid e-mail or password."
    assert AuditLog.objects.filter(action="client.login").count() == before


def test_set_password_stores_a_new_hash_and_audits_without_it(actor, client_row):
    services.client_set_password(actor=actor, client_id=client_row.id, password="a-new-password")
    client_row.refresh_from_db()
    assert bcrypt.checkpw(b"a-new-password", client_row.password_hash.encode())
    entry = AuditLog.objects.get(action="client.password", entity_id=client_row.id)
    assert "$2b$" not in str(entry.details) and "a-new-password" not in str(entry.details)


def test_days_remaining_truncates_toward_zero_like_the_view():
    at = now()
    assert rules.days_remaining(at + timedelta(days=2, hours=23), at) == 2
    assert rules.days_remaining(at - timedelta(days=2, hours=23), at) == -2
    assert rules.days_remaining(None, at) is None
