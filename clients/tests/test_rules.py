"""clients/rules.py against the view it copies: for the same rows, the Python status rule, the
ORM filter, the SQL fragment and days_remaining (Python and SQLite's SQL) agree with
v_active_clients."""

from datetime import timedelta

import pytest
from django.db import connection

from clients import rules, services
from clients.legacy_time import now
from clients.models import Client, ClientDemoAccess
from tests.fixtures import IS_POSTGRES

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'
# Ends a minute or more from now and from a whole day: no case sits on a boundary the test's own
# run time could cross.
ENDS = {
    "no-end": None,
    "just-ahead": timedelta(minutes=1),
    "just-past": -timedelta(minutes=1),
    "days-ahead": timedelta(days=2, hours=23),
    "days-past": -timedelta(days=2, hours=23),
    "far-ahead": timedelta(days=3000, minutes=5),
}


@pytest.fixture
def cases(staff_user):
    """email -> (is_active, access_end_date) of every case, active and deactivated alike."""
    at, actor, made = now(), services.Actor.staff(staff_user), {}
    for name, offset in ENDS.items():
        for is_active in (True, False):
            email = f"{name}-{'on' if is_active else 'off'}@example.com"
            client = services.client_create(actor=actor, name=name, email=email, password_hash=HASH)
            end = None if offset is None else at + offset
            Client.objects.filter(pk=client.pk).update(is_active=is_active, access_end_date=end)
            made[client.pk] = (is_active, end)
    return made


def view_rows() -> dict[int, int | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, days_remaining FROM v_active_clients")
        return dict(cursor.fetchall())


def test_the_python_rule_is_the_views(cases):
    in_view, at = view_rows(), now()
    statuses = {client_id: rules.status(is_active, end, at) for client_id, (is_active, end) in cases.items()}
    assert {client_id for client_id, status in statuses.items() if status == rules.ACTIVE} == set(in_view) & set(cases)
    assert {status for status in statuses.values()} == set(rules.STATUSES)
    for client_id, (is_active, end) in cases.items():
        assert Client.objects.get(pk=client_id).status == statuses[client_id]
        expected = rules.INACTIVE if not is_active else rules.EXPIRED if end is not None and end <= at else rules.ACTIVE
        assert statuses[client_id] == expected


def test_the_orm_filters_are_the_views(cases):
    in_view = set(view_rows()) & set(cases)
    assert set(Client.objects.active().filter(pk__in=cases).values_list("pk", flat=True)) == in_view
    expired = {pk for pk, (is_active, end) in cases.items() if is_active and pk not in in_view}
    assert set(Client.objects.expired().filter(pk__in=cases).values_list("pk", flat=True)) == expired
    inactive = {pk for pk, (is_active, _) in cases.items() if not is_active}
    assert set(Client.objects.inactive().filter(pk__in=cases).values_list("pk", flat=True)) == inactive


def test_the_sql_fragment_is_the_views(cases):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT c.id FROM clients AS c WHERE {rules.active_sql('c')}", [connection.ops.adapt_datetimefield_value(now())])
        selected = {row[0] for row in cursor.fetchall()}
    assert selected & set(cases) == set(view_rows()) & set(cases)


def test_days_remaining_is_the_views(cases):
    in_view, at = view_rows(), now()
    assert {client_id: rules.days_remaining(cases[client_id][1], at) for client_id in in_view if client_id in cases} == {
        client_id: days for client_id, days in in_view.items() if client_id in cases
    }
    # truncated toward zero, as the view's CAST does: 2 days 23 hours ago is -2, a minute ago 0
    days = sorted((rules.days_remaining(end, at) for is_active, end in cases.values() if is_active), key=lambda d: (d is not None, d))
    assert days == [None, -2, 0, 0, 2, 3000]


@pytest.mark.skipif(IS_POSTGRES, reason="the SQLite expression")
def test_days_remaining_in_sqlite_is_the_views(cases):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, {rules.days_remaining_sqlite('c.access_end_date')} FROM clients AS c",
            [connection.ops.adapt_datetimefield_value(now())],
        )
        computed = dict(cursor.fetchall())
    in_view = view_rows()
    assert {client_id: computed[client_id] for client_id in in_view if client_id in cases} == {
        client_id: days for client_id, days in in_view.items() if client_id in cases
    }


@pytest.fixture
def access_rows(staff_user):
    """access id -> expires_at of one client's rows, one per end of ENDS (demos are few: each
    case is a row of its own client)."""
    at, actor, made = now(), services.Actor.staff(staff_user), {}
    for name, offset in ENDS.items():
        client = services.client_create(actor=actor, name=name, email=f"access-{name}@example.com", password_hash=HASH,
                                        demos=["route-optimizer"])  # fmt: skip
        end = None if offset is None else at + offset
        ClientDemoAccess.objects.filter(client=client).update(expires_at=end)
        made[ClientDemoAccess.objects.get(client=client).pk] = end
    return made


def test_an_access_rows_currency_is_one_rule_in_python_the_orm_and_sql(access_rows):
    at = now()
    current = {pk for pk, end in access_rows.items() if rules.access_current(end, at)}
    assert current == {pk for pk, end in access_rows.items() if end is None or end > at}
    assert {access_rows[pk] is None for pk in current} == {True, False}  # both kinds of current row
    assert len(current) < len(access_rows)  # and rows past their end
    by_orm = set(ClientDemoAccess.objects.filter(rules.access_current_q(at), pk__in=access_rows).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id FROM client_demo_access AS a WHERE {rules.access_current_sql('a')}",
            [connection.ops.adapt_datetimefield_value(at)],
        )
        by_sql = {row[0] for row in cursor.fetchall()} & set(access_rows)
    assert by_orm == by_sql == current
