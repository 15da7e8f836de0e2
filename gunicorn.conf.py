"""gunicorn settings for the gateway, from the environment.

PORT (3000), WEB_CONCURRENCY (workers, 2), GUNICORN_THREADS (1), GUNICORN_WORKER_CLASS (sync), GUNICORN_TIMEOUT (30 s),
GUNICORN_GRACEFUL_TIMEOUT (20 s), GUNICORN_KEEPALIVE (5 s), GUNICORN_MAX_REQUESTS (0: off),
GUNICORN_ACCESS_LOG (0). Logs are JSON lines on stdout, like Django's.
"""

import os
import shutil
import sys

from gunicorn.glogging import Logger

from ltplabs.http.quick_close import close_when_drained

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
# Chosen by measurement (bench/, `make bench`): one process per core, and sync workers. A gthread
# worker keeps connections alive, but its main thread accepts new connections while its request
# thread is busy, so a few keep-alive clients (wrk's 16 connections, an ingress's upstream pool)
# can all land on one worker and leave the other idle: half the throughput, in one run out of two
# (bench/README.md). A sync worker accepts only when it is free, so the kernel's queue balances
# the load; it closes each connection after its answer, which costs nothing measurable here
# (W1 at 0.95x the peer either way). It expects a buffering proxy in front (the ingress) for slow
# clients. More threads per worker only queue on the GIL: on two cores they raised p99 at 64
# connections without adding req/s.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (kubelet, podman stop) the master stops accepting and gives the workers this long to
# finish the requests in flight; keep it below the pod's terminationGracePeriodSeconds (30).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# A container's /tmp is an emptyDir or tmpfs; /dev/shm keeps the heartbeat files off the volume.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The runtime control socket would live under $HOME, which the image mounts read-only; nothing uses it.
control_socket_disable = True

# The gateway writes its own access line (ltplabs.http.access_log.RequestLogMiddleware: request id, user,
# duration). gunicorn's, with GUNICORN_ACCESS_LOG=1, is for when that one is turned off.
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") == "1" else None
access_log_format = (
    '{"time": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "request_id": "%({x-request-id}o)s", '
    '"method": "%(m)s", "path": "%(U)s", "status": %(s)s, "duration_ms": %(M)s, "bytes": "%(B)s"}'
)


class GatewayLogger(Logger):
    """gunicorn's logger, whose access line stays off unless GUNICORN_ACCESS_LOG=1.

    gunicorn writes an access line whenever logconfig_dict is set, whatever accesslog says; one
    line per request is enough, and building a second one costs every request.
    """

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = GatewayLogger
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ltplabs.logging.JSONFormatter"}, "raw": {"format": "%(message)s"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"},
        "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "raw"},
    },
    # gunicorn merges this over its defaults one key deep: the root logger must name our handler.
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def on_starting(server):
    """Refuse to start, in one log line, on settings that cannot serve: a missing, short or example
    key (ltplabs/env.py, settings.JWT_KEYS_MISSING), or static files that were never collected
    (every admin page would be a 500 behind a green /health)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ltplabs.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        prepare_metrics_dir(server)
        from django.conf import settings

        from ltplabs.staticfiles import static_files_problem

        problem = settings.JWT_KEYS_MISSING or static_files_problem()
    except ImproperlyConfigured as exc:
        problem = str(exc)
    if problem:
        server.log.error("%s", problem)
        sys.exit(1)


def prepare_metrics_dir(server):
    """With METRICS_TOKEN set, an empty folder for the workers' metrics files, exported to them as
    PROMETHEUS_MULTIPROC_DIR (settings.METRICS_DIR: the variable itself, else a per-installation
    tmp folder). Emptied here, once per start: files of a previous run would be counted again.
    It must be set before any worker imports prometheus_client, which picks its mode on import."""
    from django.conf import settings

    if not settings.METRICS_TOKEN:
        return
    folder = settings.METRICS_DIR
    if folder.is_dir():
        for entry in folder.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    server.log.info("metrics files in %s", folder)


def child_exit(server, worker):
    """A worker is gone (exited, killed, timed out): its counters stay in its files, its live gauges go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# Every Django database connection this worker opened, whichever thread opened it (id -> wrapper).
# Django keeps one per thread (CONN_MAX_AGE=None) and connections.close_all() reaches only the
# calling thread's; a gthread worker's pool threads hold the others.
opened_connections = {}


def remember_connection(sender, connection, **kwargs):
    opened_connections[id(connection)] = connection


def post_fork(server, worker):
    from django.db.backends.signals import connection_created

    connection_created.connect(remember_connection, weak=False, dispatch_uid="gunicorn_remember_connection")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from ltplabs import metrics

        metrics.WORKERS.set(1)


def worker_exit(server, worker):
    """Close every database connection the worker opened, once its requests are done: the last
    SQLite connection then checkpoints the WAL, and PostgreSQL sees a proper goodbye. Never raises."""
    closed = 0
    for wrapper in list(opened_connections.values()):
        try:
            if wrapper.connection is None:
                continue
            wrapper.inc_thread_sharing()  # opened by another thread
            wrapper.close()
            closed += 1
        except Exception as exc:  # one broken connection must not keep the others open
            server.log.warning("could not close a database connection: %s", exc)
    server.log.info("worker %s closed %s database connection(s)", worker.pid, closed)


def post_request(worker, req, environ, resp):
    """The answer is written: a sync worker closes the connection at once when nothing is left
    unread, instead of waiting for the client's FIN (ltplabs/http/quick_close.py)."""
    close_when_drained(worker, req, resp)
