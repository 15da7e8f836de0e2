"""Realistic sample rows for a new ltplabs.db, like the database component's generator makes:
mixed-case e-mails, accented names, clients without a company, expired and deactivated
clients, access rows with and without their own expiry, and an audit trail.
Every sample client's password is 'ltplabs-demo'."""

import json
import random
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from ltplabs.schema import reset_sequences

from .legacy_time import format_time, parse_time

SAMPLE_PASSWORD = "ltplabs-demo"
PASSWORD_HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"  # 'ltplabs-demo'

FIRST = ["João", "Maria", "Ana", "Pedro", "Inês", "Tiago", "Beatriz", "Rui", "Sofia", "Gonçalo",
         "Marta", "Nuno", "Leonor", "Duarte", "Catarina", "Zoë", "Łukasz", "Ömer", "Chloé", "Søren"]  # fmt: skip
LAST = ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins",
        "Conceição", "Gonçalves", "Araújo", "Müller", "O'Brien", "van der Berg", "Nguyễn"]  # fmt: skip
COMPANIES = ["Sonae", "Jerónimo Martins", "EDP", "Galp", "CTT", "NOS", "Navigator", "Mota-Engil",
             "Luís Simões", "Renova", "Delta Cafés", None, None]  # fmt: skip
DEMOS = [
    ("route-optimizer", "Route Optimizer", "Vehicle routing with time windows"),
    ("demand-forecast", "Demand Forecast", "Store-level demand forecasting"),
    ("workforce-planner", "Workforce Planner", "Shift scheduling for retail staff"),
    ("pricing-lab", "Pricing Lab", "Markdown and promotion pricing"),
    ("inventory-sim", "Inventory Simulator", "Multi-echelon inventory policies"),
    ("network-design", "Network Design", "Warehouse location and flows"),
]
BATCH = 5000


def _ts(moment: datetime) -> str:
    return format_time(moment)


def _sql_time(text: str | None):
    """SQLite keeps times as text; PostgreSQL takes them as timestamps."""
    if text is None or connection.vendor == "sqlite":
        return text
    return parse_time(text)


def load_sample(clients: int, seed: int = 7, progress=None) -> None:
    """Add the demos (when missing) and `clients` sample clients with their access and audit rows."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    t = _sql_time
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM demos")
        if not cursor.fetchone()[0]:
            cursor.executemany(
                "INSERT INTO demos (id, slug, name, description, url, is_active, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        i,
                        slug,
                        name,
                        desc,
                        f"https://demos.ltplabs.example/{slug}",
                        slug != "network-design",
                        t(_ts(now - timedelta(days=900 - i))),
                    )
                    for i, (slug, name, desc) in enumerate(DEMOS, 1)
                ],
            )
        cursor.execute("SELECT id FROM demos ORDER BY id")
        demo_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM clients")
        first_id = cursor.fetchone()[0] + 1
        client_rows, access_rows, audit_rows = [], [], []
        for cid in range(first_id, first_id + clients):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = now - timedelta(days=rng.randint(0, 1000), seconds=rng.randint(0, 86399))
            kind = rng.random()
            if kind < 0.10:
                end = None
            elif kind < 0.30:
                end = _ts(now - timedelta(days=rng.randint(1, 300)))
            else:
                end = _ts(now + timedelta(days=rng.randint(1, 365)))
            local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
            email = f"{local}{cid}@{'Example' if cid % 7 == 0 else 'example'}.com"
            if cid % 11 == 0:
                email = email.upper()
            client_rows.append((
                cid, f"{first} {last}", email, PASSWORD_HASH, rng.choice(COMPANIES),
                f"+351 9{rng.randint(10000000, 99999999)}" if rng.random() < 0.6 else None,
                t(_ts(created)), t(end), rng.random() >= 0.08,
                "Migrated from the 2023 spreadsheet" if cid % 97 == 0 else None,
                rng.choice([1, 2, None]), t(_ts(created)), t(_ts(created)),
            ))  # fmt: skip
            for demo_id in rng.sample(demo_ids, min(len(demo_ids), rng.randint(0, 3))):
                access_rows.append((
                    cid, demo_id, t(_ts(created)), t(end) if rng.random() < 0.5 else None, 1, rng.randint(0, 40),
                    t(_ts(min(now, created + timedelta(days=rng.randint(0, 30))))),
                ))  # fmt: skip
            audit_rows.append((t(_ts(created)), cid, json.dumps({"email": email, "source": "sample"}), "10.0.0.12"))
            if len(client_rows) >= BATCH:
                _flush(cursor, client_rows, access_rows, audit_rows, progress)
        _flush(cursor, client_rows, access_rows, audit_rows, progress)
        reset_sequences(connection, ["clients", "demos", "client_demo_access", "audit_log"])


def _flush(cursor, client_rows, access_rows, audit_rows, progress) -> None:
    cursor.executemany(
        "INSERT INTO clients (id, name, email, password_hash, company, phone, data_registo, access_end_date, "
        "is_active, notes, created_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        client_rows,
    )
    cursor.executemany(
        "INSERT INTO client_demo_access (client_id, demo_id, granted_at, expires_at, granted_by, access_count, "
        "last_accessed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        access_rows,
    )
    cursor.executemany(
        "INSERT INTO audit_log (created_at, actor_type, actor_id, action, entity_type, entity_id, details, ip_address) "
        "VALUES (%s, 'system', NULL, 'client.create', 'client', %s, %s, %s)",
        audit_rows,
    )
    if progress:
        progress(len(client_rows))
    client_rows.clear()
    access_rows.clear()
    audit_rows.clear()
