"""Faults under a real gunicorn on a real file: killed workers, shutdown under load, a writer
that will not let go, a full disk, a file deleted, replaced or damaged, a read-only volume.
Nothing answered 201 may be lost, nothing may be half-written, and no fault may hang a request."""

import contextlib
import http.client
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures import IS_POSTGRES, Gateway, gateway_env, make_database_file, manage
from tests.reliability import call, clients_without_audit_row, integrity, record, rows, rows_not_as_answered, worker_pids

pytestmark = [pytest.mark.http, pytest.mark.skipif(IS_POSTGRES, reason="faults of the SQLite file")]

HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"


def new_client(tag: str, index) -> dict:
    return {"name": f"Fault {tag} {index}", "email": f"{tag}-{index}@example.com", "password_hash": HASH}


def wait_for(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


class WriteStream:
    """Threads creating clients until told to stop (or a bounded count): what each got back."""

    def __init__(self, gateway: Gateway, token: str, tag: str, threads: int = 4, per_thread: int = 150):
        self.gateway, self.token, self.tag = gateway, token, tag
        self.created: dict[str, int] = {}  # e-mail → clientId, for every 201
        self.outcomes: list = []  # statuses, or "cut" / "refused" when no answer came
        self.stop = threading.Event()
        self.draining = False  # set once gunicorn is told to stop: a connection error then ends a thread
        self.threads = [threading.Thread(target=self._write, args=(n, per_thread)) for n in range(threads)]

    def __enter__(self) -> "WriteStream":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _write(self, n: int, count: int) -> None:
        for index in range(count):
            if self.stop.is_set():
                return
            body = new_client(self.tag, f"{n}-{index}")
            try:
                answer = call(f"{self.gateway.url}/api/clients", "POST", body, self.token, timeout=30)
            except (OSError, http.client.HTTPException) as error:  # HTTPException: a worker killed halfway through an answer
                if self.draining or isinstance(error, ConnectionRefusedError):
                    self.outcomes.append("refused")
                    return
                self.outcomes.append("cut")
                continue
            self.outcomes.append(answer.status)
            if answer.status == 201:
                self.created[body["email"]] = answer.json["clientId"]

    def answered_201_missing(self, path: Path) -> int:
        """201s whose client (with that id) or audit row is not in the file."""
        found = dict(rows(path, "SELECT email, id FROM clients WHERE email LIKE ?", (f"{self.tag}-%",)))
        audited = {row[0] for row in rows(path, "SELECT entity_id FROM audit_log WHERE action = 'client.create'")}
        return sum(1 for email, client_id in self.created.items() if found.get(email) != client_id or client_id not in audited)


def test_sigkill_of_a_worker_mid_stream_loses_no_answered_write_and_the_stream_goes_on(gateway_factory):
    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()
    master = gateway.process.pid
    kills, respawned = 0, 0
    with WriteStream(gateway, token, "sigkill") as stream:
        for _ in range(3):
            target = len(stream.created) + 15
            assert wait_for(lambda target=target: len(stream.created) >= target, 30), stream.outcomes[-10:]
            workers = worker_pids(master)
            victim = max(workers)
            os.kill(victim, signal.SIGKILL)
            kills += 1
            if wait_for(lambda workers=workers, victim=victim: len(worker_pids(master) - workers) == 1, 30):
                respawned += 1
        after_last_kill = len(stream.created)
        assert wait_for(lambda: len(stream.created) >= after_last_kill + 20, 30), "the stream stopped after the workers were killed"
    answered = [o for o in stream.outcomes if o != 201]
    lost = stream.answered_201_missing(gateway.db_path)
    half_written = clients_without_audit_row(gateway.db_path)
    check = integrity(gateway.db_path)
    record("SIGKILL of a gunicorn worker mid-stream of writes (3 kills)", kind="fault", tries=len(stream.outcomes),
           answered=stream.outcomes, rows_lost=lost + half_written, integrity=check)  # fmt: skip
    assert respawned == kills == 3
    # Only the connections the killed worker held went unanswered (at most one per writer thread); never a 5xx.
    assert set(answered) <= {"cut"} and len(answered) <= kills * len(stream.threads), answered
    assert lost == 0 and half_written == 0
    assert check == "ok"


def test_sigterm_under_load_finishes_requests_in_flight_and_checkpoints_the_wal(gateway_factory, tmp_path):
    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()
    with WriteStream(gateway, token, "sigterm", threads=4, per_thread=200) as stream:
        assert wait_for(lambda: len(stream.created) >= 30, 30), stream.outcomes[-10:]
        stream.draining = True
        gateway.process.send_signal(signal.SIGTERM)
        exit_code = gateway.process.wait(30)
        for thread in stream.threads:
            thread.join(30)
    landed = rows(gateway.db_path, "SELECT COUNT(*) FROM clients WHERE email LIKE 'sigterm-%'")[0][0]
    wal = Path(f"{gateway.db_path}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    alone = tmp_path / "file-alone.db"
    alone.write_bytes(gateway.db_path.read_bytes())  # the file without its -wal and -shm
    in_the_file = rows(alone, "SELECT COUNT(*) FROM clients WHERE email LIKE 'sigterm-%'")[0][0]
    check = integrity(gateway.db_path)
    lost = stream.answered_201_missing(gateway.db_path)
    record("SIGTERM to gunicorn under a load of writes", kind="fault", tries=len(stream.outcomes), answered=stream.outcomes,
           rows_lost=lost + clients_without_audit_row(gateway.db_path),
           integrity=f"{check}; WAL {wal_size} bytes after exit; the file alone holds {in_the_file} of {landed} rows")  # fmt: skip
    assert exit_code == 0
    assert set(stream.outcomes) <= {201, "refused"}, sorted(map(str, set(stream.outcomes)))
    assert lost == 0 and clients_without_audit_row(gateway.db_path) == 0
    # Requests in flight finished: every write the workers began was also answered, and the
    # connections refused or reset once they stopped carried no write.
    assert landed == len(stream.created)
    # Checkpointed: the file alone holds every write. The -wal file itself is deleted only by a
    # close that finds itself the last, which two workers stopping together can both miss; what
    # it then holds is already in the file.
    assert in_the_file == landed, f"the WAL was not checkpointed into the file when gunicorn stopped (WAL {wal_size} bytes)"
    assert integrity(alone) == "ok"
    assert check == "ok"


LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE demos SET name = name")
print("held", flush=True)
sys.stdin.readline()  # until the test lets go (or dies: its pipe closes)
db.execute("ROLLBACK")
"""


def test_a_writer_holding_the_lock_past_busy_timeout_gets_503_retry_after_and_the_gateway_recovers_at_once(gateway_factory):
    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(gateway.db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        answers: list = []

        def write(index: int) -> None:
            answers.append(call(f"{gateway.url}/api/clients", "POST", new_client("busy", index), token, timeout=30))

        writers = [threading.Thread(target=write, args=(index,)) for index in range(2)]
        for writer in writers:
            writer.start()
        read = call(f"{gateway.url}/api/clients?status=all", token=token, timeout=30)
        health = call(f"{gateway.url}/health", timeout=30)
        for writer in writers:
            writer.join(30)
        assert holder.poll() is None, "the other process let go too early for this test to mean anything"
    finally:
        holder.communicate("\n", timeout=10)
    after = call(f"{gateway.url}/api/clients", "POST", new_client("busy", "after"), token)
    statuses = [answer.status for answer in answers] + [after.status]
    landed = rows(gateway.db_path, "SELECT email FROM clients WHERE email LIKE 'busy-%'")
    record("another process holding the write lock past busy_timeout", kind="fault", tries=len(statuses) + 2,
           answered=statuses + [read.status, health.status], rows_lost=rows_not_as_answered(gateway.db_path, "busy", [*answers, after]),
           integrity=integrity(gateway.db_path))  # fmt: skip
    for answer in answers:
        assert answer.status == 503, answer
        assert answer.headers["Retry-After"] == "1"
        assert answer.json == {"success": False, "error": "The database is busy; try again shortly."}
    assert read.status == 200 and health.status == 200  # readers are not blocked by a writer under WAL
    assert after.status == 201, after
    assert landed == [("busy-after@example.com",)]  # the refused writes left nothing behind
    assert clients_without_audit_row(gateway.db_path) == 0


# --- a volume of our own: a small tmpfs, so that "full" and "read-only" are the real thing ---


@pytest.fixture
def volume(tmp_path):
    """A 3 MB tmpfs (root only): fill it up, remount it read-only."""
    path = tmp_path / "volume"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def read_only_view(volume, tmp_path):
    """The same volume mounted a second time, read-only, as a consumer's pod would have it."""
    path = tmp_path / "read-only"
    path.mkdir()
    subprocess.run(["mount", "--bind", str(volume), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def dbcheck_saw(check: subprocess.CompletedProcess, words: str) -> str:
    """The report's integrity cell for a file dbcheck refused: its exit status, and the words it was expected to say if it said them."""
    return f"dbcheck exit {check.returncode}: {words}" if words in check.stderr else f"dbcheck exit {check.returncode}"


def staff_token_for(db_path: Path, username: str = "fault-staff") -> str:
    """A staff access token made beside the gateway, whose file may refuse the sign-in's write."""
    from rest_framework_simplejwt.tokens import AccessToken

    manage({**gateway_env(db_path), "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", username, "--password", "fault-staff-pass-1")
    token = AccessToken()
    token["auth_time"] = time.time()  # signed in now: after create_dev_staff's password, which ends older sign-ins
    token["user_id"] = rows(db_path, "SELECT id FROM auth_user WHERE username = ?", (username,))[0][0]
    return str(token)


@contextlib.contextmanager
def serving(db_path: Path, log_dir: Path, workers: int = 2, **env):
    """gunicorn on a file whose folder may fill up or turn read-only: its log lives elsewhere."""
    gateway = Gateway(db_path, workers=workers, **env)
    gateway.log_path = log_dir / f"{db_path.name}.{gateway.port}.gunicorn.log"
    try:
        yield gateway.start()
    finally:
        gateway.stop()


def fill(folder: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_answers_503_keeps_reads_writes_nothing_half_and_recovers(volume, tmp_path):
    db_path = make_database_file(volume, clients=5)
    with serving(db_path, tmp_path) as gateway:
        token = gateway.staff_token()
        assert call(f"{gateway.url}/api/clients", "POST", new_client("full", "before"), token).status == 201
        filler = fill(volume)
        answers = []
        for index in range(60):
            answers.append(call(f"{gateway.url}/api/clients", "POST", new_client("full", index), token, timeout=30))
            if answers[-1].status == 503:
                break
        reads = [call(f"{gateway.url}/api/clients?limit=5", token=token, timeout=30) for _ in range(4)]
        health = call(f"{gateway.url}/health", timeout=30)
        filler.unlink()
        after = call(f"{gateway.url}/api/clients", "POST", new_client("full", "after"), token, timeout=30)
        created = {answer.json["data"]["email"]: answer.json["clientId"] for answer in [*answers, after] if answer.status == 201}
    landed = dict(rows(db_path, "SELECT email, id FROM clients WHERE email LIKE 'full-%'"))
    lost = sum(1 for email, client_id in created.items() if landed.get(email) != client_id)
    unanswered = set(landed) - set(created) - {"full-before@example.com"}
    check = integrity(db_path)
    statuses = [answer.status for answer in answers] + [read.status for read in reads] + [health.status, after.status]
    record("disk full (a 3 MB tmpfs filled up), then space freed", kind="fault", tries=len(statuses), answered=statuses,
           rows_lost=lost + clients_without_audit_row(db_path) + len(unanswered), integrity=check)  # fmt: skip
    full = answers[-1]
    assert full.status == 503, answers
    assert full.json == {"success": False, "error": "The database is full; writes are refused until space is freed."}
    assert full.headers["Retry-After"]
    assert all(answer.status in (201, 503) for answer in answers), answers
    assert [read.status for read in reads] == [200] * 4 and health.status == 200
    assert after.status == 201, after
    assert lost == 0 and not unanswered and clients_without_audit_row(db_path) == 0
    assert check == "ok"


def test_a_read_only_volume_refuses_writes_clearly_and_keeps_reads(volume, read_only_view, tmp_path):
    db_path = make_database_file(volume, clients=5)
    token = staff_token_for(db_path)
    with sqlite3.connect(db_path) as writer:  # demo-service has the file open: its -wal/-shm stay
        writer.execute("SELECT COUNT(*) FROM clients").fetchone()
        seen = read_only_view / db_path.name
        with serving(seen, tmp_path, workers=1) as gateway:  # configured as a writer, on a read-only volume
            writes = [call(f"{gateway.url}/api/clients", "POST", new_client("rovol", index), token, timeout=30) for index in range(3)]
            reads = [call(f"{gateway.url}{path}", token=token, timeout=30) for path in ("/api/clients", "/health")]
        with serving(seen, tmp_path, workers=1, DATABASE_READ_ONLY="1") as consumer:
            consumer_reads = [call(f"{consumer.url}{path}", token=token, timeout=30) for path in ("/api/clients", "/health/ready")]
            consumer_write = call(f"{consumer.url}/api/clients", "POST", new_client("rovol", "consumer"), token, timeout=30)
            sign_in = call(f"{consumer.url}/api/auth/token", "POST", {"username": "fault-staff", "password": "fault-staff-pass-1"})
    answers = [*writes, *reads, *consumer_reads, consumer_write, sign_in]
    statuses = [answer.status for answer in answers]
    landed = rows(db_path, "SELECT COUNT(*) FROM clients WHERE email LIKE 'rovol-%'")[0][0]
    record("read-only volume: a writer's gateway, then a DATABASE_READ_ONLY=1 consumer", kind="fault", tries=len(statuses),
           answered=statuses, rows_lost=rows_not_as_answered(db_path, "rovol", [*writes, consumer_write]),
           integrity=integrity(db_path))  # fmt: skip
    for write in writes:
        assert write.status == 503, write
        assert write.json == {"success": False, "error": "The database is read-only; writes are refused."}
    assert [answer.status for answer in [*reads, *consumer_reads]] == [200] * 4
    assert consumer_write.status == 503
    assert consumer_write.json["error"] == "The gateway is read-only: writes are disabled (DATABASE_READ_ONLY=1)."
    assert sign_in.status == 200 and sign_in.json["access"]
    assert landed == 0


def test_a_read_only_consumer_without_wal_and_shm_fails_clearly_and_creates_nothing(volume, read_only_view, tmp_path):
    db_path = make_database_file(volume, clients=5)
    token = staff_token_for(db_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    before = sorted(os.listdir(volume))
    seen = read_only_view / db_path.name
    check = manage(gateway_env(seen, DATABASE_READ_ONLY="1"), "dbcheck", check=False)
    with serving(seen, tmp_path, workers=1, DATABASE_READ_ONLY="1") as gateway:
        health = [call(f"{gateway.url}{path}", timeout=10) for path in ("/health", "/health/ready", "/health/live")]
        login = call(f"{gateway.url}/api/auth/token", "POST", {"username": "nobody", "password": "x"}, timeout=10)
        write = call(f"{gateway.url}/api/clients", "POST", new_client("nowal", 0), token, timeout=10)
    after = sorted(os.listdir(volume))
    record("read-only consumer: -wal/-shm missing on a read-only volume", kind="fault", tries=6,
           answered=["dbcheck exit 1", *(answer.status for answer in [*health, login, write])],
           rows_lost=rows_not_as_answered(db_path, "nowal", [write]),
           integrity=dbcheck_saw(check, "its -wal/-shm files are missing"))  # fmt: skip
    assert check.returncode != 0
    assert "its -wal/-shm files are missing" in check.stderr, check.stderr
    assert [answer.status for answer in health] == [503, 503, 200]
    assert health[0].json["database"] == "disconnected"
    assert login.status == 503 and login.json["error"] == "The database is unavailable."
    assert write.status == 503 and write.json["error"] == "The database is unavailable."
    assert after == before  # nothing created beside the file


def test_a_file_deleted_while_serving_gives_503_everywhere_and_is_never_recreated(gateway_factory):
    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()
    assert call(f"{gateway.url}/api/clients", "POST", new_client("deleted", "before"), token).status == 201
    db_path = gateway.db_path
    db_path.unlink()
    answers = []
    for index in range(4):  # enough to reach both workers
        answers.append(call(f"{gateway.url}/api/clients", "POST", new_client("deleted", index), token, timeout=10))
        answers.append(call(f"{gateway.url}/api/clients", token=token, timeout=10))
        answers.append(call(f"{gateway.url}/health", timeout=10))
    # With the file gone, every write answered 201 would have gone to no file at the path: lost.
    lost = sum(1 for answer in answers[0::3] if answer.status == 201)
    record("database file deleted while serving", kind="fault", tries=len(answers), answered=[answer.status for answer in answers],
           rows_lost=lost, integrity="a file was created at the path" if db_path.exists() else "file gone; nothing created")  # fmt: skip
    assert all(answer.status == 503 for answer in answers), answers
    assert {answer.json.get("database") for answer in answers[2::3]} == {"disconnected"}
    assert {answer.error for answer in answers if "success" in answer.json} == {"The database is unavailable."}
    assert not db_path.exists()
    assert "does not exist" in gateway.log_path.read_text()


def test_a_file_replaced_while_serving_is_followed_and_no_write_goes_to_the_old_one(gateway_factory, tmp_path):
    gateway = gateway_factory(workers=2)
    token = gateway.staff_token()
    db_path = gateway.db_path
    backup = tmp_path / "restore.db"
    with sqlite3.connect(db_path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    assert call(f"{gateway.url}/api/clients", "POST", new_client("replaced", "old"), token).status == 201
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(backup, db_path)  # an operator restoring yesterday's copy
    created = []
    for index in range(4):
        answer = call(f"{gateway.url}/api/clients", "POST", new_client("replaced", index), token, timeout=10)
        created.append(answer)
    listed = call(f"{gateway.url}/api/clients?status=all&search=replaced", token=token, timeout=10)
    landed = {row[0] for row in rows(db_path, "SELECT email FROM clients WHERE email LIKE 'replaced-%'")}
    wanted = {f"replaced-{index}@example.com" for index in range(4)}
    statuses = [answer.status for answer in [*created, listed]]
    record("database file replaced while serving (a restore)", kind="fault", tries=len(statuses), answered=statuses,
           rows_lost=rows_not_as_answered(db_path, "replaced", created), integrity=integrity(db_path))  # fmt: skip
    assert [answer.status for answer in created] == [201] * 4, created
    assert landed == wanted  # every 201 is in the file at the path, none went to the replaced inode
    assert {row["email"] for row in listed.json["data"]} == wanted  # the old file's client is not served any more
    assert integrity(db_path) == "ok"


def test_a_file_made_unreadable_while_serving_gives_503_and_recovers_when_readable_again(gateway_factory, tmp_path):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv, to serve as a root that cannot override file modes")
    db_path = make_database_file(tmp_path, clients=3)
    token = staff_token_for(db_path)
    gateway = Gateway(db_path, workers=2)
    # Root reads any file; without CAP_DAC_OVERRIDE it honours the mode like the pod's user does.
    no_override = "-dac_override,-dac_read_search"
    gateway.command_prefix = ["setpriv", f"--inh-caps={no_override}", f"--bounding-set={no_override}"]
    try:
        gateway.start()
        assert call(f"{gateway.url}/api/clients", token=token).status == 200
        db_path.chmod(0)
        refused = []
        for _ in range(3):  # enough to reach both workers
            refused += [call(f"{gateway.url}{path}", token=token, timeout=10) for path in ("/api/clients", "/health")]
            refused.append(call(f"{gateway.url}/api/clients", "POST", new_client("unreadable", len(refused)), token, timeout=10))
        db_path.chmod(0o644)
        after = [call(f"{gateway.url}/health", timeout=10)]
        after.append(call(f"{gateway.url}/api/clients", "POST", new_client("unreadable", "after"), token, timeout=10))
    finally:
        db_path.chmod(0o644)
        gateway.stop()
    landed = rows(db_path, "SELECT email FROM clients WHERE email LIKE 'unreadable-%'")
    statuses = [answer.status for answer in [*refused, *after]]
    lost = rows_not_as_answered(db_path, "unreadable", [*refused[2::3], after[1]])  # the writes among the requests
    record("database file made unreadable (chmod 000) while serving, then readable again", kind="fault", tries=len(statuses),
           answered=statuses, rows_lost=lost, integrity=integrity(db_path))  # fmt: skip
    assert all(answer.status == 503 for answer in refused), refused
    assert {answer.error for answer in refused if answer.error} == {"The database is unavailable."}
    assert {answer.json.get("database") for answer in refused if not answer.error} == {"disconnected"}
    assert [answer.status for answer in after] == [200, 201]
    assert landed == [("unreadable-after@example.com",)]
    assert "cannot be read" in gateway.log_path.read_text()


def damage(path: Path, page: int, page_size: int = 4096) -> None:
    with open(path, "r+b") as out:
        out.seek(page_size * (page - 1) + 8)
        out.write(b"\xa5" * 600)


def test_a_corrupted_file_is_reported_by_dbcheck_and_the_probes_and_answers_503(tmp_path):
    db_path = make_database_file(tmp_path, clients=300)
    root_page = rows(db_path, "SELECT rootpage FROM sqlite_master WHERE name = 'clients'")[0][0]
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    env = gateway_env(db_path)
    assert manage(env, "dbcheck", check=False).returncode == 0
    damage(db_path, root_page)
    check = manage(env, "dbcheck", check=False)
    gateway = Gateway(db_path, workers=1).start()
    try:
        ready = call(f"{gateway.url}/health/ready", timeout=10)
        token = gateway.staff_token()
        listed = call(f"{gateway.url}/api/clients?status=all", token=token, timeout=10)
    finally:
        gateway.stop()
    record("database file corrupted (a b-tree page overwritten)", kind="fault", tries=3,
           answered=[check.returncode and "dbcheck exit 1", ready.status, listed.status],
           rows_lost="n/a: no write is tried on a damaged file, and its rows cannot all be read back",
           integrity=dbcheck_saw(check, "problem: integrity_check"))  # fmt: skip
    assert check.returncode != 0 and "problem: integrity_check" in check.stderr, check.stdout + check.stderr
    assert "Traceback" not in check.stderr, check.stderr
    assert listed.status == 503, listed
    assert listed.json["error"] == "The database file is damaged; the operators have to restore it."
    assert ready.status == 503 and ready.json["status"] == "unhealthy", ready


def test_a_file_that_is_not_a_database_is_reported_by_dbcheck_and_the_probes(tmp_path):
    db_path = make_database_file(tmp_path)
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db_path, "r+b") as out:
        out.write(b"this is no longer an SQLite database file." * 30)
    check = manage(gateway_env(db_path), "dbcheck", check=False)
    gateway = Gateway(db_path, workers=1).start()
    try:
        probes = [call(f"{gateway.url}{path}", timeout=10) for path in ("/health", "/health/ready")]
    finally:
        gateway.stop()
    record("database file overwritten with garbage (header gone)", kind="fault", tries=3,
           answered=[check.returncode and "dbcheck exit 1", *(probe.status for probe in probes)],
           rows_lost="n/a: no write is tried, and a file that is not a database has no rows to count",
           integrity=dbcheck_saw(check, "not a database"))  # fmt: skip
    assert check.returncode != 0 and "not a database" in check.stderr, check.stderr
    assert [probe.status for probe in probes] == [503, 503]


def test_every_figure_of_the_fault_report_is_counted_by_its_test():
    """docs/reliability.md shows what record() was given: a rows_lost written as a number would be a
    figure nothing measured (an expression, or "n/a: why", is what the tests pass)."""
    import ast

    constants = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record":
                for keyword in node.keywords:
                    if keyword.arg == "rows_lost" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, int):
                        constants.append(f"{path.name}:{node.lineno}")
    assert constants == []
