"""Every way a client leaves the API is the presenter's (clients/selectors/client_rows.py): its
keys are the output serializers' fields, on every path (the SQLite json_object page, the dict
page, the filtered lists, one client, a new client), so password_hash can never leave."""

import json
from datetime import timedelta

import pytest

from clients import services
from clients.legacy_time import now
from clients.models import Client
from clients.selectors import active_page  # the module
from clients.serializers import ClientDetailOutput, ClientOutput

pytestmark = pytest.mark.django_db

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'
LIST_KEYS = set(ClientOutput().fields)
DETAIL_KEYS = set(ClientDetailOutput().fields)


@pytest.fixture
def clients(staff_user):
    actor = services.Actor.staff(staff_user)
    made = [
        services.client_create(actor=actor, name=f"Row {index}", email=f"row{index}@example.com", password_hash=HASH, demos=["pricing-lab"])
        for index in range(3)
    ]
    Client.objects.filter(pk=made[1].pk).update(access_end_date=now() - timedelta(days=1))
    Client.objects.filter(pk=made[2].pk).update(is_active=False)
    return made


def test_the_serializers_name_no_password():
    assert "password_hash" not in DETAIL_KEYS and "password" not in DETAIL_KEYS
    assert DETAIL_KEYS - LIST_KEYS == {"notes"}


def test_the_sqlite_json_object_has_the_list_keys():
    assert set(active_page.JSON_VALUES) == LIST_KEYS


@pytest.mark.parametrize("query", [{}, {"limit": 2}, {"status": "all"}, {"status": "expired"}, {"status": "inactive"}, {"search": "Row"}])
def test_every_list_row_has_the_list_keys(api, clients, query):
    rows = api.get("/api/clients", query).json()["data"]
    assert rows
    for row in rows:
        assert set(row) == LIST_KEYS, (query, row)


def test_one_client_new_or_read_has_the_detail_keys(api, clients):
    created = api.post(
        "/api/clients", {"name": "New", "email": "new@example.com", "password_hash": HASH, "demos": ["pricing-lab"]}, format="json"
    )
    assert created.status_code == 201 and set(created.json()["data"]) == DETAIL_KEYS
    for client in clients:
        assert set(api.get(f"/api/clients/{client.id}").json()["data"]) == DETAIL_KEYS
    raw = api.get(f"/api/clients/{clients[0].id}").content.decode()
    assert "password" not in raw and HASH not in json.dumps(created.json())


def test_a_new_clients_answer_is_the_row_read_back(api, clients):
    created = api.post(
        "/api/clients",
        {"name": "Same", "email": "same@example.com", "password_hash": HASH, "demos": ["pricing-lab", "pricing-lab"]},
        format="json",
    ).json()
    assert created["data"] == api.get(f"/api/clients/{created['clientId']}").json()["data"]
    assert created["data"]["demo_count"] == 1
