"""What the in-process benchmarks (admin_pages.py, audit_pages.py) share: the gateway's settings on a bench file."""

import os
import secrets
from pathlib import Path


def use_bench_settings(db: Path) -> None:
    """The gateway as deployed (debug off, plain HTTP), with bench-only keys and quiet logs, on `db`."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="ltplabs.settings",
        DJANGO_DEBUG="0",
        DJANGO_TLS="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SECRET=secrets.token_urlsafe(40),
        DATABASE_PATH=str(db),
        DJANGO_LOG_LEVEL="WARNING",
        DJANGO_ACCESS_LOG="0",
        AXES_VERBOSE="0",
    )
