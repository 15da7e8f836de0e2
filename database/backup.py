import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import Style
from django.db import connection
from tqdm import tqdm


def backup(dest: str, *, pages: int, overwrite: bool, stdout: OutputWrapper, style: Style) -> None:
    """`manage.py backup`: copy ltplabs.db to DEST with SQLite's online backup, check the copy, then
    rename it into place."""
    if connection.vendor != "sqlite":
        raise CommandError(
            f"backup copies a SQLite file; this gateway runs on {connection.vendor}: use that server's own tools, "
            'e.g. `pg_dump --format=custom --file ltplabs.dump "$DATABASE_URL"`.'
        )
    source_path = Path(settings.DATABASES["default"]["NAME"])
    if not source_path.is_file():
        raise CommandError(f"{source_path} does not exist: nothing to back up.")
    target_path = Path(dest)
    if target_path.is_dir():
        target_path = target_path / f"ltplabs-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"
    if target_path.exists() and not overwrite:
        raise CommandError(f"{target_path} already exists (--overwrite replaces it).")
    if target_path.resolve() == source_path.resolve():
        raise CommandError("DEST is the database itself.")
    # The copy is written beside DEST and renamed only once checked: DEST is never half a database.
    partial = target_path.with_name(target_path.name + ".partial")
    started = time.monotonic()
    try:
        copied_pages = _copy(source_path, partial, pages)
        _check(partial)
        os.replace(partial, target_path)
    except (sqlite3.Error, OSError) as exc:
        raise CommandError(f"backup of {source_path} to {target_path} failed: {exc}") from exc
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
    size_mb = target_path.stat().st_size / 1e6
    seconds = time.monotonic() - started
    stdout.write(f"Copied {copied_pages} pages ({size_mb:.1f} MB) of {source_path} to {target_path} in {seconds:.1f} s.")
    stdout.write(style.SUCCESS("integrity_check: ok"))


def _copy(source_path: Path, partial: Path, pages: int) -> int:
    partial.unlink(missing_ok=True)
    # mode=ro: the backup never writes to the live file, and works on a read-only mount.
    source = sqlite3.connect(f"file:{quote(str(source_path))}?mode=ro", uri=True, timeout=30, isolation_level=None)
    target = sqlite3.connect(partial, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        # One read transaction for the whole copy: in WAL mode it pins a snapshot without
        # blocking the gateway's writers, and a write between two steps no longer makes the
        # backup start over (which, step by step under steady writes, it might never finish).
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        with tqdm(unit="page", desc="backup", disable=None) as bar:

            def progress(status, remaining, total):
                bar.total = total
                bar.update(total - remaining - bar.n)

            source.backup(target, pages=pages, progress=progress, sleep=0)
        source.execute("COMMIT")
        # The copy keeps the source's WAL flag; a rollback journal makes it one self-contained
        # file that opens even from read-only storage. The gateway turns WAL back on when it opens it.
        target.execute("PRAGMA journal_mode = DELETE")
        return target.execute("PRAGMA page_count").fetchone()[0]
    finally:
        source.close()
        target.close()


def _check(partial: Path) -> None:
    copy = sqlite3.connect(f"file:{quote(str(partial))}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    finally:
        copy.close()
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("integrity_check of the copy: " + "; ".join(problems[:10]))
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
