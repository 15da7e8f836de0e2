"""The values insert() (clients/audit.py) sends, adapted as each field's get_db_prep_save would.

Django adapts every value of a row through get_db_prep_save, get_db_prep_value, get_prep_value and
to_python, one generic call after another: 27 µs of the two INSERTs of POST /api/clients, a
twentieth of the request (in-process, bench/README.md). Most values are already what that chain
returns: a str or None for a text field, an int or None for an integer field on a backend that
leaves integers as they are, True or False for a boolean. Those go through as they are; a time of
LegacyDateTimeField goes straight to the backend's adaptation, as the field itself sends it (on
SQLite, a UTC time becomes its text at once: that adaptation's own result for it). Any
other value, and any other kind of field, is the field's to adapt. clients/tests/test_insert_values.py
checks the two agree on generated values for every field insert() writes, on the backend the tests
run on (SQLite, and PostgreSQL in CI).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

from .models import LegacyDateTimeField

Adapt = Callable[[object, object], object]  # (value, connection) -> the value to send


def adapter(field: models.Field, connection) -> Adapt:
    """A function of (value, connection) giving field.get_db_prep_save(value, connection), for
    connections of `connection`'s backend."""
    kind = type(field)
    if kind in (models.TextField, models.CharField):
        return functools.partial(_text, field)
    if kind is models.IntegerField and type(connection.ops).adapt_integerfield_value is BaseDatabaseOperations.adapt_integerfield_value:
        return functools.partial(_integer, field)  # not on PostgreSQL, which wraps each integer in its size's type
    if kind is models.BooleanField:
        return functools.partial(_boolean, field)
    if kind is LegacyDateTimeField:
        if connection.vendor == "sqlite" and connection.timezone is UTC:
            return functools.partial(_sqlite_time, field)
        return functools.partial(_time, field)
    return field.get_db_prep_save


def _text(field: models.Field, value, connection):
    return value if value is None or type(value) is str else field.get_db_prep_save(value, connection)


def _integer(field: models.Field, value, connection):
    return value if value is None or type(value) is int else field.get_db_prep_save(value, connection)  # type(): not a bool


def _boolean(field: models.Field, value, connection):
    return value if type(value) is bool else field.get_db_prep_save(value, connection)


def _sqlite_time(field: models.Field, value, connection):
    if type(value) is datetime and value.tzinfo is UTC:  # what legacy_time.now() gives
        return str(value.replace(microsecond=0, tzinfo=None))  # SQLite's adaptation of a UTC time, in UTC
    return _time(field, value, connection)


def _time(field: models.Field, value, connection):
    if value is None:
        return connection.ops.adapt_datetimefield_value(None)
    if type(value) is datetime and value.tzinfo is not None:  # LegacyDateTimeField.get_db_prep_value's own steps
        return connection.ops.adapt_datetimefield_value(value.replace(microsecond=0))
    return field.get_db_prep_save(value, connection)
