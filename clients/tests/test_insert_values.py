"""clients/insert_values.py: the value insert() sends for each field is the one the field's own
get_db_prep_save gives (or the same error), for every concrete field of the clients app's models,
on generated values of every kind a model attribute may hold, on the backend the tests run on;
and insert() writes a row that reads back as Model.save() would have written it."""

import warnings
from datetime import UTC, timedelta, timezone

import pytest
from django.apps import apps
from django.db import connection
from django.utils.translation import gettext_lazy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.audit import insert
from clients.insert_values import adapter
from clients.legacy_time import now
from clients.models import AuditLog, Client

FIELDS = sorted(
    ((model, field) for model in apps.get_app_config("clients").get_models() for field in model._meta.concrete_fields),
    key=lambda pair: (pair[0].__name__, pair[1].name),
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))])
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-3, 3), st.floats(allow_nan=False), st.decimals(allow_nan=False),
    st.text(max_size=30), st.sampled_from(["", "1", "0", "t", "f", "True", "2026-01-02 03:04:05", "João"]),
    st.just(gettext_lazy("name")),
    st.datetimes(timezones=ZONES), st.datetimes(), st.dates(),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.lists(st.integers(), max_size=3),
)  # fmt: skip


def outcome(adapt, value) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a naive time warns, both ways alike
        try:
            result = adapt(value, connection)
        except Exception as error:  # noqa: BLE001 - the error is the outcome compared
            return f"raises {type(error).__name__}"
    return f"{type(result).__name__} {result!r}"  # the type too: 1 is not True, "1" is not 1


@pytest.mark.parametrize("model,field", FIELDS, ids=lambda item: getattr(item, "__name__", getattr(item, "name", "")))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_each_value_is_adapted_as_its_field_would(model, field, value):
    assert outcome(adapter(field, connection), value) == outcome(field.get_db_prep_save, value)


def test_the_common_values_skip_the_fields_chain():
    fields = {field.name: field for field in Client._meta.concrete_fields}
    assert adapter(fields["name"], connection) != fields["name"].get_db_prep_save
    assert adapter(fields["created_at"], connection) != fields["created_at"].get_db_prep_save
    assert adapter(AuditLog._meta.get_field("details"), connection) == AuditLog._meta.get_field("details").get_db_prep_save


@pytest.mark.django_db
def test_insert_writes_what_save_writes():
    at = now()
    values = dict(name="Inês", email="ines-insert@example.com", password_hash="$2b$10$x", company=None, phone="+351 1",
                  notes=None, data_registo=at, access_end_date=at + timedelta(days=30), is_active=True, created_by=None,
                  created_at=at, updated_at=at)  # fmt: skip
    inserted = insert(Client(**values))
    saved = Client(**{**values, "email": "ines-save@example.com"})
    saved.save()
    columns = [field.attname for field in Client._meta.concrete_fields if not field.primary_key and field.name != "email"]
    read = {row["id"]: row for row in Client.objects.filter(pk__in=[inserted.pk, saved.pk]).values(*columns, "id")}
    assert {k: v for k, v in read[inserted.pk].items() if k != "id"} == {k: v for k, v in read[saved.pk].items() if k != "id"}
    with connection.cursor() as cursor:  # and the legacy text, on SQLite: no fraction, no offset
        cursor.execute("SELECT created_at FROM clients WHERE id = %s", [inserted.pk])
        stored = cursor.fetchone()[0]
    assert stored == (at.strftime("%Y-%m-%d %H:%M:%S") if connection.vendor == "sqlite" else at)
