"""ltplabs/api/plain_input.py: whenever it takes a body's values as they are, they are exactly what
DRF's own validation gives (value and type), for every input serializer of the API, on bodies
generated to sit on each rule's edges; and the common bodies do take that way."""

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


@pytest.mark.parametrize("serializer_class", INPUTS, ids=lambda cls: cls.__name__)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_values_taken_as_they_are_are_what_drf_gives(serializer_class, data):
    names = [*serializer_class._declared_fields, "unknown"]
    body = data.draw(st.dictionaries(st.sampled_from(names), VALUES))
    serializer = serializer_class(data=body)
    plain = plain_values(serializer, body)
    if plain is not None:
        assert exact(plain) == exact(serializers.Serializer.to_internal_value(serializer, body)), body


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
    assert exact(plain) == exact(serializers.Serializer.to_internal_value(serializer, body))
    assert serializer.is_valid(), serializer.errors


def test_a_query_string_and_a_partial_update_go_through_drf():
    from django.http import QueryDict

    query = QueryDict("limit=10")
    assert plain_values(api_inputs.ClientListQuery(data=query), query) is None
    body = {"name": "Renamed"}
    assert plain_values(api_inputs.ClientUpdateInput(data=body, partial=True), body) is None
