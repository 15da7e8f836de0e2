"""The ES256 signing keys (JWT_SIGNING_KEY): parsed once at start-up, named by their RFC 7638
thumbprint (the `kid` of every token header), published as a JWKS (RFC 7517, public halves only).

During a rotation JWT_SIGNING_KEY holds several PEM blocks, current first: the first signs new
tokens, every one of them verifies (README, "Rotating the signing key").
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict:
        """The public half as a JWK, with the members a verifier needs."""
        return {**public_members(self.public_key), "kid": self.kid, "use": "sig", "alg": "ES256"}


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def public_members(public_key: ec.EllipticCurvePublicKey) -> dict:
    numbers = public_key.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    canonical = json.dumps(public_members(public_key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def parse(pem_text: str, name: str = "JWT_SIGNING_KEY") -> list[SigningKey]:
    """Every PEM private key in pem_text, in order; a sentence naming `name` for anything else."""
    blocks = [match.group(0) for match in PEM_BLOCK.finditer(pem_text)]
    if not blocks:
        raise ImproperlyConfigured(f"{name} holds no PEM block: it must be an EC P-256 private key (manage.py signing_key new).")
    keys = []
    for number, block in enumerate(blocks, start=1):
        try:
            key = serialization.load_pem_private_key(block.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{name}: PEM block {number} is not an unencrypted private key ({exc}).") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            kind = f"an EC key on {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey) else type(key).__name__
            raise ImproperlyConfigured(f"{name}: PEM block {number} is {kind}, not an EC P-256 private key (ES256).")
        keys.append(SigningKey(thumbprint(key.public_key()), key))
    if len({key.kid for key in keys}) != len(keys):
        raise ImproperlyConfigured(f"{name} holds the same key twice.")
    return keys


def new_pem() -> str:
    """A new EC P-256 private key, PEM (PKCS#8)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
