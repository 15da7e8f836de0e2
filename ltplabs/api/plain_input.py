"""An input serializer's common case, validated without DRF's per-field machinery.

DRF validates each field of a body through its run_validation: the empty-value rules,
to_internal_value, then each validator object in turn, every step in its own try/except: 39 µs of
the ~530 µs a create takes in-process (bench/README.md), for fields the service checks again.
Most bodies are plain: strings within their lengths, whole numbers within their bounds, true or
false, lists of such strings. For those, plain_values() gives exactly the values DRF would; for
anything else (a missing required field, a null, a blank, a number where a string goes, a string
too long or with a NUL or a lone surrogate, an e-mail the validator refuses, a field type or a
validator it does not know) it answers None, and DRF validates as always, with its own errors.
ltplabs/tests/test_plain_input.py checks the two agree on generated bodies for every input
serializer of the API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    EmailValidator,
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from rest_framework import fields
from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator


class NotPlain(Exception):
    """A value DRF has to judge."""


Check = Callable[[object], object]
# The validators each field kind's check below does itself; any other on a field leaves it to DRF.
OWN_VALIDATORS = {
    "text": (MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator),
    "integer": (MaxValueValidator, MinValueValidator),
    "list": (MaxLengthValidator, MinLengthValidator),
}


def plain_values(serializer, data) -> dict | None:
    """serializer.to_internal_value(data) when every value is plain and the serializer has no
    validators and no read-only defaults (nothing for run_validators to do), else None."""
    if type(data) is not dict or serializer.partial or serializer.read_only or serializer.validators:
        return None
    plan = _plan(type(serializer))
    if plan is None:
        return None
    values = {}
    try:
        for name, check, required, default in plan:
            value = data.get(name, empty)
            if value is empty:
                if required:
                    return None
                if default is not empty:
                    values[name] = default() if callable(default) else default
                continue
            if check is None:
                return None
            values[name] = check(value)
    except NotPlain:
        return None
    return values


@functools.cache
def _plan(serializer_class) -> tuple | None:
    """(name, check, required, default) of each writable field; None for a serializer it cannot
    follow (a validate_<field> method, a field with another source, a default that needs context,
    a read-only field with a default, which DRF merges into what its validators see)."""
    plan = []
    for name, field in serializer_class._declared_fields.items():
        if field.read_only:
            if field.default is not empty:
                return None
            continue
        if getattr(serializer_class, f"validate_{name}", None) is not None or field.source not in (None, name):
            return None
        default = field.default
        if getattr(default, "requires_context", False):
            return None
        plan.append((name, _check(field), field.required, default))
    return tuple(plan)


def _check(field) -> Check | None:
    """The check of one field's plain values, or None when only DRF may judge them."""
    kind = type(field)
    if kind in (fields.CharField, fields.EmailField):
        return _text_check(field)
    if kind is fields.IntegerField and _only(field, "integer"):
        low, high = field.min_value, field.max_value
        return functools.partial(_integer, low, high)
    if (kind is fields.BooleanField or getattr(kind, "keeps_json_booleans", False)) and not field.validators:
        return _boolean
    if kind is fields.ListField:
        return _list_check(field)
    return None


def _only(field, kind: str) -> bool:
    return all(type(validator) in OWN_VALIDATORS[kind] for validator in field.validators)


def _text_check(field) -> Check | None:
    extra = [validator for validator in field.validators if type(validator) not in OWN_VALIDATORS["text"]]
    if any(type(validator) is not EmailValidator for validator in extra):
        return None
    return functools.partial(_text, field.trim_whitespace, field.min_length, field.max_length, tuple(extra))


def _text(trim: bool, low: int | None, high: int | None, extra: tuple, value):
    if type(value) is not str:
        raise NotPlain  # DRF turns numbers into strings, refuses the rest
    text = value.strip() if trim else value
    if not text:
        raise NotPlain  # blank: allowed or refused, DRF's rule
    if (high is not None and len(text) > high) or (low is not None and len(text) < low) or "\x00" in text:
        raise NotPlain
    try:
        text.encode("utf-8")  # a lone surrogate cannot be encoded
    except UnicodeEncodeError:
        raise NotPlain from None
    for validator in extra:
        try:
            validator(text)
        except (DjangoValidationError, ValidationError):
            raise NotPlain from None
    return text


def _integer(low: int | None, high: int | None, value):
    if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
        raise NotPlain  # bool, float, "30", out of bounds: DRF's rule
    if not -(2**63) <= value < 2**63:
        raise NotPlain  # DRF goes through str(), which refuses an integer of thousands of digits
    return value


def _boolean(value):
    if type(value) is not bool:
        raise NotPlain
    return value


def _list_check(field) -> Check | None:
    if not _only(field, "list"):
        return None
    child = _check(field.child)
    if child is None:
        return None
    return functools.partial(_list, field.allow_empty, field.min_length, field.max_length, child)


def _list(allow_empty: bool, low: int | None, high: int | None, child: Check, value):
    if type(value) is not list or (not value and not allow_empty):
        raise NotPlain
    if (high is not None and len(value) > high) or (low is not None and len(value) < low):
        raise NotPlain
    return [child(item) for item in value]
