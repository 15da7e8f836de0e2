"""Client passwords: bare bcrypt '$2b$' hashes, as demo-service's Node code writes and verifies."""

import re

import bcrypt
from django.conf import settings
from django.core.exceptions import ValidationError

PASSWORD_MIN_BYTES = 8
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further
BCRYPT_HASH = re.compile(r"\$2[ab]\$(\d\d)\$[./A-Za-z0-9]{53}")


def hash_password(password: str) -> str:
    """A bare bcrypt '$2b$' hash, as demo-service's Node code writes and verifies."""
    validate_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS)).decode("ascii")


def validate_password(password: str) -> None:
    size = len(password.encode("utf-8", "surrogatepass"))
    if size < PASSWORD_MIN_BYTES:
        raise ValidationError({"password": [f"Must be at least {PASSWORD_MIN_BYTES} bytes long."]})
    if size > PASSWORD_MAX_BYTES:
        raise ValidationError({"password": [f"Must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt reads no further)."]})
    if "\x00" in password:
        raise ValidationError({"password": ["Must not contain NUL characters."]})


def validate_password_hash(value: str) -> None:
    if not is_bcrypt_hash(value):
        raise ValidationError({"password_hash": ["Must be a bcrypt hash ($2a$ or $2b$, cost 10 to 31, 60 characters)."]})


def is_bcrypt_hash(value: str) -> bool:
    match = BCRYPT_HASH.fullmatch(value or "")
    return bool(match) and 10 <= int(match.group(1)) <= 31


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except (ValueError, UnicodeError):
        return False


# A hash of the same cost as new ones, checked against when the e-mail is unknown so that
# a refusal takes as long whether or not the address exists.
_DUMMY_HASH: bytes | None = None


def dummy_check(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS))
    try:
        bcrypt.checkpw(password.encode("utf-8", "surrogatepass")[:PASSWORD_MAX_BYTES], _DUMMY_HASH)
    except ValueError:
        pass
