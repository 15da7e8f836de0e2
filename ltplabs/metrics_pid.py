"""prometheus-client's multiprocess values, told the process id without a system call each time.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR: gunicorn's workers) every inc() and observe()
first asks os.getpid(), to notice a fork and move to the new process's own files. That is a
system call: a request's counter, histogram buckets and sums made it a dozen, 3 % of POST
/api/clients. The id here is read once and again in every child a fork makes
(os.register_at_fork), so each process still writes only its own files (ltplabs/tests/test_metrics.py).
"""

import os

from prometheus_client import values

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


def process_id() -> int:
    return _pid


os.register_at_fork(after_in_child=_forked)


def install() -> None:
    """Make the metrics created from now on use it (before ltplabs.metrics creates them)."""
    if values.ValueClass is not values.MutexValue:  # multiprocess mode, which prometheus-client chose at import
        values.ValueClass = values.MultiProcessValue(process_id)
