"""Helpers of the fault, attack and schemathesis tests: plain HTTP to a real gunicorn, the
file read from outside, and the observations that scripts/reliability_report.py turns into
docs/reliability.md (each test records what it tried and what it saw when
RELIABILITY_OBSERVATIONS names a file; otherwise recording does nothing)."""

import json
import os
import sqlite3
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path


class Answer:
    """An HTTP answer: status, headers and the JSON body (None when the body is not JSON)."""

    def __init__(self, status: int, headers, raw: bytes):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw or b"null")
        except ValueError:
            self.json = None

    @property
    def error(self) -> str:
        return (self.json or {}).get("error", "") if isinstance(self.json, dict) else ""

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:300]!r}>"


def call(url: str, method: str = "GET", body=None, token: str | None = None, headers: dict | None = None, timeout: float = 30) -> Answer:
    """One request; a status of 4xx/5xx is an Answer, a refused or cut connection raises OSError."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def rows(path: Path, sql: str, params=()) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def integrity(path: Path) -> str:
    return ", ".join(row[0] for row in rows(path, "PRAGMA integrity_check"))


def clients_without_audit_row(path: Path) -> int:
    """Clients that landed without their client.create audit row: a half-written create."""
    sql = (
        "SELECT COUNT(*) FROM clients c WHERE NOT EXISTS (SELECT 1 FROM audit_log a "
        "WHERE a.action = 'client.create' AND a.entity_type = 'client' AND a.entity_id = c.id)"
    )
    return rows(path, sql)[0][0]


def rows_not_as_answered(path: Path, tag: str, answers: list[Answer]) -> int:
    """Of the creates of clients e-mailed `tag-…`: each 201 whose client (with that id) is not in the
    file, each refused one that landed anyway, and each client without its audit row."""
    created = {answer.json["data"]["email"]: answer.json["clientId"] for answer in answers if answer.status == 201}
    landed = dict(rows(path, "SELECT email, id FROM clients WHERE email LIKE ?", (f"{tag}-%",)))
    missing = sum(1 for email, client_id in created.items() if landed.get(email) != client_id)
    return missing + len(set(landed) - set(created)) + clients_without_audit_row(path)


def worker_pids(master_pid: int) -> set[int]:
    """gunicorn's workers: the children of its master process."""
    try:
        text = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except OSError:
        return set()
    return {int(pid) for pid in text.split()}


def summary(statuses) -> str:
    """ "201 ×57, 503 ×3" from a list of statuses (or names such as "reset")."""
    counts = Counter(statuses)
    return ", ".join(f"{status} ×{count}" for status, count in sorted(counts.items(), key=lambda item: str(item[0])))


def record(name: str, *, kind: str, tries: int, answered, rows_lost: int | str | None, integrity: str) -> None:
    """Note one fault or attack for docs/reliability.md. rows_lost is what the test counted, or a
    sentence saying why nothing could be counted; None for attacks, which count answers."""
    path = os.environ.get("RELIABILITY_OBSERVATIONS")
    if not path:
        return
    answered = answered if isinstance(answered, str) else summary(answered)
    entry = {"kind": kind, "name": name, "tries": tries, "answered": answered, "rows_lost": rows_lost, "integrity": integrity}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")
