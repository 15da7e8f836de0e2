"""Staff sign-in with simplejwt: token, refresh (rotating, old one blacklisted), verify, logout,
logout-all. Every token of a chain carries its sign-in's `auth_time`: clients.revocation ends
chains by it, and a chain ends JWT_SESSION_MAX_HOURS after it."""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token, UntypedToken

from clients import revocation, services
from clients.audit import Actor
from clients.serializers import ErrorOutput, TokenPairOutput
from clients.signin import StaffSignInThrottle
from ltplabs import metrics
from ltplabs.api.views import APIView, GatewayView
from ltplabs.http.address import client_address

from .authentication import StaffJWTAuthentication
from .second_factor import SecondFactorStep


def staff_subject(token) -> str:
    return revocation.subject("staff", token.get(jwt_settings.USER_ID_CLAIM))


def check_chain(token) -> None:
    """A refresh token (or any token of a chain): refused when revoked or past the session's end."""
    if revocation.is_revoked(staff_subject(token), token, fresh=True):
        raise InvalidToken("The token has been revoked.")
    if time.time() - revocation.sign_in_time(token) > settings.JWT_SESSION_MAX_HOURS * 3600:
        raise InvalidToken("The session has ended; sign in again.")


class StaffTokenObtainSerializer(jwt_serializers.TokenObtainPairSerializer, SecondFactorStep):
    default_error_messages = {"no_active_account": "Invalid user name or password, or not an active staff user."}

    @classmethod
    def get_token(cls, user):
        if settings.DATABASE_READ_ONLY:
            # Nothing is recorded on a read-only gateway: no outstanding-token row.
            token = Token.for_user.__func__(RefreshToken, user)
        else:
            token = super().get_token(user)
        token["auth_time"] = time.time()  # copied to every access and rotated refresh token of the chain
        return token

    def validate(self, attrs):
        result = super().validate(attrs)
        services.staff_event(actor=Actor.staff(self.user, self.context["request"]), action="staff.login", staff_id=self.user.pk)
        return result


class StaffTokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            check_chain(RefreshToken(attrs["refresh"]))
        except TokenError as error:
            raise InvalidToken(str(error)) from None
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise exceptions.AuthenticationFailed("No active account found for the given token.") from None


class StaffTokenVerifySerializer(jwt_serializers.TokenVerifySerializer):
    def validate(self, attrs):
        result = super().validate(attrs)
        token = UntypedToken(attrs["token"])
        if revocation.is_revoked(staff_subject(token), token, fresh=True):
            raise InvalidToken("The token has been revoked.")
        return result


class StaffLogoutSerializer(jwt_serializers.TokenBlacklistSerializer):
    """Blacklists the refresh token, and revokes the access token sent in Authorization (when it
    is the same user's), on every worker and replica."""

    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])
        result = super().validate(attrs)
        request = self.context["request"]
        header = StaffJWTAuthentication().get_header(request)
        raw = StaffJWTAuthentication().get_raw_token(header) if header else None
        if raw:
            try:
                access = AccessToken(raw.decode("ascii"))
            except (TokenError, UnicodeDecodeError):
                access = None
            if access is not None and staff_subject(access) == staff_subject(refresh):
                revocation.revoke(staff_subject(access), access["jti"], access["exp"])
        staff_id = refresh.get(jwt_settings.USER_ID_CLAIM)
        actor = Actor("staff", staff_id, client_address(request), (request.META.get("HTTP_USER_AGENT") or "")[:500] or None)
        services.staff_event(actor=actor, action="staff.logout", staff_id=staff_id)
        return result


class EnvelopeMixin:
    """simplejwt answers {"access", "refresh"}; the contract adds "success": true to every answer."""

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code < 400 and isinstance(response.data, dict):
            response.data = {"success": True, **response.data}
        return super().finalize_response(request, response, *args, **kwargs)


_responses = {200: TokenPairOutput, 400: ErrorOutput, 401: ErrorOutput, 429: ErrorOutput}


# No read-only gate on these: signing in records nothing on a read-only gateway
# (StaffTokenObtainSerializer), verifying reads only, and the blacklist row that a refresh or a
# sign-out writes meets the read-only file, which the exception handler answers with a 503.


@extend_schema(summary="Staff sign-in: an access and a refresh token", responses=_responses)
class StaffTokenView(EnvelopeMixin, GatewayView, jwt_views.TokenObtainPairView):
    serializer_class = StaffTokenObtainSerializer
    throttle_classes = [StaffSignInThrottle]
    read_only_gate = False

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code == 401:
            metrics.sign_in_failed("staff")
        return super().finalize_response(request, response, *args, **kwargs)


@extend_schema(summary="A new access token and a new refresh token; the old refresh token is blacklisted", responses=_responses)
class StaffTokenRefreshView(EnvelopeMixin, GatewayView, jwt_views.TokenRefreshView):
    serializer_class = StaffTokenRefreshSerializer
    read_only_gate = False


@extend_schema(summary="Check a token", responses={200: None, 400: ErrorOutput, 401: ErrorOutput})
class StaffTokenVerifyView(EnvelopeMixin, GatewayView, jwt_views.TokenVerifyView):
    serializer_class = StaffTokenVerifySerializer
    read_only_gate = False


@extend_schema(summary="Sign out: the refresh token is blacklisted", responses={200: None, 400: ErrorOutput, 401: ErrorOutput})
class StaffLogoutView(EnvelopeMixin, GatewayView, jwt_views.TokenBlacklistView):
    serializer_class = StaffLogoutSerializer
    read_only_gate = False


@extend_schema(
    summary="Sign out everywhere: every token of this staff user issued before now stops working",
    request=None,
    responses={200: None, 401: ErrorOutput, 403: ErrorOutput},
)
class StaffLogoutAllView(APIView):
    authentication_classes = [StaffJWTAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request):
        revocation.end_all(revocation.subject("staff", request.user.pk))
        services.staff_event(
            actor=Actor.staff(request.user, request), action="staff.logout", staff_id=request.user.pk, details={"everywhere": True}
        )
        return Response({"success": True})
