"""Time one API request through the gateway's real WSGI application, in-process (no HTTP server).

    make bench-request                       # POST /api/clients, GET /api/clients/1, the list, a page of 1000
    .venv/bin/python bench/request_profile.py --profile 'POST /api/clients'   # and where the time goes

It copies bench/data/clients-10000.db (made by `make bench`; built here when missing) to a
temporary file, signs in a staff user with the clients app's permissions (not a superuser, as in
the benchmark), and calls ltplabs.wsgi.application as gunicorn would, N times per route; it
prints the best of three rounds in ms per request and the worker's RSS. This is the measure
behind the per-change figures in bench/README.md: steadier than wrk on a shared machine, and it
leaves out gunicorn and the kernel (about a fifth of a request's CPU under wrk).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "data" / "clients-10000.db"
HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"
ROUTES = ("POST /api/clients", "GET /api/clients/1", "GET /api/clients", "GET /api/clients?limit=1000", "GET /api/me")
CLIENT_ROUTES = ("GET /api/me",)  # called with a client's token, the others with a staff user's


def prepare(workdir: Path) -> Path:
    if not SOURCE.exists():  # the benchmark's own file, made by the project's generator
        sys.path.insert(0, str(ROOT / "bench"))
        import run

        run.database(10000)
    target = workdir / "request-profile.db"
    shutil.copy(SOURCE, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routes", nargs="*", default=list(ROUTES), help="'METHOD /path?query', as in ROUTES")
    parser.add_argument("-n", type=int, default=500, help="requests per round (3 rounds)")
    parser.add_argument("--profile", action="store_true", help="then cProfile one round of each route (top 30, cumulative)")
    parser.add_argument("--metrics", action="store_true", help="with /metrics on, counting into multiprocess files as a worker does")
    parser.add_argument("--es256", action="store_true", help="tokens signed with a new ES256 JWT_SIGNING_KEY (default: HS256, JWT_SECRET)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ltplabs-request-profile-"))
    database = prepare(workdir)
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
    tag = secrets.token_hex(4)

    def call(route: str) -> None:
        method, _, target = route.partition(" ")
        path, _, query = target.partition("?")
        body = b""
        if method == "POST":
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

    metrics = "on" if args.metrics else "off"
    signing = "ES256" if args.es256 else "HS256"
    print(f"{'route':40s} {'ms/request':>10s}  (best of 3 rounds of {args.n}; in-process, no HTTP server; metrics {metrics}; {signing})")
    for route in args.routes:
        for _ in range(20):
            call(route)
        rounds = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(args.n):
                call(route)
            rounds.append((time.perf_counter() - started) / args.n * 1000)
        print(f"{route:40s} {min(rounds):10.3f}  (rounds: {', '.join(f'{r:.3f}' for r in rounds)}; RSS {rss_mb()} MB)")
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
