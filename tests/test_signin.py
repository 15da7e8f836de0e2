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
