"""Staff sign-in with simplejwt: token, refresh (rotating, old one blacklisted), verify, logout."""

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.tokens import RefreshToken, Token

from clients.serializers import ErrorOutput, TokenPairOutput
from clients.signin import StaffSignInThrottle
from ltplabs.api.views import GatewayView


class StaffTokenObtainSerializer(jwt_serializers.TokenObtainPairSerializer):
    default_error_messages = {"no_active_account": "Invalid user name or password, or not an active staff user."}

    @classmethod
    def get_token(cls, user):
        if settings.DATABASE_READ_ONLY:
            # Nothing is recorded on a read-only gateway: no outstanding-token row.
            return Token.for_user.__func__(RefreshToken, user)
        return super().get_token(user)


class StaffTokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise exceptions.AuthenticationFailed("No active account found for the given token.") from None


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


@extend_schema(summary="A new access token and a new refresh token; the old refresh token is blacklisted", responses=_responses)
class StaffTokenRefreshView(EnvelopeMixin, GatewayView, jwt_views.TokenRefreshView):
    serializer_class = StaffTokenRefreshSerializer
    read_only_gate = False


@extend_schema(summary="Check a token", responses={200: None, 400: ErrorOutput, 401: ErrorOutput})
class StaffTokenVerifyView(EnvelopeMixin, GatewayView, jwt_views.TokenVerifyView):
    read_only_gate = False


@extend_schema(summary="Sign out: the refresh token is blacklisted", responses={200: None, 400: ErrorOutput, 401: ErrorOutput})
class StaffLogoutView(EnvelopeMixin, GatewayView, jwt_views.TokenBlacklistView):
    read_only_gate = False
