"""Time one API request through the gateway's real WSGI application, in-process (no HTTP server).

    make bench-request                       # POST /api/clients, GET /api/clients/1, the list, a page of 1000
    .venv/bin/python bench/request_profile.py --profile 'POST /api/clients'   # and where the time goes
    .venv/bin/python bench/request_profile.py 'POST /api/entitlements/check'  # W6: an API key, record

It copies bench/data/clients-10000.db (or --clients N's; made by `make bench`, built here when
missing) to a temporary file, signs in a staff user with the clients app's permissions (not a
superuser, as in the benchmark), and calls ltplabs.wsgi.application as gunicorn would, N times
per route; it prints the best of three rounds in ms per request, the worker's RSS, and for a
write the median time its transaction held the write lock. This is the measure behind the
per-change figures in bench/README.md: steadier than wrk on a shared machine, and it leaves out
gunicorn and the kernel (about a fifth of a request's CPU under wrk).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"
ROUTES = ("POST /api/clients", "GET /api/clients/1", "GET /api/clients", "GET /api/clients?limit=1000", "GET /api/me")
CLIENT_ROUTES = ("GET /api/me",)  # called with a client's token, the others with a staff user's
# Called with an API key (scope entitlements:check), as W6: each request another (client, demo)
# pair the check answers OK, with record (one write transaction, audited). Not in the default set.
CHECK_ROUTE = "POST /api/entitlements/check"


def prepare(workdir: Path, clients: int) -> Path:
    source = ROOT / "bench" / "data" / f"clients-{clients}.db"
    if not source.exists():  # the benchmark's own file, made by the project's generator
        sys.path.insert(0, str(ROOT / "bench"))
        import run

        run.database(clients)
    target = workdir / "request-profile.db"
    shutil.copy(source, target)
    return target


def write_lock_holds() -> list[float]:
    """Seconds each write transaction held the write queue (ltplabs/sqlite/write_queue.py): with two
    workers, the part of a write that the other worker's writes wait for (W4 and W6 under wrk)."""
    from ltplabs.sqlite import write_queue

    holds: list[float] = []
    acquire, release = write_queue.WriteQueue.acquire, write_queue.WriteQueue.release

    def timed_acquire(queue):
        acquire(queue)
        queue.acquired_at = time.perf_counter()

    def timed_release(queue):
        if queue.held:
            holds.append(time.perf_counter() - queue.acquired_at)
        release(queue)

    write_queue.WriteQueue.acquire, write_queue.WriteQueue.release = timed_acquire, timed_release
    return holds


def entitled_pairs(database: Path) -> list[tuple[int, str]]:
    """W6's pairs (bench/run.py's entitled_pairs): every (client, demo) the check answers OK, shuffled."""
    sys.path.insert(0, str(ROOT / "bench"))
    import run

    pairs = (line.split() for line in run.entitled_pairs(database).read_text().splitlines())
    return [(int(client_id), slug) for client_id, slug in pairs]


def new_api_key() -> str:
    """A key of a new service account with the scope entitlements:check, as an operator makes one."""
    from clients import api_keys
    from clients.audit import Actor

    actor = Actor.system()
    account = api_keys.service_account_create(actor=actor, name=f"request-profile-{secrets.token_hex(4)}")
    return api_keys.api_key_create(actor=actor, account=account, scopes=["entitlements:check"]).key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routes", nargs="*", default=list(ROUTES), help="'METHOD /path?query', as in ROUTES")
    parser.add_argument("-n", type=int, default=500, help="requests per round (3 rounds)")
    parser.add_argument("--clients", type=int, default=10000, help="the sample file's size (W6 runs on 100000)")
    parser.add_argument("--profile", action="store_true", help="then cProfile one round of each route (top 30, cumulative)")
    parser.add_argument("--metrics", action="store_true", help="with /metrics on, counting into multiprocess files as a worker does")
    parser.add_argument("--es256", action="store_true", help="tokens signed with a new ES256 JWT_SIGNING_KEY (default: HS256, JWT_SECRET)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ltplabs-request-profile-"))
    database = prepare(workdir, args.clients)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="ltplabs.settings", DJANGO_DEBUG="0", DJANGO_TLS="0",
        DJANGO_ACCESS_LOG=os.environ.get("DJANGO_ACCESS_LOG", "0"),  # DJANGO_ACCESS_LOG=1: with the access line, as deployed
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48), JWT_SECRET=secrets.token_urlsafe(48),
        DATABASE_PATH=str(database), DJANGO_ALLOWED_HOSTS="127.0.0.1", DJANGO_CACHE_DIR=str(workdir / "cache"),
    )  # fmt: skip
    if args.es256:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        os.environ["JWT_SIGNING_KEY"] = pem.decode()
    if args.metrics:  # before prometheus_client is imported: it picks its mode then
        (workdir / "metrics").mkdir()
        os.environ.update(METRICS_TOKEN=secrets.token_hex(16), PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # Timing requests, not collectstatic: the plain storage needs no manifest (ltplabs/staticfiles.py).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework_simplejwt.tokens import AccessToken

    from ltplabs.wsgi import application

    user = get_user_model().objects.create_user("request-profile", password=secrets.token_urlsafe(16), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    authorization = f"Bearer {AccessToken.for_user(user)}"
    from clients.api.tokens import tokens_for_client
    from clients.models import Client

    client = Client.objects.active().first()
    client_authorization = f"Bearer {tokens_for_client(client, [])['access']}"
    emails = itertools.count(1)
    checks = itertools.cycle(entitled_pairs(database)) if CHECK_ROUTE in args.routes else None
    key_authorization = f"Api-Key {new_api_key()}" if checks else None
    tag = secrets.token_hex(4)

    def call(route: str) -> None:
        method, _, target = route.partition(" ")
        path, _, query = target.partition("?")
        body = b""
        if route == CHECK_ROUTE:
            client_id, slug = next(checks)
            body = json.dumps({"client_id": client_id, "demo": slug, "record": True}).encode()
        elif method == "POST":
            fields = {"name": "Bench Client", "email": f"profile-{tag}-{next(emails)}@example.com", "password_hash": HASH,
                      "company": "Bench", "access_days": 30}  # fmt: skip
            body = json.dumps(fields).encode()
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "3000", "HTTP_HOST": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": client_authorization if route in CLIENT_ROUTES else authorization,
        }  # fmt: skip
        if route == CHECK_ROUTE:
            environ["HTTP_AUTHORIZATION"] = key_authorization
        statuses = []
        result = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            b"".join(result)
        finally:
            if hasattr(result, "close"):  # GET /health's bare WSGI answer is a list
                result.close()
        if not statuses[0].startswith(("200", "201")):
            raise SystemExit(f"{route}: {statuses[0]}")

    def rss_mb() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
        return 0

    holds = write_lock_holds()
    metrics = "on" if args.metrics else "off"
    signing = "ES256" if args.es256 else "HS256"
    print(f"{'route':40s} {'ms/request':>10s}  (best of 3 rounds of {args.n}; in-process, no HTTP server; metrics {metrics}; {signing})")
    for route in args.routes:
        for _ in range(20):
            call(route)
        rounds = []
        holds.clear()
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(args.n):
                call(route)
            rounds.append((time.perf_counter() - started) / args.n * 1000)
        held = f"; write lock held {statistics.median(holds) * 1000:.3f} ms (median)" if holds else ""
        print(f"{route:40s} {min(rounds):10.3f}  (rounds: {', '.join(f'{r:.3f}' for r in rounds)}; RSS {rss_mb()} MB{held})")
    if args.profile:
        import cProfile
        import pstats

        for route in args.routes:
            print(f"\n--- {route}: cProfile of {args.n} requests (cumulative) ---")
            profile = cProfile.Profile()
            profile.runcall(lambda route=route: [call(route) for _ in range(args.n)])
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
