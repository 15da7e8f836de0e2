"""The staff second factor (STAFF_2FA): who must give a code, and whether a code is good.

A staff user's factor is one TOTP device (an authenticator app) and one static device holding
its backup codes, both django-otp's, made confirmed by clients.services.staff_otp_enrol once a
first code has been checked. `off`: no code is ever asked. `optional`: a user with a confirmed
device must give a code at every sign-in (the admin's form and POST /api/auth/token).
`required`: the same, and a staff user without a device signs in to the admin only to enrol
(the API refuses it until then).
"""

from base64 import b32encode
from binascii import unhexlify

import segno
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

BACKUP_CODES = 10
CODE_MAX_LENGTH = 16  # a backup code (django-otp's StaticToken) is at most 16 characters


def mode() -> str:
    return settings.STAFF_2FA


def has_device(user) -> bool:
    """A confirmed TOTP device (the backup codes come with it)."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def needs_code(user) -> bool:
    """Whether this user's sign-in must carry a good code."""
    return mode() != "off" and has_device(user)


def token_sign_in_allowed(user, code) -> bool:
    """POST /api/auth/token, once the password is right: a good code from a user with a device;
    a user without one only while 2FA is not `required` (enrolment is in the admin)."""
    if mode() == "off":
        return True
    if has_device(user):
        return verify(user, code) is not None
    return mode() == "optional"


def must_enrol(user) -> bool:
    """`required` and no device yet: the admin shows this user the enrolment page and nothing else."""
    return mode() == "required" and not has_device(user)


def normalise(code) -> str:
    """A code as typed: spaces and dashes dropped (apps show "123 456"), backup codes are lower case."""
    if not isinstance(code, str):
        return ""
    return code.replace(" ", "").replace("-", "").strip().lower()[:CODE_MAX_LENGTH]


def verify(user, code):
    """The device that accepts `code` (a TOTP code or an unused backup code), or None.

    django-otp refuses a TOTP code whose time step is not after the last one accepted (last_t),
    so a code works once, and a backup code is deleted as it is used. Devices are read FOR
    UPDATE inside one transaction (on SQLite the write lock), so two requests racing with the
    same code cannot both pass. Each failure also backs the device off (1, 2, 4 … s).
    """
    code = normalise(code)
    if not code:
        return None
    if settings.DATABASE_READ_ONLY:
        return _verify_without_writing(user, code)
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(code):
                return device
    return None


def _verify_without_writing(user, code):
    # A read-only gateway cannot record last_t nor spend a backup code: TOTP codes only, checked
    # against the last step recorded (a code may then be replayed within its 90 s window).
    if not code.isdigit():
        return None
    for device in TOTPDevice.objects.devices_for_user(user, confirmed=True):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        if totp.verify(int(code), device.tolerance, device.last_t + 1):
            return device
    return None


def new_key() -> str:
    """A new TOTP secret, hex as django-otp stores it."""
    return default_key()


def secret_text(key: str) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = b32encode(unhexlify(key)).decode("ascii")
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def provisioning_uri(user, key: str) -> str:
    return TOTPDevice(user=user, key=key).config_url


def qr_svg(user, key: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (no image request leaves the page)."""
    return segno.make(provisioning_uri(user, key), error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff")


def first_code_step(key: str, code) -> int | None:
    """The time step a first code belongs to (the enrolment's check), or None when it is wrong."""
    code = normalise(code)
    if not code.isdigit():
        return None
    totp = TOTP(unhexlify(key))
    return totp.t() if totp.verify(int(code), tolerance=1) else None


def backup_codes_left(user) -> int:
    device = StaticDevice.objects.devices_for_user(user, confirmed=True).first()
    return device.token_set.count() if device else 0
