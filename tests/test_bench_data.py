"""bench/run.py's files: a data file built from nothing keeps its staff user, and no file is renamed
or removed while this process holds a connection to it."""

import importlib.util
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures import IS_POSTGRES

SPEC = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parent.parent / "bench" / "run.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="the bench's files are SQLite files")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The bench's logs, cache and copies in this test's own folder; gunicorn from the project's venv."""
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    monkeypatch.setattr(bench, "gateway_bin", lambda: Path(sys.executable).parent)
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
