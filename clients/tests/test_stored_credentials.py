"""What the database keeps of credentials: a hash of each admin session key and of each refresh
token, never the thing itself; the token-blacklist pages show neither; the migration hashes what
an earlier release stored. (tests/test_at_rest.py replays every stored value over HTTP.)"""

import importlib

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from ltplabs.http.sessions import SessionStore, stored_key
from tests.fixtures import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]


def test_a_session_is_found_by_its_key_but_stored_under_its_hash():
    session = SessionStore()
    session["marker"] = "kept"
    session.save()
    key = session.session_key
    assert not Session.objects.filter(session_key=key).exists()
    assert Session.objects.filter(session_key=stored_key(key)).exists()
    assert SessionStore(key).load() == {"marker": "kept"} and SessionStore(key).exists(key)
    assert SessionStore(stored_key(key)).load() == {}  # the stored value is no key
    SessionStore(key).delete()
    assert not Session.objects.filter(session_key=stored_key(key)).exists()


def test_refresh_tokens_are_stored_as_a_hash_and_the_admin_shows_none(settings):
    user = make_staff("token-owner")
    refresh = RefreshToken.for_user(user)
    refresh.blacklist()
    row = OutstandingToken.objects.get(jti=refresh["jti"])
    assert row.token.startswith("sha256:") and str(refresh) not in row.token
    admin = make_staff("token-admin", is_superuser=True)
    browser = Browser()
    browser.force_login(admin)
    for url in (
        reverse("admin:token_blacklist_outstandingtoken_changelist"),
        reverse("admin:token_blacklist_outstandingtoken_change", args=[row.pk]),
        reverse("admin:token_blacklist_blacklistedtoken_changelist"),
        reverse("admin:token_blacklist_blacklistedtoken_add"),
    ):
        page = browser.get(url)
        assert page.status_code == 200, url
        assert str(refresh) not in page.content.decode() and row.token not in page.content.decode(), url
    # The blacklist form names one token by id: no select of every outstanding token.
    form = browser.get(reverse("admin:token_blacklist_blacklistedtoken_add")).content.decode()
    assert 'name="token"' in form and '<select name="token"' not in form


def test_the_migration_hashes_tokens_an_earlier_release_stored_whole_and_ends_bare_sessions():
    user = make_staff("old-release")
    refresh = RefreshToken.for_user(user)
    with connection.cursor() as cursor:  # as the earlier release wrote them, past our hooks
        cursor.execute("UPDATE token_blacklist_outstandingtoken SET token = %s WHERE jti = %s", [str(refresh), refresh["jti"]])
    Session.objects.create(session_key="barekey12345678", session_data="x", expire_date="2999-01-01T00:00:00Z")
    migration = importlib.import_module("clients.migrations.0005_nothing_usable_at_rest")
    migration.hash_stored_credentials(apps, None)
    assert OutstandingToken.objects.get(jti=refresh["jti"]).token.startswith("sha256:")
    assert not Session.objects.exists()
    migration.hash_stored_credentials(apps, None)  # again: a hash stays the same hash
    assert OutstandingToken.objects.get(jti=refresh["jti"]).token.count("sha256:") == 1
