"""How long a deep page of the audit log takes, in the API and the admin, on 2,000,000 rows.

    make bench-audit                     # builds bench/data/audit-2m.db once (about a minute)
    .venv/bin/python bench/audit_pages.py --rows 2000000 --depth 1900000 --repeat 5

Each page is requested in-process through Django's test client (the whole request: middleware,
authentication, queries, rendering) by a superuser: the API with a bearer token, the admin signed
in. The rows are a client-heavy log as the gateway writes it (98 % entity_type client), created_at
one second apart in id order. "offset" is the page by offset (the only way before cursor paging;
refused past 10,000 since); "cursor" is the same page reached by the cursor the page before it
gives (`next_cursor`, the admin's "older" link). Median and worst of --repeat runs after one
warm-up, with the SQL queries the page ran.
"""

import argparse
import base64
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from inprocess import use_bench_settings

ROOT = Path(__file__).resolve().parent.parent


def build(db: Path, rows: int) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_suffix(".partial.db")
    partial.unlink(missing_ok=True)
    env = {**os.environ, "DATABASE_PATH": str(partial)}
    print(f"creating {db} with {rows:,} audit rows…", flush=True)
    subprocess.run([sys.executable, "manage.py", "initdb", "--sample", "1000"], cwd=ROOT, env=env, check=True)
    connection = sqlite3.connect(partial)
    start = datetime(2020, 1, 1)
    existing = connection.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]

    def generate():
        for number in range(rows - existing):
            entity = "client" if number % 50 else "demo"
            at = (start + timedelta(seconds=number)).strftime("%Y-%m-%d %H:%M:%S")
            yield at, "staff", 1, "client.update", entity, number % 1000 + 1, '{"before": {"notes": null}, "after": {"notes": "x"}}'

    with connection:
        columns = "created_at, actor_type, actor_id, action, entity_type, entity_id, details"
        connection.executemany(f"INSERT INTO audit_log ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", generate())
    connection.close()
    partial.rename(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--depth", type=int, default=1_900_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None, help="default: bench/data/audit-<N>.db, made if missing")
    args = parser.parse_args()
    db = args.db or ROOT / "bench" / "data" / f"audit-{args.rows // 1_000_000}m.db"
    if args.rows % 1_000_000:
        db = args.db or ROOT / "bench" / "data" / f"audit-{args.rows}.db"

    use_bench_settings(db)
    if not db.exists():
        build(db, args.rows)

    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    user, _ = get_user_model().objects.get_or_create(username="bench-audit", defaults={"is_staff": True, "is_superuser": True})
    api = HttpClient(headers={"Authorization": f"Bearer {AccessToken.for_user(user)}"})
    admin = HttpClient()
    admin.force_login(user)

    with connection.cursor() as cursor:
        # The id of the row just before the page at --depth (newest first), as the previous
        # page's last row: what its next_cursor names.
        cursor.execute("SELECT id FROM audit_log WHERE entity_type = 'client' ORDER BY id DESC LIMIT 1 OFFSET %s", [args.depth - 1])
        client_before = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET %s", [args.depth - 1])
        any_before = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM audit_log")
        total = cursor.fetchone()[0]

    def cursor_for(entry_id: int) -> str:
        return base64.urlsafe_b64encode(str(entry_id).encode()).decode().rstrip("=")

    admin_page = args.depth // 100  # the admin shows 100 a page
    client_cursor, any_cursor = cursor_for(client_before), cursor_for(any_before)
    pages = [
        ("API first page, entity_type=client", api, "/api/audit-log?entity_type=client&limit=100"),
        (f"API offset={args.depth:,}, entity_type=client", api, f"/api/audit-log?entity_type=client&limit=100&offset={args.depth}"),
        (f"API cursor at row {args.depth:,}, entity_type=client", api, f"/api/audit-log?entity_type=client&cursor={client_cursor}"),
        (f"API cursor at row {args.depth:,}, no filter", api, f"/api/audit-log?limit=100&cursor={any_cursor}"),
        ("API one client's history", api, "/api/audit-log?entity_type=client&entity_id=500&limit=100"),
        ("admin audit list", admin, "/admin/clients/auditlog/"),
        (f"admin page {admin_page:,} (?p=)", admin, f"/admin/clients/auditlog/?p={admin_page}"),
        (f"admin at row {args.depth:,} (?cursor=)", admin, f"/admin/clients/auditlog/?cursor={any_cursor}"),
    ]  # fmt: skip

    print(f"{total:,} audit rows, {db}")
    print(f"{'page':50} {'median ms':>10} {'max ms':>8} {'queries':>8} {'status':>6}")
    for name, browser, url in pages:
        times = []
        for attempt in range(args.repeat + 1):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = browser.get(url)
                elapsed = time.perf_counter() - started
            if attempt:
                times.append(elapsed * 1000)
        print(f"{name:50} {statistics.median(times):10.1f} {max(times):8.1f} {len(queries):8d} {response.status_code:6d}", flush=True)


if __name__ == "__main__":
    main()
