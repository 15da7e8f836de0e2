"""bench/run.py's files and servers: a data file built from nothing keeps its staff user, no file is
renamed or removed while this process holds a connection to it, and a server whose start fails
leaves no process behind."""

import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import IS_POSTGRES

SPEC = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parent.parent / "bench" / "run.py")
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # its dataclasses look their module up there while it loads
SPEC.loader.exec_module(bench)

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="the bench's files are SQLite files")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The bench's logs, cache and copies in this test's own folder; gunicorn from the project's venv."""
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    venv = bench.Interpreter("venv", sys.executable, sys.version)
    venv.__dict__["bin"] = Path(sys.executable).parent  # its cached bin/: the project's venv, made by nobody here
    monkeypatch.setattr(bench, "interpreters", lambda: (venv,))
    return tmp_path


def held_by_this_process(path: Path) -> bool:
    """Whether one of this process's open file descriptors is `path` (as a connection's would be)."""
    target = os.stat(path)
    for fd in os.listdir("/proc/self/fd"):
        try:
            held = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie that its new parent has yet to reap does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_members(pgid: int) -> list[int]:
    """The running processes of process group `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_a_bench_file_built_from_nothing_keeps_its_staff_user_and_signs_in(workdir):
    data = workdir / "data"
    path = bench.database(200, data)
    assert sorted(p.name for p in data.iterdir()) == ["clients-200.db"]  # no -wal or -shm of the old name
    with bench.Gateway(path) as gateway:
        request = urllib.request.Request(f"{gateway.url}/api/clients?limit=1", headers={"Authorization": f"Bearer {gateway.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert len(json.load(response)["data"]) == 1


def test_no_bench_file_is_renamed_or_removed_while_this_process_holds_a_connection_to_it(workdir, monkeypatch):
    touched = []

    def checked(original):
        def call(self, *args, **kwargs):
            if self.exists():
                assert not held_by_this_process(self), f"{self.name} is still open in this process"
                touched.append(self.name)
            return original(self, *args, **kwargs)

        return call

    monkeypatch.setattr(Path, "rename", checked(Path.rename))
    monkeypatch.setattr(Path, "unlink", checked(Path.unlink))
    data = workdir / "data"
    data.mkdir()
    for leftover in ("clients-200.partial.db", "clients-200.partial.db-wal", "clients-200.partial.db-shm"):
        (data / leftover).write_bytes(b"")  # what an interrupted build leaves
    source = bench.database(200, data)
    assert "clients-200.partial.db" in touched  # the rename was checked
    assert sorted(p.name for p in data.iterdir()) == ["clients-200.db"]
    for _ in range(2):  # the second copy replaces the first, which its write check has read
        copy = bench.fresh_copy(source, "gateway-W4-16.db")
        assert bench.write_check(copy) == {"written": 0, "distinct": 0, "audited": 0, "integrity": "ok"}
    assert touched.count("gateway-W4-16.db") == 1
    assert not held_by_this_process(source) and not held_by_this_process(copy)


def test_a_gateway_whose_sign_in_fails_is_stopped_with_its_workers(workdir):
    path = workdir / "no-staff.db"
    bench.manage(path, "initdb")  # Django's tables, but no bench staff user: the sign-in gets a 401
    gateway = bench.Gateway(path)
    try:
        with pytest.raises(urllib.error.HTTPError, match="401"):
            with gateway:
                pass
        assert gateway.process.poll() is not None
        assert group_members(gateway.process.pid) == []  # gunicorn's workers too
    finally:
        gateway.stop()


def test_a_server_whose_process_exits_during_start_leaves_none_of_its_children(workdir):
    child_pid_file = workdir / "child.pid"

    class Exits(bench.Server):
        name = "exits"

        def launch(self):
            # A master that dies and leaves a worker behind, as a killed gunicorn master would.
            self.spawn(["sh", "-c", f"sleep 600 & echo $! > {child_pid_file}; exit 3"], dict(os.environ))
            bench.wait_for(self.url, self.process, self.log_path)

    server = Exits(workdir / "unused.db")
    try:
        with pytest.raises(RuntimeError, match="exited"):
            server.start()
        child = int(child_pid_file.read_text())
        deadline = time.monotonic() + 30  # SIGKILL is delivered at once; this only waits for the kernel to end it
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if child_pid_file.exists() and alive(child := int(child_pid_file.read_text())):
            os.kill(child, 9)
