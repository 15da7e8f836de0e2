"""Input and output shapes of the API. Output never includes password_hash."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ltplabs.api.serializers import InputSerializer, StrictSerializer

from . import rules
from .legacy_time import FORMAT
from .selectors import AUDIT_OFFSET_MAX, CLIENT_STATUSES

# Paging, for every list (and the fast path of plain_page_query).
LIMIT_DEFAULT, LIMIT_MAX = 100, settings.API_MAX_PAGE_SIZE
OFFSET_MAX = 2_000_000_000


class StrictBooleanField(serializers.BooleanField):
    """true or false, as the document says: not 0, 1, "yes" or "on"."""

    keeps_json_booleans = True  # a JSON true or false comes back as it is (ltplabs/api/plain_input.py)

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


@extend_schema_field({"type": "string", "description": "UTC, 'YYYY-MM-DD HH:MM:SS' as the database keeps it"})
class DatabaseTimeField(serializers.DateTimeField):
    """A time in ltplabs.db's own text format, which is not the ISO 8601 of OpenAPI's date-time."""

    def __init__(self, **kwargs):
        super().__init__(format=FORMAT, **kwargs)


# --- input -----------------------------------------------------------------------------


class ClientCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=rules.NAME_MAX_CHARS)
    email = serializers.EmailField(max_length=rules.EMAIL_MAX_CHARS)
    password = serializers.CharField(required=False, trim_whitespace=False, write_only=True, max_length=200)
    password_hash = serializers.CharField(required=False, write_only=True, max_length=200)
    company = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.COMPANY_MAX_CHARS)
    phone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.PHONE_MAX_CHARS)
    notes = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.NOTES_MAX_CHARS)
    access_days = serializers.IntegerField(required=False, default=rules.ACCESS_DAYS_DEFAULT, min_value=1, max_value=rules.ACCESS_DAYS_MAX)
    demos = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list, max_length=100)


class ClientUpdateInput(StrictSerializer):
    name = serializers.CharField(required=False, max_length=rules.NAME_MAX_CHARS)
    company = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.COMPANY_MAX_CHARS)
    phone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.PHONE_MAX_CHARS)
    notes = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=rules.NOTES_MAX_CHARS)
    is_active = StrictBooleanField(required=False)
    access_end_date = serializers.DateTimeField(required=False, allow_null=True)


class ExtendInput(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=rules.ACCESS_DAYS_MAX)


class GrantInput(StrictSerializer):
    demo = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class EntitlementCheckInput(StrictSerializer):
    client_id = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    email = serializers.CharField(required=False, max_length=rules.EMAIL_MAX_CHARS)
    demo = serializers.CharField(max_length=100)
    record = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if ("client_id" in attrs) == ("email" in attrs):
            raise serializers.ValidationError({"client_id": ["Give either client_id or email."]})
        return attrs


class EntitlementOutput(serializers.Serializer):
    allowed = serializers.BooleanField()
    code = serializers.ChoiceField(choices=["OK", "NO_ACCESS", "ACCESS_EXPIRED", "CLIENT_EXPIRED", "CLIENT_INACTIVE",
                                            "DEMO_DISABLED", "UNKNOWN_CLIENT", "UNKNOWN_DEMO"])  # fmt: skip
    demo = serializers.CharField()
    client_id = serializers.IntegerField(allow_null=True)
    expires_at = serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS UTC")
    days_remaining = serializers.IntegerField(allow_null=True)


class ClientListQuery(InputSerializer):
    limit = serializers.IntegerField(required=False, default=LIMIT_DEFAULT, min_value=1, max_value=LIMIT_MAX)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=OFFSET_MAX)
    cursor = serializers.CharField(required=False, max_length=200)
    search = serializers.CharField(required=False, max_length=200)
    company = serializers.CharField(required=False, max_length=200)
    status = serializers.ChoiceField(choices=CLIENT_STATUSES, required=False, default=rules.ACTIVE)


def plain_page_query(params) -> dict | None:
    """What ClientListQuery gives for a query of nothing but in-range ?limit=&offset= digits, the
    common case, without building the serializer (DRF deep-copies its fields per request); None
    for anything else, which then goes through ClientListQuery."""
    query = {"limit": LIMIT_DEFAULT, "offset": 0, "status": rules.ACTIVE}
    for name, values in params.lists():
        if name not in ("limit", "offset") or len(values) != 1 or not (values[0].isascii() and values[0].isdecimal()):
            return None
        query[name] = int(values[0])
    return query if 1 <= query["limit"] <= LIMIT_MAX and query["offset"] <= OFFSET_MAX else None


class AuditQuery(InputSerializer):
    limit = serializers.IntegerField(required=False, default=LIMIT_DEFAULT, min_value=1, max_value=LIMIT_MAX)
    # Past a few pages an OFFSET costs every row it skips (9 s at 1,900,000 on SQLite, holding a
    # worker); the cursor costs the same at any depth.
    offset = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=AUDIT_OFFSET_MAX,
        error_messages={"max_value": f"Must be at most {AUDIT_OFFSET_MAX:,}: page deeper with `cursor` (pagination.next_cursor)."},
    )  # fmt: skip
    cursor = serializers.CharField(required=False, max_length=100)
    entity_type = serializers.CharField(required=False, max_length=100)
    entity_id = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    action = serializers.CharField(required=False, max_length=100)
    actor_type = serializers.ChoiceField(choices=("staff", "client", "system"), required=False)
    actor_id = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class ClientLoginInput(InputSerializer):
    email = serializers.CharField(max_length=rules.EMAIL_MAX_CHARS, trim_whitespace=True)
    password = serializers.CharField(max_length=200, trim_whitespace=False, write_only=True)


class ClientRefreshInput(InputSerializer):
    refresh = serializers.CharField(max_length=2000)


class ClientPasswordInput(InputSerializer):
    current_password = serializers.CharField(max_length=200, trim_whitespace=False)
    new_password = serializers.CharField(max_length=200, trim_whitespace=False)


# --- output (the shapes the views return; also the OpenAPI document) --------------------


class ClientOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField()
    company = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    data_registo = serializers.CharField(help_text="Registration time, 'YYYY-MM-DD HH:MM:SS' UTC")
    access_end_date = serializers.CharField(allow_null=True, help_text="'YYYY-MM-DD HH:MM:SS' UTC, null: no end")
    is_active = serializers.BooleanField()
    last_login_at = serializers.CharField(allow_null=True)
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    days_remaining = serializers.IntegerField(allow_null=True)
    demo_count = serializers.IntegerField()
    status = serializers.ChoiceField(choices=rules.STATUSES)


class ClientDetailOutput(ClientOutput):
    notes = serializers.CharField(allow_null=True)


class PaginationOutput(serializers.Serializer):
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    count = serializers.IntegerField()
    has_more = serializers.BooleanField()
    next_offset = serializers.IntegerField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)


class AccessOutput(serializers.Serializer):
    demo = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    granted_at = serializers.CharField()
    expires_at = serializers.CharField(allow_null=True)
    granted_by = serializers.IntegerField(allow_null=True)
    access_count = serializers.IntegerField()
    last_accessed_at = serializers.CharField(allow_null=True)


class DemoOutput(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = DatabaseTimeField()


class DemoUsageOutput(serializers.Serializer):
    demo_id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    clients_with_access = serializers.IntegerField()
    total_accesses = serializers.IntegerField()
    last_accessed_at = DatabaseTimeField(allow_null=True)


class AuditOutput(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = DatabaseTimeField()
    actor_type = serializers.CharField()
    actor_id = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()
    entity_type = serializers.CharField()
    entity_id = serializers.IntegerField(allow_null=True)
    details = serializers.JSONField(allow_null=True)
    ip_address = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField(allow_null=True)


class TokenPairOutput(serializers.Serializer):
    success = serializers.BooleanField()
    access = serializers.CharField()
    refresh = serializers.CharField()


class ErrorOutput(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    error = serializers.CharField()
    details = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    code = serializers.CharField(required=False, help_text="POST /api/me/demos/{slug}/open: the entitlement code")
