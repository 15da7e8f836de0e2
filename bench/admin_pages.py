"""How long each staff admin page takes on a database of 100,000 sample clients.

    make bench-admin                     # builds bench/data/admin-100k.db once (about 30 s)
    .venv/bin/python bench/admin_pages.py --clients 100000 --repeat 5

Each page is requested in-process through Django's test client by a signed-in superuser
(the whole request: middleware, queries, template); the table gives the median and the worst
of --repeat runs after one warm-up, with the SQL queries the page ran.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from inprocess import use_bench_settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--import-rows", type=int, default=10_000, help="rows of the import benchmark (password_hash)")
    parser.add_argument("--import-password-rows", type=int, default=100, help="rows with a plain password (one bcrypt each)")
    parser.add_argument("--db", type=Path, default=None, help="default: bench/data/admin-<N>.db, made by initdb if missing")
    args = parser.parse_args()
    db = args.db or ROOT / "bench" / "data" / f"admin-{args.clients // 1000}k.db"

    use_bench_settings(db)
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"creating {db} with {args.clients} sample clients…", flush=True)
        subprocess.run([sys.executable, "manage.py", "initdb", "--sample", str(args.clients)], cwd=ROOT, check=True)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # Timing the pages, not collectstatic: the plain storage needs no manifest.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from clients.models import AuditLog, Client, Demo

    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    browser = HttpClient()
    browser.force_login(user)

    client = Client.objects.order_by("-created_at", "-id").first()
    company = Client.objects.exclude(company=None).values_list("company", flat=True).first()
    demo = Demo.objects.first()
    entry = AuditLog.objects.order_by("-id").first()
    year = client.data_registo.year
    clients = "/admin/clients/client/"
    pages = [
        ("index: the dashboard", "/admin/"),
        ("clients: expiring within 7 days", f"{clients}?expiring=7"),
        ("clients: list", clients),
        ("clients: page 500", f"{clients}?p=500"),
        ("clients: search 'silva'", f"{clients}?q=silva"),
        ("clients: search e-mail", f"{clients}?q={client.email}"),
        ("clients: status=expired", f"{clients}?status=expired"),
        ("clients: status=active", f"{clients}?status=active"),
        ("clients: company", f"{clients}?company={company}"),
        ("clients: demo", f"{clients}?demo={demo.id}"),
        ("clients: year (date hierarchy)", f"{clients}?data_registo__year={year}"),
        ("clients: sorted by days left", f"{clients}?o=5"),
        ("client: change page", f"{clients}{client.id}/change/"),
        ("client: add page", f"{clients}add/"),
        ("clients: CSV export, status=expired", "/admin/clients/client/export.csv?status=expired"),
        ("demos: list with usage", "/admin/clients/demo/"),
        ("demo: page", f"/admin/clients/demo/{demo.id}/change/"),
        ("audit log: list", "/admin/clients/auditlog/"),
        ("audit log: one client's history", f"/admin/clients/auditlog/?entity_type=client&entity_id={client.id}"),
        ("audit log: action + actor filters", "/admin/clients/auditlog/?action=client.create&actor_type=system"),
        ("audit log: entry", f"/admin/clients/auditlog/{entry.id}/change/"),
        ("audit log: search a client's e-mail", f"/admin/clients/auditlog/?q={client.email}"),
        ("clients: import page", f"{clients}import/"),
    ]

    print(f"{Client.objects.count()} clients, {AuditLog.objects.count()} audit rows, {db}")
    print(f"{'page':40} {'median ms':>10} {'max ms':>8} {'queries':>8} {'status':>6}")
    for name, url in pages:
        times = []
        for attempt in range(args.repeat + 1):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = browser.get(url)
                if response.streaming:
                    b"".join(response.streaming_content)
                elapsed = time.perf_counter() - started
            if attempt:
                times.append(elapsed * 1000)
        print(f"{name:40} {statistics.median(times):10.1f} {max(times):8.1f} {len(queries):8d} {response.status_code:6d}")

    bench_import(args.import_rows, args.import_password_rows)


def bench_import(rows: int, password_rows: int) -> None:
    """import_clients of N new rows, every one through client_create with its audit row, in its
    one transaction, rolled back at the end (a dry run does the same work; a real import adds one
    commit), so the file is the same for the next run."""
    from clients.audit import Actor
    from clients.importing import import_clients, read_rows
    from clients.passwords import hash_password

    sample_hash = hash_password("bench-import-password")
    for label, count, column, value in (
        ("password_hash", rows, "password_hash", sample_hash),
        ("password (bcrypt per row)", password_rows, "password", "bench-import-password"),
    ):
        lines = [f"name,email,company,access_days,demos,{column}"]
        lines += [f"Bench Import {number},bench.import.{number}@example.com,Bench Lda,30,pricing-lab,{value}" for number in range(count)]
        started = time.perf_counter()
        result = import_clients(actor=Actor.system(), rows=read_rows("\n".join(lines).encode(), "bench.csv"), dry_run=True)
        elapsed = time.perf_counter() - started
        assert not result.failed, result.failed[:3]
        print(f"import_clients, {count} rows with {label}: {elapsed:.1f} s ({count / elapsed:.0f} rows/s)")


if __name__ == "__main__":
    main()
