"""ltplabs/api/plain_input.py and InputSerializer.run_validation: whatever the body, validating it
gives exactly what DRF's own validation gives (the values and their types, or the same errors),
for every input serializer of the API, on bodies generated to sit on each rule's edges; and the
common bodies take the plain way, without binding the serializer's fields."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from clients import rules
from clients import serializers as api_inputs
from ltplabs.api.plain_input import plain_values
from ltplabs.api.serializers import InputSerializer, StrictSerializer

INPUTS = sorted(
    (cls for cls in vars(api_inputs).values() if isinstance(cls, type) and issubclass(cls, InputSerializer)
     and cls not in (InputSerializer, StrictSerializer)),
    key=lambda cls: cls.__name__,
)  # fmt: skip
HASH = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"

EDGE_TEXT = st.sampled_from([
    "", " ", "  padded  ", "maria@example.com", " maria@example.com ", "not-an-email", "a@b", "x" * 100, "x" * 101,
    "x" * 200, "x" * 201, "x" * 254, "x" * 255, "nul\x00inside", "lone \ud800 surrogate", "João", "ü" * 40, "pricing-lab",
    "30", "true", HASH,
])  # fmt: skip
TEXT = st.one_of(EDGE_TEXT, st.text(max_size=300), st.emails())
NUMBERS = st.one_of(st.integers(-3, 3), st.integers(rules.ACCESS_DAYS_MAX - 1, rules.ACCESS_DAYS_MAX + 1), st.integers(),
                    st.floats(allow_nan=False), st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1]))  # fmt: skip
VALUES = st.one_of(
    st.none(), st.booleans(), NUMBERS, TEXT,
    st.lists(st.one_of(TEXT, st.integers(), st.none()), max_size=3),
    st.lists(EDGE_TEXT, min_size=99, max_size=101),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


def exact(values: dict) -> str:
    return repr(values)  # repr tells True from 1 and "1" from 1, where == does not


def outcome(run_validation, serializer, body) -> str:
    """The validated values, or the errors, of one validation."""
    try:
        return exact(run_validation(serializer, body))
    except serializers.ValidationError as error:
        return f"errors {error.detail!r}"


@pytest.mark.parametrize("serializer_class", INPUTS, ids=lambda cls: cls.__name__)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validation_gives_what_drf_gives(serializer_class, data):
    names = [*serializer_class._declared_fields, "unknown"]
    body = data.draw(st.dictionaries(st.sampled_from(names), VALUES))
    plain = plain_values(serializer_class(data=body), body)
    ours = outcome(serializer_class.run_validation, serializer_class(data=body), body)
    drf = outcome(serializers.Serializer.run_validation, serializer_class(data=body), body)
    assert ours == drf, body
    if plain is not None:
        assert exact(plain) == exact(serializers.Serializer.to_internal_value(serializer_class(data=body), body)), body


@pytest.mark.parametrize(
    "serializer_class,body",
    [
        (api_inputs.ClientCreateInput, {"name": "Bench Client", "email": "bench-1@example.com", "password_hash": HASH,
                                        "company": "Bench", "access_days": 30}),
        (api_inputs.ClientCreateInput, {"name": " Maria ", "email": "maria@example.com", "password": "pw-123456",
                                        "demos": ["pricing-lab", "route-planner"]}),
        (api_inputs.ClientUpdateInput, {"name": "Renamed", "is_active": False}),
        (api_inputs.EntitlementCheckInput, {"client_id": 7, "demo": "pricing-lab", "record": True}),
        (api_inputs.ExtendInput, {"days": 30}),
        (api_inputs.ClientLoginInput, {"email": "maria@example.com", "password": " spaced pass "}),
    ],
)  # fmt: skip
def test_the_common_bodies_are_taken_as_they_are(serializer_class, body):
    serializer = serializer_class(data=body)
    plain = plain_values(serializer, body)
    assert plain is not None
    assert exact(plain) == exact(serializers.Serializer.to_internal_value(serializer_class(data=body), body))
    assert serializer.is_valid(), serializer.errors
    assert "fields" not in serializer.__dict__  # DRF's cached_property: the fields were never bound


def test_a_serializer_with_validators_or_read_only_defaults_goes_through_drf():
    class WithValidators(StrictSerializer):
        name = serializers.CharField()

        class Meta:
            validators = [lambda attrs: None]

    class WithReadOnlyDefault(StrictSerializer):
        name = serializers.CharField()
        kind = serializers.CharField(read_only=True, default="client")

    body = {"name": "Maria"}
    assert plain_values(WithValidators(data=body), body) is None
    assert plain_values(WithReadOnlyDefault(data=body), body) is None
    serializer = WithReadOnlyDefault(data=body)
    assert serializer.is_valid(), serializer.errors


def test_a_query_string_and_a_partial_update_go_through_drf():
    from django.http import QueryDict

    query = QueryDict("limit=10")
    assert plain_values(api_inputs.ClientListQuery(data=query), query) is None
    body = {"name": "Renamed"}
    assert plain_values(api_inputs.ClientUpdateInput(data=body, partial=True), body) is None
