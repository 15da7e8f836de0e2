"""POST /api/auth/token's second factor: the `otp` field, checked once the password is right and
before any token is made (STAFF_2FA; the rules are clients.second_factor)."""

from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import TokenObtainSerializer

from clients import second_factor


class SecondFactorStep(TokenObtainSerializer):
    """Sits between simplejwt's pair serializer and its password check in the MRO
    (`class S(TokenObtainPairSerializer, SecondFactorStep)`), so the code is checked after
    authenticate() and before the pair is made. A missing or wrong code answers exactly what a
    wrong password answers; the sign-in limits have counted the attempt already (clients.signin)."""

    otp = serializers.CharField(
        required=False, allow_blank=True, write_only=True, max_length=64,
        help_text="The code of the user's authenticator app, or a backup code: needed once the user has a device (STAFF_2FA).",
    )  # fmt: skip

    def validate(self, attrs):
        result = super().validate(attrs)
        if not second_factor.token_sign_in_allowed(self.user, attrs.get("otp")):
            raise exceptions.AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        return result
