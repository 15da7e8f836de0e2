"""The base of every input serializer (a request's body or query)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.serializers import as_serializer_error

from .plain_input import plain_values


class InputSerializer(serializers.Serializer):
    """Validates a request's body or query. DRF deep-copies a serializer's declared fields for
    every instance, re-running each field's __init__, so that an instance may change its own
    fields: a third of the time of validating a new client's body (bench/README.md). Input
    serializers never change their fields, so each instance binds shallow copies of them; a
    copy shares its field's arguments, validators and messages, which nothing changes."""

    def get_fields(self):
        return {name: _shallow_copy(field) for name, field in self._declared_fields.items()}

    def run_validation(self, data=empty):
        """DRF's, but a plain body's values are taken as they are (ltplabs/api/plain_input.py).
        Such a serializer has no read-only defaults to merge and no validators of its own, so
        what is left of DRF's steps is validate(), and the fields are never bound: half of the
        time of validating a new client's body."""
        values = plain_values(self, data)
        if values is None:
            return super().run_validation(data)
        try:
            values = self.validate(values)
        except (serializers.ValidationError, DjangoValidationError) as exc:
            raise serializers.ValidationError(detail=as_serializer_error(exc)) from exc
        assert values is not None, ".validate() should return the validated data"
        return values


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    """copy.copy(field), without the generic __reduce_ex__ protocol it goes through."""
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class StrictSerializer(InputSerializer):
    """Refuses fields it does not know, so a caller cannot believe it set `id` or `created_by`."""

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self._declared_fields))  # get_fields()' names, unbound
            if unknown:
                raise serializers.ValidationError({field: ["This field cannot be set."] for field in unknown})
        return attrs
