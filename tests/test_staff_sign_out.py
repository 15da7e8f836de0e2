"""The admin's *Sign out everywhere* on a staff user, against a real gunicorn (two workers): the
user's access and refresh tokens stop working on both workers within the contract's second, its
admin session at once, another user's keep working, and the audit log says who did it."""

import json
import re
import time

import requests

from clients import revocation
from clients.api.authentication import STAFF_CACHE_SECONDS
from tests.fixtures import manage
from tests.reliability import call, rows

PASSWORD = "sign-out-pass-123"


def admin_login(url: str, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{url}/admin/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = browser.post(f"{url}/admin/login/?next=/admin/", allow_redirects=False, timeout=30, headers={"Referer": f"{url}/admin/login/"},
                          data={"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD, "next": "/admin/"})  # fmt: skip
    assert answer.status_code == 302, answer.text[:300]
    return browser


def signed_in(browser: requests.Session, url: str) -> bool:
    return browser.get(f"{url}/admin/", allow_redirects=False, timeout=30).status_code == 200


def test_sign_out_everywhere_ends_a_staff_users_tokens_and_admin_sessions(gateway_factory):
    gateway = gateway_factory()
    url = gateway.url
    for username in ("victim-staff", "other-staff", "boss"):
        manage({**gateway.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", username, "--password", PASSWORD)
    tokens = {
        name: call(f"{url}/api/auth/token", "POST", {"username": name, "password": PASSWORD}).json
        for name in ("victim-staff", "other-staff")
    }
    victim_admin, boss = admin_login(url, "victim-staff"), admin_login(url, "boss")
    assert signed_in(victim_admin, url) and all(call(f"{url}/api/clients", token=t["access"]).status == 200 for t in tokens.values())

    (victim_id,) = rows(gateway.db_path, "SELECT id FROM auth_user WHERE username = 'victim-staff'")[0]
    listing = boss.get(f"{url}/admin/auth/user/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing.text).group(1)
    form = {"csrfmiddlewaretoken": csrf, "action": "sign_out_everywhere", "_selected_action": str(victim_id), "index": "0"}
    done = boss.post(f"{url}/admin/auth/user/", data=form, headers={"Referer": f"{url}/admin/auth/user/"}, timeout=30)
    assert done.status_code == 200 and "Signed out everywhere 1 staff user" in done.text

    victim, other = tokens["victim-staff"], tokens["other-staff"]
    # The contract's "within 1 s": a worker that read the user's revocation state (or the user)
    # just before keeps it that long at most; it must not depend on how fast the admin answered.
    time.sleep(max(revocation.FRESH_SECONDS, STAFF_CACHE_SECONDS) + 0.1)
    # Every worker: several requests each, the kernel spreads them over both.
    assert {call(f"{url}/api/clients", token=victim["access"]).status for _ in range(6)} == {401}
    assert call(f"{url}/api/auth/token/refresh", "POST", {"refresh": victim["refresh"]}).status == 401
    assert not signed_in(victim_admin, url)
    assert {call(f"{url}/api/clients", token=other["access"]).status for _ in range(6)} == {200}
    assert signed_in(boss, url)
    (boss_id,) = rows(gateway.db_path, "SELECT id FROM auth_user WHERE username = 'boss'")[0]
    audited = rows(
        gateway.db_path, "SELECT actor_type, actor_id, details FROM audit_log WHERE action = 'staff.logout' AND entity_id = ?", (victim_id,)
    )
    assert [(kind, actor, json.loads(details)["everywhere"]) for kind, actor, details in audited] == [("staff", boss_id, True)]
    assert json.loads(audited[0][2])["admin_sessions_ended"] == 1
