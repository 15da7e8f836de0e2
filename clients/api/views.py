"""The gateway's REST API: thin viewsets over services (writes) and selectors (reads)."""

import time

from django.conf import settings
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.exceptions import TokenError

from clients import entitlements, revocation, rules, selectors, services
from clients.models import AuditLog, Client, ClientDemoAccess, Demo, DemoUsage
from clients.serializers import (
    AccessOutput,
    AuditOutput,
    AuditQuery,
    ClientCreateInput,
    ClientDetailOutput,
    ClientListQuery,
    ClientLoginInput,
    ClientOutput,
    ClientPasswordInput,
    ClientRefreshInput,
    ClientUpdateInput,
    DemoOutput,
    DemoUsageOutput,
    EntitlementCheckInput,
    EntitlementOutput,
    ErrorOutput,
    ExtendInput,
    GrantInput,
    PaginationOutput,
    TokenPairOutput,
    plain_page_query,
)
from clients.signin import ClientSignInThrottle
from ltplabs import metrics
from ltplabs.api.views import APIView, ReadOnlyGateway, ViewSet
from ltplabs.exceptions import InvalidCredentials, NotFound, Refused
from ltplabs.http.address import client_address

from .authentication import ApiKeyAuthentication, ClientJWTAuthentication, ServiceAccountPrincipal
from .idempotency import idempotent
from .permissions import HasScope, IsClient
from .tokens import ClientRefreshToken, tokens_for_client

ERRORS = {code: OpenApiResponse(ErrorOutput, description=text) for code, text in {
    400: "Bad input", 401: "No or bad token", 403: "No permission", 404: "Not found",
    409: "Conflict, or the first request with this Idempotency-Key still running", 412: "If-Match is not the current ETag",
    413: "Body too large", 415: "Not JSON", 422: "Idempotency-Key used with another body", 429: "Throttled",
    503: "Database busy, unavailable, full or read-only",
}.items()}  # fmt: skip


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 403, 503, *codes)}


def envelope(name: str, data_serializer, many: bool = False, **extra) -> serializers.Serializer:
    fields = {"success": serializers.BooleanField(), "data": data_serializer(many=many)}
    serializer = inline_serializer(name, {**fields, **extra})
    # drf-spectacular documents a `list` action's answer as an array; ours is this one object.
    set_override(serializer, "many", False)
    return serializer


def if_match(request) -> str | None:
    """The If-Match header, which the service checks under the row lock (412 when stale)."""
    return request.headers.get("If-Match")


def actor_of(request) -> services.Actor:
    """Who writes: the staff user of the token, or the service account of the API key."""
    if isinstance(request.user, ServiceAccountPrincipal):
        return services.Actor.service_account(request.user.account, request)
    return services.Actor.staff(request.user, request)


def valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ClientViewSet(ViewSet):
    queryset = Client.objects.all()
    lookup_value_regex = r"[0-9]+"
    action_permissions = {
        "extend": ("change", Client),
        "demos": {"GET": ("view", ClientDemoAccess), "POST": ("add", ClientDemoAccess)},
        "revoke_demo": ("delete", ClientDemoAccess),
    }

    @extend_schema(
        summary="List clients (v_active_clients by default), newest first",
        parameters=[ClientListQuery],
        responses={200: envelope("ClientList", ClientOutput, many=True, pagination=PaginationOutput()), **errors(400)},
    )
    def list(self, request):
        query = plain_page_query(request.query_params) or valid(ClientListQuery, request.query_params)
        data, pagination = selectors.client_page(**query)
        return Response({"success": True, "data": data, "pagination": pagination})

    @extend_schema(summary="One client, any status (ETag; If-None-Match gives 304)",
                   responses={200: envelope("ClientDetail", ClientDetailOutput), 304: None, **errors(404)})  # fmt: skip
    def retrieve(self, request, pk=None):
        data = self._detail(pk)
        etag = rules.client_etag(Client.objects.get(pk=int(pk)))
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and rules.etag_matches(if_none_match, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response({"success": True, "data": data}, headers={"ETag": etag})

    @extend_schema(
        summary="Register a client, its demo access and the audit row in one transaction",
        request=ClientCreateInput,
        responses={
            201: envelope("ClientCreated", ClientDetailOutput, clientId=serializers.IntegerField()),
            **errors(400, 409, 413, 415, 422),
        },
    )
    @idempotent
    def create(self, request):
        data = valid(ClientCreateInput, request.data)
        client = services.client_create(actor=actor_of(request), **data)
        # One access row per distinct demo ((client, demo) is unique), as the service wrote them.
        detail = selectors.created_client_detail(client, demo_count=len(set(data["demos"])))
        return Response({"success": True, "clientId": client.id, "data": detail}, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change name, company, phone, notes, is_active or access_end_date",
        request=ClientUpdateInput,
        responses={200: envelope("ClientUpdated", ClientDetailOutput), **errors(400, 404, 409, 412, 413, 415, 422)},
    )
    @idempotent
    def partial_update(self, request, pk=None):
        changes = valid(ClientUpdateInput, request.data)
        if not request.user.has_perms(rules.permissions_for_changes(changes)):
            raise exceptions.PermissionDenied("Activating or deactivating a client needs the permission to delete clients.")
        client = services.client_update(actor=actor_of(request), client_id=int(pk), changes=changes, if_match=if_match(request))
        return Response({"success": True, "data": self._detail(client.id)})

    @extend_schema(summary="Deactivate a client (is_active = 0); the row stays", request=None,
                   responses={200: envelope("ClientDeactivated", ClientDetailOutput), **errors(404, 409, 412, 422)})  # fmt: skip
    @idempotent
    def destroy(self, request, pk=None):
        client = services.client_deactivate(actor=actor_of(request), client_id=int(pk), if_match=if_match(request))
        return Response({"success": True, "data": self._detail(client.id)})

    @extend_schema(
        summary="Move access_end_date to max(now, current end) + days",
        request=ExtendInput,
        responses={200: envelope("ClientExtended", ClientDetailOutput), **errors(400, 404, 409, 412, 413, 415, 422)},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def extend(self, request, pk=None):
        days = valid(ExtendInput, request.data)["days"]
        client = services.client_extend(actor=actor_of(request), client_id=int(pk), days=days, if_match=if_match(request))
        return Response({"success": True, "data": self._detail(client.id)})

    @extend_schema(methods=["GET"], summary="The client's demo access", request=None,
                   responses={200: envelope("AccessList", AccessOutput, many=True), **errors(404)})  # fmt: skip
    @extend_schema(methods=["POST"], summary="Grant access to a demo", request=GrantInput,
                   responses={201: envelope("AccessGranted", AccessOutput), **errors(400, 404, 409, 413, 415, 422)})  # fmt: skip
    @action(detail=True, methods=["get", "post"])
    @idempotent
    def demos(self, request, pk=None):
        if request.method == "POST":
            data = valid(GrantInput, request.data)
            access = services.access_grant(actor=actor_of(request), client_id=int(pk), **data)
            rows = [row for row in selectors.client_demo_rows(int(pk)) if row["demo"] == access.demo.slug]
            return Response({"success": True, "data": rows[0]}, status=status.HTTP_201_CREATED)
        self._detail(pk)
        return Response({"success": True, "data": selectors.client_demo_rows(int(pk))})

    @extend_schema(
        summary="Revoke access to a demo",
        request=None,
        responses={200: inline_serializer("AccessRevoked", {"success": serializers.BooleanField()}), **errors(404, 409, 422)},
    )
    @action(detail=True, methods=["delete"], url_path=r"demos/(?P<slug>[^/]+)")
    @idempotent
    def revoke_demo(self, request, pk=None, slug=None):
        services.access_revoke(actor=actor_of(request), client_id=int(pk), demo=slug)
        return Response({"success": True})

    @staticmethod
    def _detail(pk) -> dict:
        row = selectors.client_detail(int(pk))
        if row is None:
            raise NotFound("Client not found.")
        return row


class EntitlementCheckView(APIView):
    """For programs: may this client open this demo now (and count the open)?"""

    read_only_gate = False  # a check without record only reads: a read-only gateway answers it
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "entitlements:check"

    @extend_schema(
        summary="May this client open this demo now? With record, count the open (one transaction, audited)",
        request=EntitlementCheckInput,
        responses={200: envelope("Entitlement", EntitlementOutput), **errors(400, 413, 415, 422)},
    )
    @idempotent
    def post(self, request):
        data = valid(EntitlementCheckInput, request.data)
        if data["record"] and settings.DATABASE_READ_ONLY:
            raise ReadOnlyGateway()
        answer = entitlements.check(actor=actor_of(request), **data)
        return Response({"success": True, "data": answer.as_dict()})


class ClientView(APIView):
    """A route of the signed-in client: a client access token, never a staff one."""

    authentication_classes = [ClientJWTAuthentication]
    permission_classes = [IsClient]


class MeDemoOpenView(ClientView):
    """For a signed-in client: open a demo (the same check, always recorded)."""

    @extend_schema(
        summary="The signed-in client opens a demo: 200 with the entitlement, or 403 with its code",
        request=None,
        responses={200: envelope("DemoOpened", EntitlementOutput), **errors(409, 422)},
    )
    @idempotent
    def post(self, request, slug=None):
        client_id = request.user.client.id
        answer = entitlements.check(actor=services.Actor.client(client_id, request), client_id=client_id, demo=slug, record=True)
        if not answer.allowed:
            raise Refused(entitlements.REFUSALS[answer.code], answer.code)
        return Response({"success": True, "data": answer.as_dict()})


class DemoViewSet(ViewSet):
    queryset = Demo.objects.all()
    action_permissions = {"usage": ("view", Demo)}

    @extend_schema(summary="Every demo", responses={200: envelope("DemoList", DemoOutput, many=True), **errors()})
    def list(self, request):
        return Response({"success": True, "data": DemoOutput(Demo.objects.order_by("id"), many=True).data})

    @extend_schema(summary="Per-demo usage (the rows of v_demo_usage)",
                   responses={200: envelope("DemoUsageList", DemoUsageOutput, many=True), **errors()})  # fmt: skip
    @action(detail=False, methods=["get"])
    def usage(self, request):
        rows = DemoUsage.objects.order_by("demo_id").values(
            "demo_id", "slug", "name", "clients_with_access", "total_accesses", "last_accessed_at"
        )
        return Response({"success": True, "data": DemoUsageOutput(rows, many=True).data})


class AuditLogViewSet(ViewSet):
    queryset = AuditLog.objects.all()

    @extend_schema(
        summary="The audit trail, newest first; page on with next_cursor (offset stops at 10,000)",
        parameters=[AuditQuery],
        responses={200: envelope("AuditList", AuditOutput, many=True, pagination=PaginationOutput()), **errors(400)},
    )
    def list(self, request):
        query = valid(AuditQuery, request.query_params)
        rows, pagination = selectors.audit_page(**query)
        return Response({"success": True, "data": AuditOutput(rows, many=True).data, "pagination": pagination})


# --- client sign-in ----------------------------------------------------------------------


class ClientRefreshAddressThrottle(SimpleRateThrottle):
    """Refreshes per address, at the sign-in address rate (counted apart from sign-ins)."""

    scope = "login_address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "client_refresh_address", "ident": client_address(request)}


class ClientLoginView(APIView):
    read_only_gate = False  # a read-only gateway signs clients in and records nothing (services.client_login)
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientSignInThrottle]

    @extend_schema(
        summary="Client sign-in: tokens naming the client and the demos it may open",
        request=ClientLoginInput,
        responses={200: TokenPairOutput, 400: ERRORS[400], 401: ERRORS[401], 415: ERRORS[415], 429: ERRORS[429], 503: ERRORS[503]},
        auth=[],
    )
    def post(self, request):
        data = valid(ClientLoginInput, request.data)
        client = services.client_login(
            email=data["email"],
            password=data["password"],
            ip_address=client_address(request),
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:500] or None,
        )
        return Response({"success": True, **tokens_for_client(client, selectors.client_open_demos(client))})

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code == 401:
            metrics.sign_in_failed("client")
        return super().finalize_response(request, response, *args, **kwargs)


class ClientRefreshView(APIView):
    read_only_gate = False  # reads only
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientRefreshAddressThrottle]

    @extend_schema(
        summary="A new client access token from a client refresh token",
        request=ClientRefreshInput,
        responses={
            200: TokenPairOutput,
            400: ERRORS[400],
            401: ERRORS[401],
            429: ERRORS[429],
        },  # fmt: skip
        auth=[],
    )
    def post(self, request):
        refresh = client_refresh_token(valid(ClientRefreshInput, request.data)["refresh"])
        name = revocation.subject("client", refresh.get("client_id"))
        if time.time() - refresh["auth_time"] > settings.JWT_SESSION_MAX_HOURS * 3600:
            raise InvalidCredentials()
        if not revocation.use_once(name, refresh["jti"], refresh["exp"]):
            # A refresh token presented twice: stolen, or replayed. Its whole sign-in ends.
            revocation.revoke(name, refresh["fam"], refresh["auth_time"] + settings.JWT_SESSION_MAX_HOURS * 3600, kind="family")
            raise InvalidCredentials()
        client = Client.objects.filter(pk=refresh.get("client_id")).first()
        if client is None or client.status != rules.ACTIVE:
            raise InvalidCredentials()
        return Response({"success": True, **tokens_for_client(client, selectors.client_open_demos(client), chain=refresh)})


def client_refresh_token(raw: str) -> ClientRefreshToken:
    """A good, unrevoked client refresh token, or the one 401 every refusal gives."""
    try:
        refresh = ClientRefreshToken(raw)
    except TokenError:
        raise InvalidCredentials() from None
    if not isinstance(refresh.get("auth_time"), int | float) or not refresh.get("fam"):
        raise InvalidCredentials()  # issued before rotation existed
    if revocation.is_revoked(revocation.subject("client", refresh.get("client_id")), refresh, fresh=True):
        raise InvalidCredentials()
    return refresh


class ClientLogoutView(ClientView):
    """The refresh token and the access token sent with it stop working, on every worker and replica."""

    @extend_schema(
        summary="Client sign-out",
        request=ClientRefreshInput,
        responses={200: None, 400: ERRORS[400], 401: ERRORS[401], 403: ERRORS[403], 415: ERRORS[415]},
    )
    def post(self, request):
        refresh = client_refresh_token(valid(ClientRefreshInput, request.data)["refresh"])
        access = request.user.token
        name = revocation.subject("client", request.user.client.id)
        if revocation.subject("client", refresh.get("client_id")) != name:
            raise InvalidCredentials()
        revocation.revoke(name, refresh["jti"], refresh["exp"])
        revocation.revoke(name, access["jti"], access["exp"])
        return Response({"success": True})


class MePasswordView(ClientView):
    @extend_schema(
        summary="The signed-in client changes its password; every other token of it stops working",
        request=ClientPasswordInput,
        responses={200: TokenPairOutput, 400: ERRORS[400], 401: ERRORS[401], 403: ERRORS[403], 415: ERRORS[415], 503: ERRORS[503]},
    )
    def post(self, request):
        data = valid(ClientPasswordInput, request.data)
        client = services.client_password_change(
            actor=services.Actor.client(request.user.client.id, request),
            client_id=request.user.client.id,
            current_password=data["current_password"],
            new_password=data["new_password"],
        )
        return Response({"success": True, **tokens_for_client(client, selectors.client_open_demos(client))})


class MeView(ClientView):
    @extend_schema(
        summary="The signed-in client's profile and its demos (client token)",
        responses={200: inline_serializer("Me", {"success": serializers.BooleanField(), "data": inline_serializer(
            "MeData", {"client": ClientOutput(), "demos": AccessOutput(many=True)})}), 401: ERRORS[401], 403: ERRORS[403]},
    )  # fmt: skip
    def get(self, request):
        client_id = request.user.client.id
        profile = selectors.client_detail(client_id)
        profile.pop("notes", None)  # staff-only remarks
        return Response({"success": True, "data": {"client": profile, "demos": selectors.client_demo_rows(client_id)}})
