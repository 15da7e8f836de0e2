"""`make bench`: the gateway under gunicorn, as deployed, beside the seed's Express peer on the
same file, W1-W5 with wrk through bench.sh, one table of req/s, p50, p99 and ratios, saved to
bench/results/<date>.txt with the versions.

Environment: BENCH_SIZES (default "10000 100000 1000000"), BENCH_CONNS ("16 64"), DURATION (10),
WARMUP (2), BENCH_ROUNDS (3: runs of each side per row, in alternating order; the table shows each
side's median), BENCH_WORKLOADS (e.g. "W2 W4"; default all), BENCH_PEER (path of the peer's source,
default ../shared/peers/express; the peer is skipped when it is not there), WEB_CONCURRENCY /
GUNICORN_THREADS / GUNICORN_WORKER_CLASS (passed to gunicorn.conf.py, to compare worker models),
BENCH_METRICS ("1": after the table, W2 and W4 with /metrics on beside the same gateway with them
off, in alternating rounds, and the cost; "0": skip that; "only": that alone), BENCH_W6_CLIENTS
(100000: the file of W6, the entitlement check with record, which has no peer).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
WORK = Path(tempfile.gettempdir()) / "ltplabs-bench"  # servers' logs and cache, the write runs' copies
PYTHON = ROOT / ".venv" / "bin" / "python"
# The interpreters the gateway runs on, each in a row's columns of its own (issue 19): the image's,
# Debian bookworm's python3 (3.11, built by Debian with profile-guided and link-time optimisation),
# and the machine's default `python3`, what `make run` and any plain venv get (pyenv's source build
# here, with neither). BENCH_PYTHON="label=path ..." names others; each gets bench/.venv-<label>
# from requirements.txt, as the image does. An interpreter that is not there is skipped.
INTERPRETER_SPECS = os.environ.get("BENCH_PYTHON", "image=/usr/bin/python3 plain=python3").split()
PEER_SOURCE = Path(os.environ.get("BENCH_PEER", ROOT.parent / "shared" / "peers" / "express"))
PEER_BUILD = BENCH / "peer"  # node_modules/ there is gitignored
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10000 100000 1000000").split()]
CONNS = [int(n) for n in os.environ.get("BENCH_CONNS", "16 64").split()]
# The machine is shared: one 10-second run of the same server can differ from the next by 10-20 %.
# Each row runs both sides ROUNDS times, alternating which goes first (gateway-peer, peer-gateway,
# ...), so that a slow spell of the machine falls on both, and reports each side's median.
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
WORKLOADS = set(os.environ.get("BENCH_WORKLOADS", "W1 W2 W2d W3 W4 W5 W6").split())
METRICS = os.environ.get("BENCH_METRICS", "1")
METRICS_MAX_COST = 0.03  # issue 18: metrics on may cost at most 3 % of W2's and W4's req/s
W3_CLIENTS = 1000
WRITE_CLIENTS = 10000
W6_CLIENTS = int(os.environ.get("BENCH_W6_CLIENTS", "100000"))
DEEP_OFFSET = 500_000
STAFF_USER, STAFF_PASSWORD = "bench-staff", "bench-staff-pass-123"
SECRET = secrets.token_hex(32)

TITLES = {
    "W1": "GET /health",
    "W2": "GET /api/clients?limit=100",
    "W2d": f"deep page (row {DEEP_OFFSET:,})",
    "W3": "whole active list",
    "W4": "POST /api/clients",
    "W5": "90% W2 + 10% W4",
    "W6": "POST /api/entitlements/check rec.",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


# --- database files ----------------------------------------------------------------------------


def gateway_env(db_path: Path, port: int = 0) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="ltplabs.settings",
        DJANGO_DEBUG="0",
        DJANGO_TLS="0",
        DJANGO_SECRET_KEY=SECRET,
        # Signed as deployed (k8s/base: the gateway-signing-key Secret): ES256 with a key of the bench's own.
        JWT_SIGNING_KEY_FILE=str(signing_key_file()),
        JWT_ACCESS_MINUTES="240",
        # Each server's own (its sign-in throttles, revocation memo): a run starts dozens of servers,
        # each signing in once, and the staff sign-in throttle counts per address across them.
        DJANGO_CACHE_DIR=str(WORK / f"cache-{port}"),
        DJANGO_STATIC_ROOT=str(WORK / "static"),
        DATABASE_PATH=str(db_path),
        PORT=str(port),
    )
    return env


@functools.cache
def signing_key_file() -> Path:
    """A fresh EC P-256 key for this run (`manage.py signing_key new` makes the same kind)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = WORK / "signing-key.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Interpreter:
    label: str  # the columns' name: "image", "plain", ...
    executable: str  # what sys.executable says, through any shim (pyenv's python3 is a script)
    version: str

    @functools.cached_property
    def bin(self) -> Path:
        """bin/ of bench/.venv-<label>, made from this interpreter and requirements.txt when missing or stale."""
        venv = BENCH / f".venv-{self.label}"
        requirements = (ROOT / "requirements.txt").read_bytes()
        stamp = hashlib.sha256(requirements + self.version.encode() + self.executable.encode()).hexdigest()
        marker = venv / "bench-stamp"
        if not marker.exists() or marker.read_text() != stamp:
            log(f"making bench/.venv-{self.label} from {self.executable} and requirements.txt ...")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([self.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
            marker.write_text(stamp)
        return venv / "bin"


@functools.cache
def interpreters() -> tuple[Interpreter, ...]:
    found: list[Interpreter] = []
    for spec in INTERPRETER_SPECS:
        label, _, command = spec.rpartition("=")
        label = label or Path(command).name
        probe = "import sys; print(sys.executable); print(sys.version.split()[0])"
        try:
            out = subprocess.run([command, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            log(f"BENCH_PYTHON: {command} not found; its columns are skipped")
            continue
        executable = os.path.realpath(out[0])
        if any(os.path.realpath(other.executable) == executable for other in found):
            log(f"BENCH_PYTHON: {command} is {executable} again; skipped")
            continue
        found.append(Interpreter(label, out[0], out[1]))
    if not found:
        raise SystemExit("BENCH_PYTHON names no interpreter that runs")
    return tuple(found)


@functools.cache
def collect_static(static_root: Path) -> None:
    """The admin's and the API docs' files: gunicorn.conf.py refuses to start without them."""
    env = {**gateway_env(static_root / "unused.db"), "DJANGO_STATIC_ROOT": str(static_root)}
    python = str(interpreters()[0].bin / "python")
    subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def manage(db_path: Path, *args: str) -> None:
    env = {**gateway_env(db_path), "DJANGO_DEBUG": "1"}
    subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


STAFF_SCRIPT = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
user, _ = get_user_model().objects.get_or_create(username={STAFF_USER!r})
user.is_staff, user.is_superuser, user.is_active = True, False, True
user.set_password({STAFF_PASSWORD!r})
user.save()
user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
"""


def database(clients: int, directory: Path = DATA) -> Path:
    """clients-N.db in `directory` (bench/data/), made by the project's generator, with a staff user
    that holds the clients app's permissions (not a superuser, so the permission checks run as in
    production)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"clients-{clients}.db"
    partial = path.with_suffix(".partial.db")
    remove_database(partial)  # what an interrupted build left
    if not path.exists():
        log(f"building {path.name} (initdb --sample {clients}) ...")
        manage(partial, "initdb", "--sample", str(clients))
        checkpoint(partial)
        # Renamed with no connection open (SQLite's "How To Corrupt An SQLite Database File", 2.4: a
        # connection open across a rename went on using the old name's -wal and -shm, and the staff
        # user written next through the new name was lost) and with nothing left in its WAL.
        partial.rename(path)
        remove_database(partial)
    else:
        manage(path, "initdb")  # a file from an earlier version: only the gateway's own tables it lacks
    manage(path, "shell", "-c", STAFF_SCRIPT)
    checkpoint(path)
    return path


def checkpoint(path: Path) -> None:
    """Fold the WAL into the file and close: sqlite3's own `with` commits but leaves the connection open."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    wal = Path(f"{path}-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise RuntimeError(f"{path.name}: its WAL could not be checkpointed (is a server still using it?)")


def remove_database(path: Path) -> None:
    """A file and its -wal and -shm; only ever called with no connection to it open."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def fresh_copy(source: Path, name: str) -> Path:
    target = WORK / name
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_database(target)  # the previous round's copy; its server has stopped and its check closed
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def write_check(path: Path) -> dict:
    with contextlib.closing(sqlite3.connect(path)) as db:
        written, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT lower(email)) FROM clients WHERE email LIKE 'bench-%'").fetchone()
        audited = db.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'client.create'"
            " AND entity_id IN (SELECT id FROM clients WHERE email LIKE 'bench-%')"
        ).fetchone()[0]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return {"written": written, "distinct": distinct, "audited": audited, "integrity": integrity}


def check_writes(path: Path, result: dict, workload: str, kind: str, conns: int, round_: int) -> str:
    """The line of the write check of one run on its copy; ends with OK or FAILED."""
    check = write_check(path)
    created = int(result.get("s201", 0)) + int(result.get("warmup_s201") or 0)
    unanswered = check["written"] - created
    # wrk stops with requests in flight: the server may commit up to one per connection per run
    # (warm-up and measured) whose answer wrk never counts. Fewer rows than 201s would be lost
    # writes; more than that slack, or a duplicate, would be a bug.
    ok = 0 <= unanswered <= 2 * conns and check["distinct"] == check["written"] == check["audited"] and check["integrity"] == "ok"
    return (
        f"{workload} {kind:8} {conns:>2} conns, round {round_ + 1}: 201 answers {created}, rows written {check['written']} "
        f"(in flight at wrk's stop: {unanswered}), distinct e-mails {check['distinct']}, audit rows {check['audited']}, "
        f"integrity_check {check['integrity']}: {'OK' if ok else 'FAILED'}"
    )


def entitled_pairs(path: Path) -> Path:
    """W6's requests: every (client, demo) of the file that the check answers OK for the next day,
    shuffled, one "client_id slug" a line (bench.lua sends them in turn: each request another client)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        pairs = db.execute(
            "SELECT a.client_id, d.slug FROM client_demo_access a JOIN clients c ON c.id = a.client_id"
            " JOIN demos d ON d.id = a.demo_id WHERE c.is_active = 1 AND d.is_active = 1"
            " AND (c.access_end_date IS NULL OR c.access_end_date > datetime('now', '+1 day'))"
            " AND (a.expires_at IS NULL OR a.expires_at > datetime('now', '+1 day')) ORDER BY random()"
        ).fetchall()
    out = path.with_suffix(".pairs")
    out.write_text("".join(f"{client_id} {slug}\n" for client_id, slug in pairs))
    return out


def open_counts(path: Path) -> tuple[int, int]:
    """The sum of access_count and the number of demo.open audit rows."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (count,) = db.execute("SELECT COALESCE(SUM(access_count), 0) FROM client_demo_access").fetchone()
        (opened,) = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'demo.open'").fetchone()
    return count, opened


def check_opens(path: Path, before: tuple[int, int], result: dict, kind: str, conns: int, round_: int) -> str:
    """W6's write check of one run on its copy: access_count rose by the 200s, one demo.open row each."""
    after = open_counts(path)
    counted, audited = after[0] - before[0], after[1] - before[1]
    answered = int(result.get("s200", 0)) + int(result.get("warmup_s200") or 0)
    with contextlib.closing(sqlite3.connect(path)) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    unanswered = counted - answered
    # As W4: wrk stops with requests in flight, whose opens may count without an answer wrk saw.
    ok = 0 <= unanswered <= 2 * conns and counted == audited and integrity == "ok" and not result.get("non2xx")
    return (
        f"W6 {kind:7} {conns:>2} conns, round {round_ + 1}: 200 answers {answered}, access_count rose by {counted} "
        f"(in flight at wrk's stop: {unanswered}), demo.open rows {audited}, integrity_check {integrity}: {'OK' if ok else 'FAILED'}"
    )


def api_key(path: Path) -> str:
    """A new API key (scope entitlements:check) in the file, as an operator makes one."""
    env = {**gateway_env(path), "DJANGO_DEBUG": "1"}
    command = [str(PYTHON), "manage.py", "api_key", "create", "bench-w6", "--scope", "entitlements:check"]
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def deep_cursor(path: Path) -> str:
    """The gateway's cursor for the page that starts at row DEEP_OFFSET of v_active_clients."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute(
            "SELECT created_at, id FROM v_active_clients ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?", (DEEP_OFFSET - 1,)
        ).fetchone()
    return base64.urlsafe_b64encode(f"{row[0]}|{row[1]}".encode()).decode().rstrip("=")


# --- servers -------------------------------------------------------------------------------------


class Server:
    name = ""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = WORK / f"{self.name}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.log_file = None
        self.token = ""

    def start(self) -> Self:
        """Start the server and sign in to it; a server whose start fails is stopped before the error goes on
        (an exception in __enter__ never reaches __exit__, and a gunicorn left serving shares the next benchmark's cores)."""
        try:
            self.launch()
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> None:
        raise NotImplementedError

    def spawn(self, command: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        # A session of its own: stop() signals the whole group, workers included, even when their master is gone.
        self.log_file = self.log_path.open("w")
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.process:
            if self.process.poll() is None:
                self.signal_group(signal.SIGTERM)
                try:
                    self.process.wait(20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            self.signal_group(signal.SIGKILL)  # whatever outlived the group's leader
            self.process.wait()
        if self.log_file:
            self.log_file.close()

    def children(self) -> list[int]:
        """The server process's children (gunicorn's workers)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (the process and its children)."""
        ticks = 0
        for pid in [self.process.pid, *self.children()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def settle(self, timeout: float = 60) -> None:
        """Wait until the server has finished the work a run left it (a server still answering
        requests that wrk gave up on would slow the next run, of either side)."""
        deadline = time.monotonic() + timeout
        used = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - used < 0.05:  # under a tenth of a core in the last half second
                return
            used = now

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Gateway(Server):
    name = "gateway"

    def __init__(self, db_path: Path, interpreter: Interpreter | None = None):
        self.interpreter = interpreter or interpreters()[0]
        self.name = f"{type(self).name}-{self.interpreter.label}"
        super().__init__(db_path)

    def launch(self) -> None:
        collect_static(WORK / "static")
        command = [str(self.interpreter.bin / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}", self.app]
        self.spawn(command, self.env(), cwd=ROOT)
        wait_for(f"{self.url}{self.probe}", self.process, self.log_path)
        self.sign_in()

    app, probe = "ltplabs.wsgi", "/health/live"

    def sign_in(self) -> None:
        body = json.dumps({"username": STAFF_USER, "password": STAFF_PASSWORD}).encode()
        request = urllib.request.Request(f"{self.url}/api/auth/token", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.token = json.load(response)["access"]

    def env(self) -> dict[str, str]:
        return gateway_env(self.db_path, self.port)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(WORK / f"cache-{self.port}", ignore_errors=True)

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker (the master's children), in MB."""
        pids = ",".join(str(pid) for pid in self.children())
        out = subprocess.run(["ps", "-o", "rss=", "-p", pids], capture_output=True, text=True).stdout if pids else ""
        return [int(kb) / 1024 for kb in out.split()]


class MeteredGateway(Gateway):
    """The same gateway with /metrics on: every answer counted into the workers' metrics files."""

    name = "gateway-metrics"

    def env(self) -> dict[str, str]:
        folder = WORK / f"metrics-{self.port}"
        return {**gateway_env(self.db_path, self.port), "METRICS_TOKEN": secrets.token_hex(16), "PROMETHEUS_MULTIPROC_DIR": str(folder)}

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(WORK / f"metrics-{self.port}", ignore_errors=True)


# The table's gateway is the deployed one, /metrics on (k8s/base sets METRICS_TOKEN); the metrics
# section below compares it with Gateway, the same without them.
DeployedGateway = MeteredGateway


class Ceiling(Gateway):
    """gunicorn's own ceiling on this machine: the same gunicorn.conf.py and interpreter serving a
    constant WSGI answer shaped like /health's (bench/ceiling.py). W1 is reported as a share of it."""

    name = "ceiling"
    app, probe = "bench.ceiling:application", "/health"

    def sign_in(self) -> None:
        pass


class Peer(Server):
    name = "peer"

    def launch(self) -> None:
        env = {**os.environ, "NODE_PATH": str(PEER_BUILD / "node_modules"), "DB_PATH": str(self.db_path),
               "JWT_SECRET": SECRET, "PORT": str(self.port), "NODE_ENV": "production"}  # fmt: skip
        self.spawn(["node", str(PEER_BUILD / "server.js")], env)
        wait_for(f"{self.url}/health", self.process, self.log_path)
        self.token = subprocess.run(
            ["node", str(PEER_BUILD / "token.js")], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()


def build_peer() -> bool:
    if not (PEER_SOURCE / "server.js").exists():
        log(f"no peer at {PEER_SOURCE}: the gateway runs alone")
        return False
    PEER_BUILD.mkdir(exist_ok=True)
    for name in ("package.json", "server.js", "token.js"):
        shutil.copy2(PEER_SOURCE / name, PEER_BUILD / name)
    if not (PEER_BUILD / "node_modules" / "better-sqlite3" / "build").exists():
        log("npm install in bench/peer ...")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--omit=dev"], cwd=PEER_BUILD, check=True, stdout=subprocess.DEVNULL)
    return True


# --- wrk -----------------------------------------------------------------------------------------


def wrk(server: Server, workload: str, conns: int, path: str | None = None, **extra: str) -> dict:
    env = {**os.environ, "DURATION": os.environ.get("DURATION", "10"), "WARMUP": os.environ.get("WARMUP", "2"), **extra}
    if workload in ("W4", "W5", "W6"):
        env["BENCH_STATUS"] = "1"  # count the 201s (200s), to compare with the rows written (the counts)
    spec = "W2" if workload == "W2d" else workload
    if path:
        env[f"{spec}_PATH"] = path
    out = subprocess.run(
        [str(BENCH / "bench.sh"), server.url, server.token, f"{spec}:{conns}"], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    result = {}
    for key, value in re.findall(r"(\w+)=(\S*)", line):
        try:
            result[key] = float(value) if "." in value else int(value)
        except ValueError:
            result[key] = value
    return result


LATENCY_KEYS = ("p50_ms", "p99_ms", "max_ms")


def combine(runs: list[dict]) -> dict:
    """One side's rounds of a row: the median of req/s and of each latency (a round that answered
    nothing has no latency: it counts as infinitely slow), the sum of the counts, and each round's
    req/s in run order."""
    combined: dict = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        if key in LATENCY_KEYS:
            combined[key] = statistics.median(v if run["requests"] else float("inf") for v, run in zip(values, runs, strict=True))
        elif key in ("rps", "duration_s"):
            combined[key] = statistics.median(values)
        elif all(isinstance(v, int) for v in values):
            combined[key] = sum(values)
        else:
            combined[key] = values[0]
    combined["rounds"] = [run["rps"] for run in runs]
    return combined


def rss_note(rss: list[float]) -> str:
    return "/".join(f"{mb:.0f}" for mb in rss)


# --- the run -------------------------------------------------------------------------------------


def rotated(items: list, round_: int) -> list:
    """The sides in round `round_`'s order: each goes first in turn, so a slow spell of the machine
    falls on every side alike."""
    shift = round_ % len(items)
    return items[shift:] + items[:shift]


def run_order(names: list[str], round_: int) -> list[str]:
    """The sides' order in round `round_`: rotated, but each gateway right beside its ceiling (W1),
    the two in turn first. The machine's speed drifts by more than the margin within a round of
    five servers; two runs one after the other see nearly the same machine, so their ratio (the
    share, share_of_ceiling) moves far less than either's req/s."""
    groups = [[name] for name in names if not name.startswith("ceiling:")]
    for group in groups:
        ceiling = f"ceiling:{group[0].removeprefix('gw:')}"
        if group[0].startswith("gw:") and ceiling in names:
            group.insert(1 - round_ % 2, ceiling)
    return [name for group in rotated(groups, round_) for name in group]


def share_of_ceiling(gw: dict, ceiling: dict) -> float | None:
    """W1's share of gunicorn's ceiling: the median, over the rounds, of the gateway's req/s over
    the ceiling's in the same round (run_order runs the two one after the other)."""
    shares = [mine / theirs for mine, theirs in zip(gw["rounds"], ceiling["rounds"], strict=True) if theirs]
    return statistics.median(shares) if shares else None


def main() -> int:
    started = datetime.datetime.now(datetime.UTC)
    _ = [interpreter.bin for interpreter in interpreters()]  # each venv made first, if it must be
    has_peer = build_peer() if METRICS != "only" else False
    rows: list[dict] = []
    worker_rss: list[float] = []
    write_checks: list[str] = []

    def measure(workload: str, clients: int, servers: dict[str, Server], conns: int, paths=(None, None)):
        log(f"  {workload} {clients} clients, {conns} connections, {ROUNDS} rounds")
        runs: dict[str, list[dict]] = {name: [] for name in servers}
        for round_ in range(ROUNDS):
            for name in run_order(list(servers), round_):
                server = servers[name]
                path = paths[1] if name == "peer" else None if name.startswith("ceiling") else paths[0]
                runs[name].append(wrk(server, workload, conns, path))
                server.settle()
        rows.append({"workload": workload, "clients": clients, "conns": conns, "sides": {k: combine(v) for k, v in runs.items()}})

    def read_runs(clients: int, jobs):
        path = database(clients)
        servers: dict[str, Server] = {}
        ceilings: dict[str, Server] = {}
        try:
            for interpreter in interpreters():
                servers[f"gw:{interpreter.label}"] = DeployedGateway(path, interpreter).start()
            if has_peer:
                servers["peer"] = Peer(path).start()
            if any(job[0] == "W1" for job in jobs):
                for interpreter in interpreters():
                    ceilings[f"ceiling:{interpreter.label}"] = Ceiling(path, interpreter).start()
            for index, job in enumerate(jobs):
                chosen = {**servers, **ceilings} if job[0] == "W1" else servers
                measure(job[0], clients, chosen, *job[1:])
                if job[0] == "W1" and all(later[0] != "W1" for later in jobs[index + 1 :]):
                    # The ceilings are W1's alone: stopped after its last row, they leave the cores to the rest.
                    for ceiling in ceilings.values():
                        ceiling.stop()
            worker_rss.extend(mb for name, s in servers.items() if name.startswith("gw:") for mb in s.worker_rss_mb())
        finally:
            for server in [*servers.values(), *ceilings.values()]:
                server.stop()

    for clients in SIZES if METRICS != "only" else []:
        jobs = []
        if clients == SIZES[0] and "W1" in WORKLOADS:
            jobs += [("W1", c) for c in CONNS]
        if "W2" in WORKLOADS:
            jobs += [("W2", c) for c in CONNS]
        if clients > DEEP_OFFSET and "W2d" in WORKLOADS:
            cursor = deep_cursor(database(clients))
            paths = (f"/api/clients?limit=100&cursor={cursor}", f"/api/clients?limit=100&offset={DEEP_OFFSET}")
            jobs += [("W2d", c, paths) for c in CONNS]
        if jobs:
            log(f"{clients} clients")
            read_runs(clients, jobs)
    if "W3" in WORKLOADS and METRICS != "only":
        log(f"{W3_CLIENTS} clients")
        # The gateway's list is paged (1000 at most): one page of 1000 holds every active client of this file.
        read_runs(W3_CLIENTS, [("W3", c, ("/api/clients?limit=1000", "/api/clients")) for c in CONNS])

    for workload in ("W4", "W5"):
        if workload not in WORKLOADS or METRICS == "only":
            continue
        source = database(WRITE_CLIENTS)
        sides = [(f"gw:{i.label}", functools.partial(DeployedGateway, interpreter=i)) for i in interpreters()]
        sides += [("peer", Peer)] if has_peer else []
        for conns in CONNS:
            log(f"  {workload} {WRITE_CLIENTS} clients, {conns} connections (fresh copies), {ROUNDS} rounds")
            runs: dict[str, list[dict]] = {name: [] for name, _ in sides}
            for round_ in range(ROUNDS):
                for name, server_class in rotated(sides, round_):
                    path = fresh_copy(source, f"{name.replace(':', '-')}-{workload}-{conns}.db")
                    with server_class(path) as server:
                        result = wrk(server, workload, conns)
                        if name != "peer":
                            worker_rss.extend(server.worker_rss_mb())
                    runs[name].append(result)
                    time.sleep(0.5)
                    write_checks.append(check_writes(path, result, workload, name, conns, round_))
            rows.append({"workload": workload, "clients": WRITE_CLIENTS, "conns": conns, "sides": {k: combine(v) for k, v in runs.items()}})

    if "W6" in WORKLOADS and METRICS != "only":
        # W6 is held to W4's req/s, so each W6 run has a W4 run of the same interpreter beside it
        # (each first in turn): the machine's speed drifts within minutes, by more than the margin.
        source, w4_source = database(W6_CLIENTS), database(WRITE_CLIENTS)
        for conns in CONNS:
            log(f"  W6 {W6_CLIENTS} clients, {conns} connections (fresh copies), {ROUNDS} rounds, each beside a W4 run")
            runs6: dict[str, list[dict]] = {f"{kind}:{i.label}": [] for kind in ("gw", "w4") for i in interpreters()}
            for round_ in range(ROUNDS):
                for interpreter in rotated(list(interpreters()), round_):
                    for kind in ("gw", "w4") if round_ % 2 == 0 else ("w4", "gw"):
                        name = f"{kind}:{interpreter.label}"
                        if kind == "w4":
                            path = fresh_copy(w4_source, f"gw-{interpreter.label}-W4-beside-W6-{conns}.db")
                            with DeployedGateway(path, interpreter) as server:
                                result = wrk(server, "W4", conns)
                                worker_rss.extend(server.worker_rss_mb())
                            check = check_writes(path, result, "W4", f"{name} (beside W6)", conns, round_)
                        else:
                            path = fresh_copy(source, f"gw-{interpreter.label}-W6-{conns}.db")
                            key, pairs, before = api_key(path), entitled_pairs(path), open_counts(path)
                            with DeployedGateway(path, interpreter) as server:
                                server.token = key
                                result = wrk(server, "W6", conns, BENCH_PAIRS=str(pairs))
                                worker_rss.extend(server.worker_rss_mb())
                            check = check_opens(path, before, result, name, conns, round_)
                        runs6[name].append(result)
                        time.sleep(0.5)
                        write_checks.append(check)
            rows.append({"workload": "W6", "clients": W6_CLIENTS, "conns": conns, "sides": {k: combine(v) for k, v in runs6.items()}})

    report = render(rows, worker_rss, write_checks, has_peer, started) if METRICS != "only" else "\n".join(versions(False))
    if METRICS != "0":
        report += "\n\n" + metrics_cost(write_checks)
    print(report)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    out = results / f"{started:%Y-%m-%d-%H%M}.txt"
    out.write_text(report + "\n")
    log(f"written to {out.relative_to(ROOT)}")
    return 0


def metrics_cost(write_checks: list[str]) -> str:
    """W2 (10,000 clients) and W4 with metrics off and on, the same gateway, in alternating rounds:
    req/s, p99 and what metrics cost (1 - on/off)."""
    rows = []
    source = database(WRITE_CLIENTS)
    for workload in ("W2", "W4"):
        for conns in CONNS:
            log(f"  metrics off/on: {workload} {WRITE_CLIENTS} clients, {conns} connections, {ROUNDS} rounds")
            runs: dict[str, list[dict]] = {"off": [], "on": []}
            sides = [("off", Gateway), ("on", MeteredGateway)]
            if workload == "W2":
                with Gateway(source) as off, MeteredGateway(source) as on:
                    for round_ in range(ROUNDS):
                        for kind, server in [("off", off), ("on", on)][:: 1 if round_ % 2 == 0 else -1]:
                            runs[kind].append(wrk(server, workload, conns))
                            server.settle()
            else:
                for round_ in range(ROUNDS):
                    for kind, server_class in sides[:: 1 if round_ % 2 == 0 else -1]:
                        path = fresh_copy(source, f"metrics-{kind}-{workload}-{conns}.db")
                        with server_class(path) as server:
                            runs[kind].append(wrk(server, workload, conns))
                        time.sleep(0.5)
                        write_checks.append(check_writes(path, runs[kind][-1], workload, f"m-{kind}", conns, round_))
            rows.append({"workload": workload, "conns": conns, **{kind: combine(results) for kind, results in runs.items()}})
    header = f"{'workload':34} {'conns':>5} | {'off req/s':>9} {'p99 ms':>7} | {'on req/s':>9} {'p99 ms':>7} | {'cost':>6}"
    lines = [
        f"Metrics off vs on (METRICS_TOKEN set, prometheus-client multiprocess files), {WRITE_CLIENTS:,} clients:",
        header,
        "-" * len(header),
    ]
    costs = []
    for row in rows:
        off, on = row["off"], row["on"]
        cost = 1 - on["rps"] / off["rps"] if off["rps"] else float("nan")
        costs.append(cost)
        title = f"{row['workload']} {TITLES[row['workload']]}"
        shown = f"{off['rps']:>9.0f} {off['p99_ms']:>7.1f} | {on['rps']:>9.0f} {on['p99_ms']:>7.1f}"
        lines.append(f"{title:34} {row['conns']:>5} | {shown} | {cost:>6.1%}")
    lines.append("req/s of each run, in run order (off | on):")
    for row in rows:
        off_rounds = " / ".join(f"{rps:.0f}" for rps in row["off"]["rounds"])
        on_rounds = " / ".join(f"{rps:.0f}" for rps in row["on"]["rounds"])
        lines.append(f"  {row['workload']:3} {row['conns']:>3} conns: {off_rounds} | {on_rounds}")
    met = all(cost <= METRICS_MAX_COST for cost in costs)
    verdict = "MET" if met else "NOT MET"
    lines.append(f"{verdict:8} metrics on cost at most {METRICS_MAX_COST:.0%} of W2's and W4's req/s (medians of {ROUNDS} rounds)")
    if write_checks:
        lines += ["Write checks:", *[check for check in write_checks if " m-" in check]]
    return "\n".join(lines)


# --- the report ----------------------------------------------------------------------------------


def versions(has_peer: bool) -> list[str]:
    def run(*command: str, cwd: Path = ROOT) -> str:
        try:
            return subprocess.run(command, cwd=cwd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    probe = (
        "import django, rest_framework, gunicorn, sqlite3, sys; "
        "print(sys.version.split()[0], django.__version__, rest_framework.__version__, gunicorn.__version__, sqlite3.sqlite_version)"
    )
    conf = "import runpy; c = runpy.run_path('gunicorn.conf.py'); print(c['workers'], c.get('threads', 1), c.get('worker_class', 'sync'))"
    workers, threads, worker_class = run(str(interpreters()[0].bin / "python"), "-c", conf).split()
    commit = run("git", "rev-parse", "--short", "HEAD")
    dirty = " (+ uncommitted changes)" if run("git", "status", "--porcelain", "--untracked-files=no") != "?" else ""
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; {run('wrk', '-v')[:21]}",
        f"gateway: commit {commit}{dirty}; gunicorn.conf.py: {workers} workers x {threads} threads, {worker_class}",
    ]
    for interpreter in interpreters():
        py, dj, drf, gu, sq = run(str(interpreter.bin / "python"), "-c", probe).split()
        lines.append(f"  {interpreter.label:6} Python {py} ({interpreter.executable}), Django {dj}, DRF {drf}, gunicorn {gu}, SQLite {sq}")
    if has_peer:

        def package_version(name: str) -> str:
            return json.loads((PEER_BUILD / "node_modules" / name / "package.json").read_text())["version"]

        lines.append(
            f"peer: Node {run('node', '--version')}, express {package_version('express')}, "
            f"better-sqlite3 {package_version('better-sqlite3')}, jsonwebtoken {package_version('jsonwebtoken')}"
        )
    lines.append(f"wrk: 1 thread, {os.environ.get('DURATION', '10')} s measured after a {os.environ.get('WARMUP', '2')} s warm-up")
    return lines


# workload -> minimum req/s ratio to the peer, per interpreter label (the image's is held to more
# on writes: issue 19); W1 is held to a share of gunicorn's ceiling instead (CEILING_SHARE).
TARGETS = {"W2": 5.0, "W3": 1.5, "W4": {"image": 1.2, "plain": 1.0}, "W5": 3.0}
CEILING_SHARE = 0.85


def target(workload: str, label: str) -> float | None:
    wanted = TARGETS.get(workload)
    return wanted.get(label, 1.0) if isinstance(wanted, dict) else wanted


def numbers(result: dict | None, width: int = 9) -> str:
    def ms(value: float) -> str:
        return f"{value:>7.1f}" if math.isfinite(value) else f"{'-':>7}"

    if result is None:
        return f"{'':>{width}} {'':>7} {'':>7}"
    if not result["requests"]:
        return f"{0:>{width}} {'-':>7} {'-':>7}"
    return f"{result['rps']:>{width}.0f} {ms(result['p50_ms'])} {ms(result['p99_ms'])}"


def w6_against_w4(rows: list[dict], label: str, conns: int) -> list[tuple[bool, str]]:
    """W6 >= W4's req/s on `label` at `conns`: against the W4 runs beside W6's when it had them
    (the row's "w4:" side), else against the W4 row; the W4 row's figure named beside."""

    def rps(workload: str, side: str) -> float | None:
        found = [row["sides"][side]["rps"] for row in rows if (row["workload"], row["conns"]) == (workload, conns) and side in row["sides"]]
        return found[0] if found else None

    w6, beside, row4 = rps("W6", f"gw:{label}"), rps("W6", f"w4:{label}"), rps("W4", f"gw:{label}")
    w4 = beside if beside is not None else row4
    if w6 is None or w4 is None:
        return []
    against = f"{w6:.0f} vs {w4:.0f}"
    if beside is not None:
        against += " beside it" + (f"; the W4 row: {row4:.0f}" if row4 is not None else "")
    return [(w6 >= w4, f"W6 answers at least W4's req/s at {conns} connections on {label} ({against})")]


def render(rows, worker_rss, write_checks, has_peer, started) -> str:
    labels = [interpreter.label for interpreter in interpreters()]
    header = f"{'workload':34} {'clients':>9} {'conns':>5} |"
    for label in labels:
        header += f" {label + ' req/s':>11} {'p50 ms':>7} {'p99 ms':>7} |"
    if has_peer:
        header += f" {'peer req/s':>10} {'p50 ms':>7} {'p99 ms':>7} |" + "".join(f" {'x ' + label:>8}" for label in labels)
    lines = [f"LTP Labs gateway vs Express peer, {started:%Y-%m-%d %H:%M} UTC", *versions(has_peer), "", header, "-" * len(header)]
    verdicts: list[str] = []
    shares: dict[str, list[float]] = {label: [] for label in labels}
    ratios: dict[tuple[str, str], list[float]] = {}
    p99_misses: list[str] = []

    def line_of(title: str, row: dict, prefix: str) -> str:
        sides = row["sides"]
        line = f"{title:34} {row['clients']:>9,} {row['conns']:>5} |"
        for label in labels:
            line += f" {numbers(sides.get(f'{prefix}:{label}'), 11)} |"
        peer = sides.get("peer")
        if has_peer:
            line += f" {numbers(peer if prefix == 'gw' else None, 10)} |"
            for label in labels:
                mine = sides.get(f"{prefix}:{label}")
                ratio = mine["rps"] / peer["rps"] if mine and peer and peer["rps"] else None
                line += f" {ratio:>8.2f}" if ratio is not None else f" {'n/a':>8}"
                if prefix == "gw" and ratio is not None:
                    ratios.setdefault((row["workload"], label), []).append(ratio)
                if prefix == "gw" and mine and peer and row["conns"] == max(CONNS):
                    # A server that answered nothing in time (wrk's 10 s timeout) has no latency: it loses.
                    if not mine["requests"] or (peer["requests"] and mine["p99_ms"] > peer["p99_ms"]):
                        p99_misses.append(f"{title} ({label}), {row['clients']:,} clients")
        for label in labels:
            mine = sides.get(f"{prefix}:{label}") or {}
            if mine.get("non2xx") or mine.get("sock_read") or mine.get("timeouts"):
                line += f" [{label}: {mine['non2xx']} non-2xx, {mine['sock_read']} read errors, {mine['timeouts']} timeouts]"
        return line

    for row in rows:
        lines.append(line_of(f"{row['workload']} {TITLES[row['workload']]}", row, "gw"))
        if row["workload"] == "W6" and any(side.startswith("w4:") for side in row["sides"]):
            lines.append(line_of("   W4 beside it", {**row, "clients": WRITE_CLIENTS}, "w4"))
        if row["workload"] == "W1":
            lines.append(line_of("   gunicorn's ceiling (constant)", row, "ceiling"))
            for label in labels:
                gw, ceiling = row["sides"].get(f"gw:{label}"), row["sides"].get(f"ceiling:{label}")
                share = share_of_ceiling(gw, ceiling) if gw and ceiling else None
                if share is not None:
                    shares[label].append(share)
    lines += ["", f"Each side ran {ROUNDS} time(s) per row, each side first in turn; the table shows each side's median.",
              "In W1 each gateway ran right before or after its ceiling; its share is the median of those pairs' ratios.",
              f"req/s of each run, in run order ({' | '.join(rows[0]['sides']) if rows else ''}):"]  # fmt: skip
    for row in rows:
        rounds = " | ".join(" / ".join(f"{rps:.0f}" for rps in side["rounds"]) for side in row["sides"].values())
        named = "" if list(row["sides"]) == list(rows[0]["sides"]) else f"   ({' | '.join(row['sides'])})"
        lines.append(f"  {row['workload']:3} {row['clients']:>9,} {row['conns']:>3} conns: {rounds}{named}")
    lines += ["", "W3: the gateway answers GET /api/clients?limit=1000 (its list is paged, 1000 at most; one page holds every",
              "active client of the 1,000-client file), the peer its unpaged GET /api/clients. W2d: the gateway follows a cursor",
              f"to row {DEEP_OFFSET:,}, the peer answers ?limit=100&offset={DEEP_OFFSET}. The ceiling: gunicorn with the same",
              "gunicorn.conf.py and interpreter answering a constant WSGI answer of /health's size (bench/ceiling.py)."]  # fmt: skip

    def verdict(met: bool, text: str) -> str:
        return f"{'MET' if met else 'NOT MET':8} {text}"

    for label in labels:
        if shares[label]:
            shown = ", ".join(f"{share:.2f}" for share in shares[label])
            text = f"W1 >= {CEILING_SHARE} of gunicorn's ceiling on {label} (shares: {shown})"
            verdicts.append(verdict(min(shares[label]) >= CEILING_SHARE, text))
    for workload in TITLES:
        for label in labels:
            found, minimum = ratios.get((workload, label)), target(workload, label)
            if found and minimum is not None:
                shown = ", ".join(f"{ratio:.2f}" for ratio in found)
                verdicts.append(verdict(min(found) >= minimum, f"{workload} >= {minimum}x the peer's req/s on {label} (ratios: {shown})"))
    if has_peer and rows:
        verdicts.append(verdict(not p99_misses, f"p99 at {max(CONNS)} connections no worse than the peer's" +
                                (f": missed by {'; '.join(p99_misses)}" if p99_misses else " on every workload")))  # fmt: skip
    for label in labels:
        p50 = {
            row["clients"]: side["p50_ms"] if side["requests"] else float("inf")
            for row in rows
            if row["workload"] == "W2" and row["conns"] == min(CONNS) and (side := row["sides"].get(f"gw:{label}"))
        }
        if p50 and min(p50) != max(p50):
            small, large = p50[min(p50)], p50[max(p50)]
            verdicts.append(verdict(large <= 1.5 * small, f"W2 p50 at {max(p50):,} clients within 1.5x of p50 at {min(p50):,} on {label} "
                                                          f"({large:.1f} ms vs {small:.1f} ms)"))  # fmt: skip
    if worker_rss:
        text = f"every gunicorn worker under 100 MB RSS after its runs (MB: {rss_note(worker_rss)})"
        verdicts.append(verdict(max(worker_rss) < 100, text))
    for label in labels:
        for conns in CONNS:
            verdicts += [verdict(met, text) for met, text in w6_against_w4(rows, label, conns)]
    if write_checks:
        text = "writes: no lost or duplicated rows, integrity_check ok (below)"
        verdicts.append(verdict(all(check.endswith("OK") for check in write_checks), text))
    lines += ["", "Targets:", *verdicts]
    if write_checks:
        lines += ["", "Write checks:", *write_checks]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
