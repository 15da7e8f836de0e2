"""Clients brought in from a CSV or XLSX file: every row through services.client_create (with its
audit rows), all rows or none. A dry run goes through the same calls and rolls them back, so what
it reports (created, or the errors by field) is what the import would do.

Our own small module rather than django-import-export (not installed): its resources write model
instances themselves, and here every write must be client_create's, in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ltplabs.exceptions import Conflict

from . import rules, services
from .audit import Actor

COLUMNS = ("name", "email", "company", "phone", "access_days", "demos", "password", "password_hash")
REQUIRED = ("name", "email")
ROWS_MAX = 50_000
DEMO_SEPARATORS = re.compile(r"[\s,;|]+")


class ImportFileError(ValueError):
    """The file as a whole cannot be read: not CSV or XLSX, no header, unknown or missing columns."""


@dataclass
class RowOutcome:
    line: int  # the row's line in the file (the header is line 1)
    email: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    client_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportResult:
    rows: list[RowOutcome]
    dry_run: bool

    @property
    def failed(self) -> list[RowOutcome]:
        return [row for row in self.rows if not row.ok]

    @property
    def written(self) -> bool:
        return not self.dry_run and not self.failed


def read_rows(content: bytes, filename: str) -> list[dict[str, str]]:
    """The file's rows as {column: text}, the header's names in lower case."""
    if filename.lower().endswith(".xlsx"):
        table = _xlsx_rows(content)
    elif filename.lower().endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFileError(_("The CSV file is not UTF-8 text.")) from None
        table = list(csv.reader(io.StringIO(text)))
    else:
        raise ImportFileError(_("Give a .csv or an .xlsx file."))
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise ImportFileError(_("The file has no header row."))
    header = [cell.strip().lower() for cell in table[0]]
    unknown = [name for name in header if name and name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing:
        parts = [
            _("unknown column(s): %(names)s") % {"names": ", ".join(unknown)} if unknown else "",
            _("missing: %(names)s") % {"names": ", ".join(missing)} if missing else "",
        ]
        said = "; ".join(part for part in parts if part)
        raise ImportFileError(_("Columns are %(columns)s; %(problems)s.") % {"columns": ", ".join(COLUMNS), "problems": said})
    if len(table) - 1 > ROWS_MAX:
        raise ImportFileError(_("At most %(rows)d rows in one file.") % {"rows": ROWS_MAX})
    return [{name: (row[index].strip() if index < len(row) else "") for index, name in enumerate(header) if name} for row in table[1:]]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a bad file
        raise ImportFileError(_("The XLSX file cannot be read.")) from exc
    sheet = book.worksheets[0]
    rows = [["" if cell is None else str(int(cell) if isinstance(cell, float) and cell.is_integer() else cell) for cell in row]
            for row in sheet.iter_rows(values_only=True)]  # fmt: skip
    book.close()
    return rows


def _arguments(row: dict[str, str]) -> dict[str, Any]:
    """client_create's arguments from one row; ValidationError for what only the file can get wrong."""
    errors: dict[str, list[str]] = {}
    days_text = row.get("access_days", "")
    access_days: Any = rules.ACCESS_DAYS_DEFAULT
    if days_text:
        try:
            access_days = int(days_text)
        except ValueError:
            errors["access_days"] = [f"Must be a whole number from 1 to {rules.ACCESS_DAYS_MAX}."]
    password, password_hash = row.get("password") or None, row.get("password_hash") or None
    if (password is None) == (password_hash is None):
        errors["password"] = ["Give either password or password_hash."]
    if password is not None:
        from .passwords import validate_password

        try:
            validate_password(password)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    fields = {
        "name": row.get("name", ""),
        "email": row.get("email", ""),
        "company": row.get("company") or None,
        "phone": row.get("phone") or None,
        "access_days": access_days,
        "demos": [slug for slug in DEMO_SEPARATORS.split(row.get("demos", "")) if slug],
    }
    errors = {**services.client_fields_errors(**fields), **errors}
    if errors:
        raise ValidationError(errors)
    return {**fields, "password": password, "password_hash": password_hash}


def import_clients(*, actor: Actor, rows: list[dict[str, str]], dry_run: bool) -> ImportResult:
    """Create a client per row, all in one transaction: kept when every row succeeds and this is
    not a dry run, rolled back otherwise. Every row is tried, so each one's outcome is known."""
    outcomes = []
    with transaction.atomic():
        for line, row in enumerate(rows, start=2):
            outcome = RowOutcome(line=line, email=row.get("email", ""))
            try:
                # client_create's own atomic block is a savepoint here: a refused row leaves the others.
                outcome.client_id = services.client_create(actor=actor, **_arguments(row)).id
            except ValidationError as exc:
                outcome.errors = exc.message_dict
            except Conflict as exc:
                outcome.errors = {"email": [str(exc)]}
            outcomes.append(outcome)
        result = ImportResult(outcomes, dry_run)
        if not result.written:
            transaction.set_rollback(True)
    if not result.written:
        for outcome in outcomes:
            outcome.client_id = None
    return result
