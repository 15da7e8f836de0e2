import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import AccessToken

from ltplabs.schema import create_sqlite_database

ROOT = Path(__file__).resolve().parent.parent
IS_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture(autouse=True)
def own_cache(settings, tmp_path_factory):
    """Each test counts throttles and django-axes failures in a cache folder of its own, so no
    outcome depends on which tests ran before it, or how many in the last minute."""
    from axes.handlers.proxy import AxesProxyHandler

    location = tmp_path_factory.mktemp("cache")
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": str(location)}}
    AxesProxyHandler.implementation = None  # it holds the cache it was made with
    yield location
    AxesProxyHandler.implementation = None


@pytest.fixture
def throttle_rates(monkeypatch):
    """throttle_rates(staff_login="10/min"): the limits a throttle test relies on, set by the test
    (DRF reads DEFAULT_THROTTLE_RATES once, at import, so override_settings would not reach it)."""

    def set_rates(**rates: str) -> None:
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates})

    return set_rates


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, tmp_path_factory):
    """The session's database: a new file from database/schema.sql (or a fresh PostgreSQL
    database), then Django's own tables, as `initdb` makes them."""
    with django_db_blocker.unblock():
        if IS_POSTGRES:
            from tests.postgres import create_test_database

            create_test_database()
        else:
            path = tmp_path_factory.mktemp("db") / "ltplabs.db"
            create_sqlite_database(path)
            for alias in connections:
                connections[alias].close()
            settings.DATABASES["default"]["NAME"] = str(path)
            connections["default"].settings_dict["NAME"] = str(path)
        call_command("migrate", interactive=False, verbosity=0)
        from clients.sample import load_sample

        load_sample(0)  # the six demos, no clients


def make_staff(username: str, perms: list[str] | None = None, **extra):
    """A staff user holding the named permissions ("clients.view_client", …)."""
    user = get_user_model().objects.create_user(username=username, password="staff-pass-123", is_staff=True, **extra)
    for codename in perms or []:
        app_label, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return get_user_model().objects.get(pk=user.pk)


ALL_CLIENT_PERMS = [
    f"clients.{verb}_{model}" for model in ("client", "demo", "clientdemoaccess") for verb in ("view", "add", "change", "delete")
] + ["clients.view_auditlog", "clients.view_activeclient", "clients.view_demousage"]


@pytest.fixture
def staff_user(db):
    return make_staff("staff", ALL_CLIENT_PERMS)


@pytest.fixture
def viewer_user(db):
    return make_staff("viewer", [p for p in ALL_CLIENT_PERMS if ".view_" in p])


def bearer(user) -> str:
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.fixture
def api(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(staff_user))
    return client


@pytest.fixture
def viewer_api(viewer_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(viewer_user))
    return client


@pytest.fixture
def anon_api():
    return APIClient()


# --- a real gunicorn on a real file ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The admin's static files, collected once per run of the suite into a folder of its own: never
# the checkout's staticfiles/, which a second run beside this one (make test runs the PostgreSQL
# suite beside the SQLite one) would be rewriting meanwhile.
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="ltplabs-test-static-"))
atexit.register(shutil.rmtree, STATIC_ROOT, True)


def gateway_env(db_path: Path, **extra) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_SETTINGS")}
    env.update(
        DJANGO_SETTINGS_MODULE="ltplabs.settings",
        DJANGO_STATIC_ROOT=str(STATIC_ROOT),
        DJANGO_DEBUG="0",
        DJANGO_TLS="0",
        DJANGO_SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
        JWT_SECRET=os.environ["JWT_SECRET"],
        BCRYPT_ROUNDS="10",
        DATABASE_PATH=str(db_path),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_URL", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=check)


_static_collected = False


def collect_static(env: dict[str, str]) -> None:
    """gunicorn runs with DJANGO_DEBUG=0: whitenoise serves the admin's files from STATIC_ROOT."""
    global _static_collected
    if not _static_collected:
        manage(env, "collectstatic", "--noinput", "-v", "0")
        _static_collected = True


class Gateway:
    """gunicorn serving the gateway on a database file of its own, with a cache folder of its own
    (throttle and django-axes counters: no gateway sees another's sign-ins)."""

    def __init__(self, db_path: Path, workers: int = 2, threads: int = 1, **env):
        self.db_path = db_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Not beside the file: its folder may be full or read-only in a fault test.
        self.cache_dir = Path(tempfile.mkdtemp(prefix=f"ltplabs-test-gateway-{self.port}-"))
        self.env = gateway_env(db_path, **{"DJANGO_CACHE_DIR": self.cache_dir, **env})
        self.workers, self.threads = workers, threads
        self.process: subprocess.Popen | None = None
        self.log_path = db_path.with_suffix(".gunicorn.log")
        self.command_prefix: list[str] = []  # e.g. setpriv, to serve without some of root's powers

    def start(self, timeout: float = 20.0) -> "Gateway":
        """Start gunicorn and wait for /health/live; a start that fails stops what it started."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "Gateway":
        import urllib.request

        collect_static(self.env)

        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "gunicorn", "ltplabs.wsgi", "-b", f"127.0.0.1:{self.port}",
             "-w", str(self.workers), "--threads", str(self.threads), "--graceful-timeout", "10", "--timeout", "30"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/live", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def staff_token(self, username: str = "http-staff", password: str = "http-staff-pass-123") -> str:
        import json
        import urllib.request

        manage({**self.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", username, "--password", password)
        request = urllib.request.Request(
            f"{self.url}/api/auth/token", data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access"]


def make_database_file(directory: Path, clients: int = 0, name: str = "ltplabs.db") -> Path:
    """A new ltplabs.db with `clients` sample clients and Django's tables, made by `initdb`."""
    path = directory / name
    env = gateway_env(path)
    manage(env, "initdb", "--sample", str(clients))
    return path


@pytest.fixture
def gateway_factory(tmp_path):
    """Start gunicorn on a new database file: gateway_factory(clients=100, workers=2)."""
    if IS_POSTGRES:
        pytest.skip("the HTTP-level tests run gunicorn on SQLite; see database/tests/test_postgres.py for PostgreSQL")
    started = []

    def start(clients: int = 0, workers: int = 2, threads: int = 1, db_path: Path | None = None, **env) -> Gateway:
        path = db_path or make_database_file(tmp_path, clients, name=f"ltplabs-{len(started)}.db")
        gateway = Gateway(path, workers=workers, threads=threads, **env).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def sample_db_file(tmp_path):
    """200 sample clients in a file made by ../shared/ltplabs-db/make_sample_db.py when it is
    there (the database component's own generator), else by `initdb --sample`."""
    shared = ROOT.parent / "shared" / "ltplabs-db" / "make_sample_db.py"
    if not shared.exists():
        return make_database_file(tmp_path, 200, name="shared-sample.db")
    path = tmp_path / "shared-sample.db"
    subprocess.run([sys.executable, str(shared), str(path), "--clients", "200"], check=True, capture_output=True)
    return path


class RedisServer:
    """Debian's redis-server on a free port in a temp folder of its own (never a system service)."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"ltplabs-test-redis-{self.port}-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> "RedisServer":
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.skip("redis-server is not installed (.ci/run installs it: apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer in {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server():
    """A redis-server of this test's own: redis_server.url is its CACHE_URL."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def plain_static_files(settings):
    """In-process admin pages: the suite runs with DEBUG off and no collectstatic, and the manifest
    storage would refuse {% static %}; the plain storage needs no manifest."""
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
