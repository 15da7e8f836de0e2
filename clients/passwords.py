"""Client passwords: bare bcrypt '$2b$' hashes, as demo-service's Node code writes and verifies."""

import re

import bcrypt
from django.conf import settings
from django.core.exceptions import ValidationError

PASSWORD_MIN_BYTES = 8
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further
BCRYPT_HASH = re.compile(r"\$2[ab]\$(\d\d)\$[./A-Za-z0-9]{53}")
# A given hash's cost: below 10 is too weak, above 14 lets one anonymous sign-in hold a worker
# for seconds (cost 31: hours), a denial of service by a single create.
BCRYPT_MIN_COST, BCRYPT_MAX_COST = 10, 14


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
        message = f"Must be a bcrypt hash ($2a$ or $2b$, cost {BCRYPT_MIN_COST} to {BCRYPT_MAX_COST}, 60 characters)."
        raise ValidationError({"password_hash": [message]})


def is_bcrypt_hash(value: str) -> bool:
    match = BCRYPT_HASH.fullmatch(value or "")
    return bool(match) and BCRYPT_MIN_COST <= int(match.group(1)) <= BCRYPT_MAX_COST


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except (ValueError, UnicodeError):
        return False


def hash_cost(password_hash: str) -> int | None:
    match = BCRYPT_HASH.fullmatch(password_hash or "")
    return int(match.group(1)) if match else None


# Checked against when the e-mail is unknown, so that a refusal takes as long whether or not the
# address exists: at the cost the stored hashes use (those demo-service wrote may differ from
# BCRYPT_ROUNDS), read from the newest client's hash the first time it is needed.
_DUMMY_HASH: bytes | None = None


def dummy_check(password: str, stored_cost) -> None:
    """stored_cost: a callable giving a stored hash's cost (or None), asked once per process."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        cost = stored_cost() or settings.BCRYPT_ROUNDS
        cost = min(max(cost, 4), BCRYPT_MAX_COST)
        _DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=cost))
    try:
        bcrypt.checkpw(password.encode("utf-8", "surrogatepass")[:PASSWORD_MAX_BYTES], _DUMMY_HASH)
    except ValueError:
        pass
