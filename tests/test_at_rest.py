"""Nothing usable at rest, attacked the way the review did: staff sign in through the API and the
admin's form, clients through theirs, tokens are refreshed and signed out; then the database FILE
is opened with plain sqlite3 (what analytics, a backup or a curious staff user has), every text
value of every table is read, and each one is replayed against a real gunicorn as a bearer token
(staff and client routes), as a refresh token (both refresh routes) and as the admin's sessionid
cookie. The count of what got through is the figure."""

import json
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures import gateway_env, make_database_file, manage
from tests.reliability import call, record, rows

STAFF, STAFF_PASSWORD = "at-rest-staff", "at-rest-staff-pass-123"
# Anything shaped like a token, a key or a hash inside a longer value (JSON details, user agents).
TOKENISH = re.compile(r"[A-Za-z0-9_\-.=:+/$]{16,}")


def admin_session(url: str) -> requests.Session:
    browser = requests.Session()
    login = browser.get(f"{url}/admin/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    answer = browser.post(f"{url}/admin/login/?next=/admin/", timeout=30, allow_redirects=False,
                          data={"csrfmiddlewaretoken": csrf, "username": STAFF, "password": STAFF_PASSWORD, "next": "/admin/"},
                          headers={"Referer": f"{url}/admin/login/"})  # fmt: skip
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/", answer.text[:500]
    return browser


def admin_accepts(url: str, session_key: str) -> bool:
    answer = requests.get(f"{url}/admin/", cookies={"sessionid": session_key}, timeout=30, allow_redirects=False)
    return answer.status_code == 200


def every_stored_text(path) -> set[str]:
    """Every text (and blob, as text) value of every table, and the token-shaped pieces inside them."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values = set()
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if isinstance(value, str) and value:
                        values.add(value)
    finally:
        db.close()
    pieces = {piece for value in values for piece in TOKENISH.findall(value)}
    for value in values:
        try:
            decoded = json.loads(value)
        except ValueError:
            continue
        pieces.update(text for text in re.findall(r'"([^"]{16,})"', json.dumps(decoded)))
    return values | pieces


def test_no_value_read_from_the_database_file_can_be_replayed(tmp_path, gateway_factory):
    path = make_database_file(tmp_path, clients=3)
    manage(gateway_env(path, CACHE_URL="db"), "initdb")  # the cache table: its rows are in the file too
    gateway = gateway_factory(db_path=path, CACHE_URL="db")
    url, db_path = gateway.url, gateway.db_path
    manage({**gateway.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", STAFF, "--password", STAFF_PASSWORD)
    (email,) = rows(db_path, "SELECT email FROM v_active_clients ORDER BY id LIMIT 1")[0]

    staff = call(f"{url}/api/auth/token", "POST", {"username": STAFF, "password": STAFF_PASSWORD}).json
    rotated = call(f"{url}/api/auth/token/refresh", "POST", {"refresh": staff["refresh"]}).json
    signed_out = call(f"{url}/api/auth/token", "POST", {"username": STAFF, "password": STAFF_PASSWORD}).json
    assert call(f"{url}/api/auth/logout", "POST", {"refresh": signed_out["refresh"]}, token=signed_out["access"]).status == 200
    client = call(f"{url}/api/client-auth/login", "POST", {"email": email, "password": "ltplabs-demo"}).json
    client_rotated = call(f"{url}/api/client-auth/refresh", "POST", {"refresh": client["refresh"]}).json
    browser = admin_session(url)
    assert browser.get(f"{url}/admin/clients/client/", timeout=30).status_code == 200  # the session is used, and saved

    # The probe can tell a live credential: each of these is accepted before the attack starts.
    live = browser.cookies["sessionid"]
    assert admin_accepts(url, live)
    assert call(f"{url}/api/clients", token=rotated["access"]).status == 200
    assert call(f"{url}/api/me", token=client_rotated["access"]).status == 200

    stored = sorted(every_stored_text(db_path))

    def replay(value: str) -> list[str]:
        accepted = []
        if call(f"{url}/api/clients", token=value).status == 200:
            accepted.append("staff bearer")
        if call(f"{url}/api/me", token=value).status == 200:
            accepted.append("client bearer")
        if call(f"{url}/api/auth/token/refresh", "POST", {"refresh": value}).status == 200:
            accepted.append("staff refresh")
        if call(f"{url}/api/client-auth/refresh", "POST", {"refresh": value}).status == 200:
            accepted.append("client refresh")
        if admin_accepts(url, value):
            accepted.append("admin sessionid")
        return accepted

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(stored, pool.map(replay, stored), strict=True))
    through = {value[:40]: how for value, how in results.items() if how}
    tables = rows(db_path, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")[0][0]
    record(f"every text value of the database file ({tables} tables, read with sqlite3) replayed as bearer token (staff, client), "
           "refresh token (both routes) and admin sessionid", kind="attack", tries=len(stored) * 5,
           answered=f"accepted {sum(len(how) for how in through.values())} of {len(stored) * 5}", rows_lost=None,
           integrity=f"{len(stored)} values; usable {len(through)}")  # fmt: skip
    assert through == {}
    assert live not in stored and rotated["refresh"] not in stored and client_rotated["refresh"] not in stored
    assert len(stored) > 50
    # What is stored instead: hashes and jtis (the rows exist, so the probe read them).
    assert rows(db_path, "SELECT COUNT(*) FROM token_blacklist_outstandingtoken WHERE token LIKE 'sha256:%'")[0][0] >= 3
    assert rows(db_path, "SELECT COUNT(*) FROM token_blacklist_outstandingtoken WHERE token NOT LIKE 'sha256:%'")[0][0] == 0
    assert rows(db_path, "SELECT COUNT(*) FROM django_session")[0][0] >= 1
    assert admin_accepts(url, live)  # and the real session still works: nothing was broken to get here
