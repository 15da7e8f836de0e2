"""Sign-in limits attacked over HTTP, the way the security review did: padded and cased names,
spoofed X-Forwarded-For, one address across accounts, one account across addresses, in
parallel, against every instance of a rig at once.

Rigs: on SQLite one gunicorn with two workers (the file cache) and two gunicorns on one file
(CACHE_URL=db); on PostgreSQL (scripts/with-postgres.sh) three gunicorns sharing one database
and one redis-server, each with its own cache folder, as three pods have. Every instance sits
behind one proxy (DJANGO_NUM_PROXIES=1): the address is the right-most X-Forwarded-For hop and
whatever the attacker puts left of it is ignored.

The windows are an hour long with the contract's counts (10, 5, 30, 50), so that no outcome
depends on how fast this machine gets through the attempts.
"""

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fixtures import IS_POSTGRES, Gateway, gateway_env, make_database_file, manage
from tests.reliability import call, record

RATES = {
    "THROTTLE_STAFF_LOGIN": "10/hour",
    "THROTTLE_CLIENT_LOGIN_EMAIL": "5/hour",
    "THROTTLE_LOGIN_ADDRESS": "30/hour",
    "THROTTLE_LOGIN_ACCOUNT": "50/hour",
    "DJANGO_NUM_PROXIES": "1",
}
CLIENT_PASSWORD = "client-pass-123"


class Rig:
    def __init__(self, name: str, gateways: list[Gateway]):
        self.name, self.gateways = name, gateways
        self._next = itertools.cycle(gateways)
        self.staff = gateways[0].staff_token()  # signs in from 127.0.0.1, an address no attack uses

    def post(self, path: str, body: dict, address: str, spoof: str = "", token: str | None = None):
        hops = f"{spoof}, {address}" if spoof else address
        return call(f"{next(self._next).url}{path}", "POST", body, token=token, headers={"X-Forwarded-For": hops})

    def make_client(self, email: str) -> None:
        body = {"name": "Attacked", "email": email, "password": CLIENT_PASSWORD, "access_days": 30}
        answer = call(f"{self.gateways[0].url}/api/clients", "POST", body, token=self.staff)
        assert answer.status == 201, answer


def _start(name: str, count: int, db_path, **env) -> Rig:
    gateways = []
    try:
        for _ in range(count):
            gateways.append(Gateway(db_path, workers=2, **RATES, **env).start())
        return Rig(name, gateways)
    except BaseException:
        for gateway in gateways:
            gateway.stop()
        raise


@pytest.fixture(params=["postgres-3-redis"] if IS_POSTGRES else ["sqlite-1-file", "sqlite-2-db"])
def rig(request, tmp_path):
    if request.param == "postgres-3-redis":
        from tests.fixtures import RedisServer
        from tests.postgres import scratch_database

        redis = RedisServer().start()
        url = scratch_database("signin")
        manage(gateway_env(tmp_path / "pg", DATABASE_URL=url), "initdb")
        try:
            name = "3 gunicorns x 2 workers, PostgreSQL, CACHE_URL=redis"
            built = _start(name, 3, tmp_path / "pg", DATABASE_URL=url, CACHE_URL=redis.url)
        except BaseException:
            redis.stop()
            raise
        yield built
        for gateway in built.gateways:
            gateway.stop()
        redis.stop()
        return
    path = make_database_file(tmp_path)
    if request.param == "sqlite-1-file":
        built = _start("1 gunicorn x 2 workers, SQLite, file cache", 1, path)
    else:
        manage(gateway_env(path, CACHE_URL="db"), "initdb")  # on an existing file: Django's tables and the cache table
        built = _start("2 gunicorns x 2 workers, SQLite, CACHE_URL=db", 2, path, CACHE_URL="db")
    yield built
    for gateway in built.gateways:
        gateway.stop()


def allowed(answers) -> int:
    """Attempts that got as far as a password check: anything but 429."""
    return sum(answer.status != 429 for answer in answers)


def test_padded_cased_and_spoofed_staff_guesses_get_exactly_the_limit_on_every_instance(rig):
    spellings = ["victim", " victim", "victim ", "VICTIM", "Victim\t", " ViCtIm "]
    answers = [
        rig.post("/api/auth/token", {"username": spellings[n % 6], "password": f"guess-{n}"}, "198.51.100.7", spoof=f"10.0.0.{n}")
        for n in range(30)
    ]
    record(f"staff guesses, padded/cased names, rotating spoofed X-Forwarded-For ({rig.name}; limit 10)", kind="attack",
           tries=len(answers), answered=[answer.status for answer in answers], rows_lost=None,
           integrity=f"allowed {allowed(answers)} of limit 10")  # fmt: skip
    assert allowed(answers) == 10
    assert all(answer.status == 429 and int(answer.headers["Retry-After"]) > 0 for answer in answers[10:])


def test_one_address_across_many_client_emails_gets_exactly_the_address_limit(rig):
    body = {"password": "x" * 8}
    answers = [rig.post("/api/client-auth/login", {**body, "email": f"spray-{n}@example.com"}, "198.51.100.8") for n in range(40)]
    record(f"client e-mail spraying from one address ({rig.name}; limit 30)", kind="attack", tries=len(answers),
           answered=[answer.status for answer in answers], rows_lost=None, integrity=f"allowed {allowed(answers)} of limit 30")  # fmt: skip
    assert allowed(answers) == 30


def test_one_account_from_many_addresses_in_parallel_gets_exactly_the_account_limit(rig):
    rig.make_client("target@example.com")

    def guess(n: int):
        return rig.post("/api/client-auth/login", {"email": " Target@Example.com", "password": f"guess-{n}"}, f"203.0.113.{n}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(guess, range(60)))
    right = rig.post("/api/client-auth/login", {"email": "target@example.com", "password": CLIENT_PASSWORD}, "203.0.113.200")
    record(f"one client account guessed from 60 addresses, 6 at a time ({rig.name}; limit 50)", kind="attack",
           tries=len(answers) + 1, answered=[answer.status for answer in [*answers, right]], rows_lost=None,
           integrity=f"allowed {allowed(answers)} of limit 50")  # fmt: skip
    assert allowed(answers) == 50
    assert right.status == 429


def test_client_email_per_address_limit_counts_every_spelling_and_the_audit_row_names_the_real_address(rig):
    rig.make_client("ana@example.com")
    ok = rig.post("/api/client-auth/login", {"email": "ana@example.com", "password": CLIENT_PASSWORD}, "192.0.2.10", spoof="6.6.6.6")
    assert ok.status == 200
    log = call(f"{rig.gateways[-1].url}/api/audit-log?action=client.login", token=rig.staff)
    assert [row["ip_address"] for row in log.json["data"]] == ["192.0.2.10"]
    spellings = ["ANA@example.com", " ana@EXAMPLE.com", "ana@example.com "]
    answers = [rig.post("/api/client-auth/login", {"email": spellings[n % 3], "password": f"guess-{n}"}, "192.0.2.10") for n in range(10)]
    record(f"client e-mail guessing in any case and spacing ({rig.name}; limit 5, 1 used by a good sign-in)", kind="attack",
           tries=len(answers), answered=[answer.status for answer in answers], rows_lost=None,
           integrity=f"allowed {allowed(answers)} of 4 left")  # fmt: skip
    assert allowed(answers) == 4


# --- revocation on every instance ----------------------------------------------------------------


def seconds_until_refused(rig: Rig, path: str, token: str, since: float, deadline: float = 15.0) -> list[float]:
    """Per instance: seconds from `since` until `token` was refused there for good: the time of the
    first 401 after the last 200, once 8 answers in a row (both workers) have been 401."""
    import time

    figures = []
    for gateway in rig.gateways:
        refused_since, in_a_row = None, 0
        while in_a_row < 8:
            answer = call(f"{gateway.url}{path}", token=token)
            if answer.status == 401:
                refused_since = refused_since or time.monotonic()
                in_a_row += 1
            else:
                assert answer.status == 200, answer
                refused_since, in_a_row = None, 0
                assert time.monotonic() - since < deadline, (
                    f"{path}: still 200 after {deadline}s; done: {sorted(getattr(rig, 'figures', {}))}"
                )
        figures.append(refused_since - since)
    return figures


def staff_sign_in(rig: Rig, username: str, password: str) -> dict:
    answer = rig.post("/api/auth/token", {"username": username, "password": password}, "192.0.2.200")
    assert answer.status == 200, answer
    return answer.json


def warm(rig: Rig, path: str, token: str) -> None:
    """Every worker of every instance has verified the token and cached its user."""
    for gateway in rig.gateways:
        assert [call(f"{gateway.url}{path}", token=token).status for _ in range(6)] == [200] * 6


def test_staff_logout_password_change_and_deactivation_refuse_old_tokens_on_every_instance(rig):
    import time

    env = {**rig.gateways[0].env, "DJANGO_DEBUG": "1"}
    manage(env, "create_dev_staff", "--username", "revokee", "--password", "revokee-pass-123")
    figures = rig.figures = {}

    pair = staff_sign_in(rig, "revokee", "revokee-pass-123")
    warm(rig, "/api/clients", pair["access"])
    answer = rig.post("/api/auth/logout", {"refresh": pair["refresh"]}, "192.0.2.200", token=pair["access"])
    assert answer.status == 200, answer
    figures["logout"] = seconds_until_refused(rig, "/api/clients", pair["access"], time.monotonic())
    assert rig.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, "192.0.2.200").status == 401
    assert rig.post("/api/auth/token/verify", {"token": pair["access"]}, "192.0.2.200").status == 401

    pair = staff_sign_in(rig, "revokee", "revokee-pass-123")
    warm(rig, "/api/clients", pair["access"])
    assert rig.post("/api/auth/logout-all", {}, "192.0.2.200", token=pair["access"]).status == 200
    figures["logout-all"] = seconds_until_refused(rig, "/api/clients", pair["access"], time.monotonic())
    assert rig.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, "192.0.2.200").status == 401

    script = "from django.contrib.auth.models import User; u = User.objects.get(username='revokee'); {}; u.save()"
    for change in ("u.set_password('revokee-pass-456')", "u.is_active = False"):
        password = "revokee-pass-123" if "set_password" in change else "revokee-pass-456"
        pair = staff_sign_in(rig, "revokee", password)
        warm(rig, "/api/clients", pair["access"])
        manage(rig.gateways[0].env, "shell", "-c", script.format(change))
        figures["password change" if "set_password" in change else "deactivation"] = seconds_until_refused(
            rig, "/api/clients", pair["access"], time.monotonic()
        )
        assert rig.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, "192.0.2.200").status == 401
    manage(rig.gateways[0].env, "shell", "-c", script.format("u.is_active = True"))
    revived = [call(f"{gateway.url}/api/clients", token=pair["access"]).status for gateway in rig.gateways for _ in range(4)]
    assert revived == [401] * len(revived)  # reactivation revives nothing
    for cause, seconds in figures.items():
        record(f"staff {cause}: seconds until the old access token is refused, per instance ({rig.name})", kind="attack",
               tries=len(seconds), answered="401 on " + ", ".join(f"{value:.2f} s" for value in seconds), rows_lost=None,
               integrity="never 200 again on any worker; reactivation revived nothing")  # fmt: skip


def test_a_reused_client_refresh_token_ends_its_whole_sign_in_on_every_instance(rig):
    import time

    rig.make_client("family@example.com")
    first = rig.post("/api/client-auth/login", {"email": "family@example.com", "password": CLIENT_PASSWORD}, "192.0.2.201").json
    second = rig.post("/api/client-auth/refresh", {"refresh": first["refresh"]}, "192.0.2.201").json
    assert second["success"] and second["refresh"] != first["refresh"]
    warm(rig, "/api/me", second["access"])
    replay = rig.post("/api/client-auth/refresh", {"refresh": first["refresh"]}, "192.0.2.201")
    seconds = seconds_until_refused(rig, "/api/me", second["access"], time.monotonic())
    after = rig.post("/api/client-auth/refresh", {"refresh": second["refresh"]}, "192.0.2.201")
    record(f"client refresh token replayed after rotation ({rig.name})", kind="attack", tries=2,
           answered=[replay.status, after.status], rows_lost=None,
           integrity="the family's access token refused on " + ", ".join(f"{value:.2f} s" for value in seconds))  # fmt: skip
    assert replay.status == 401 and after.status == 401
    again = rig.post("/api/client-auth/login", {"email": "family@example.com", "password": CLIENT_PASSWORD}, "192.0.2.201")
    assert again.status == 200 and call(f"{rig.gateways[-1].url}/api/me", token=again.json["access"]).status == 200
