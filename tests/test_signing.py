"""ES256 signing over HTTP against a real gunicorn: a program holding only the served JWKS checks
a client token with PyJWT (no shared secret); forged tokens (another key, alg none, HS256 made
with the public key, another issuer, the other audience) are refused and counted; a rotation keeps
the old key's tokens working while it is listed second and ends them once it is dropped."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ltplabs import signing_keys
from tests.fixtures import gateway_env, make_database_file, manage
from tests.reliability import call, record, rows

ISSUER = "ltplabs-gateway"


def active_client_email(db_path) -> str:
    (email,) = rows(db_path, "SELECT email FROM v_active_clients ORDER BY id LIMIT 1")[0]
    return email


def client_sign_in(gateway, email: str) -> dict:
    answer = call(f"{gateway.url}/api/client-auth/login", "POST", {"email": email, "password": "ltplabs-demo"})
    assert answer.status == 200, answer
    return answer.json


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


@pytest.fixture
def keyed(tmp_path, gateway_factory):
    """A gateway signing with a key of its own from JWT_SIGNING_KEY_FILE, on a file with sample clients."""
    pem = signing_keys.new_pem()
    key_file = tmp_path / "signing-key.pem"
    key_file.write_text(pem)
    db_path = make_database_file(tmp_path, clients=20)
    gateway = gateway_factory(db_path=db_path, JWT_SIGNING_KEY_FILE=key_file, JWT_SECRET="")
    return gateway, pem, db_path


def test_a_program_holding_only_the_jwks_verifies_a_client_token_with_pyjwt(keyed):
    gateway, pem, db_path = keyed
    served = call(f"{gateway.url}/.well-known/jwks.json")
    assert served.status == 200 and "public" in served.headers["Cache-Control"] and "max-age=" in served.headers["Cache-Control"]
    (public,) = served.json["keys"]
    assert set(public) == {"kty", "crv", "x", "y", "kid", "use", "alg"}  # no "d": nothing that signs
    access = client_sign_in(gateway, active_client_email(db_path))["access"]

    key_set = jwt.PyJWKSet.from_dict(served.json)  # what the verifier has: the served document, nothing else
    header = jwt.get_unverified_header(access)
    assert header["alg"] == "ES256" and header["kid"] == public["kid"]
    (key,) = [key for key in key_set.keys if key.key_id == header["kid"]]
    claims = jwt.decode(access, key, algorithms=["ES256"], audience="ltplabs-client", issuer=ISSUER)
    assert claims["token_type"] == "client_access" and claims["client_id"]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(access, key, algorithms=["ES256"], audience="ltplabs-staff", issuer=ISSUER)
    # The kid is the key's RFC 7638 thumbprint, which a verifier can recompute from the JWK.
    members = json.dumps({name: public[name] for name in ("crv", "kty", "x", "y")}, sort_keys=True, separators=(",", ":"))
    assert public["kid"] == b64(hashlib.sha256(members.encode()).digest())


def test_forged_tokens_are_refused_on_client_and_staff_routes(keyed):
    gateway, pem, db_path = keyed
    good = client_sign_in(gateway, active_client_email(db_path))["access"]
    staff = gateway.staff_token()
    assert call(f"{gateway.url}/api/me", token=good).status == 200
    assert call(f"{gateway.url}/api/clients", token=staff).status == 200
    kid = jwt.get_unverified_header(good)["kid"]
    claims = jwt.decode(good, options={"verify_signature": False})
    staff_claims = jwt.decode(staff, options={"verify_signature": False})
    own_key = serialization.load_pem_private_key(pem.encode(), password=None)
    other_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = own_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    later = {**claims, "exp": int(time.time()) + 3600}

    def hs256_with(secret: bytes, header_kid: str | None = kid, payload=later) -> str:
        header = {"alg": "HS256", "typ": "JWT", **({"kid": header_kid} if header_kid else {})}
        body = unsigned(header, payload)
        return f"{body}.{b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"

    forged = {
        "another key, the gateway's kid": jwt.encode(later, other_key, algorithm="ES256", headers={"kid": kid}),
        "another key, its own kid": jwt.encode(later, other_key, algorithm="ES256", headers={"kid": "attacker"}),
        "another key, no kid": jwt.encode(later, other_key, algorithm="ES256"),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, later) + ".",
        "HS256 keyed with the public key (PEM)": hs256_with(public_pem),
        "HS256 keyed with the JWK's x": hs256_with(base64.urlsafe_b64decode(signing_keys.public_members(own_key.public_key())["x"] + "=")),
        "the gateway's key, another issuer": jwt.encode({**later, "iss": "someone-else"}, own_key, algorithm="ES256", headers={"kid": kid}),
        "the gateway's key, no issuer": jwt.encode({k: v for k, v in later.items() if k != "iss"}, own_key, algorithm="ES256",
                                                   headers={"kid": kid}),
        "the gateway's key, staff audience on a client token": jwt.encode({**later, "aud": "ltplabs-staff"}, own_key, algorithm="ES256",
                                                                          headers={"kid": kid}),
    }  # fmt: skip
    answers = {name: call(f"{gateway.url}/api/me", token=token).status for name, token in forged.items()}
    staff_later = {**staff_claims, "exp": int(time.time()) + 3600}
    staff_forged = {
        "staff: another key": jwt.encode(staff_later, other_key, algorithm="ES256", headers={"kid": kid}),
        "staff: client audience": jwt.encode({**staff_claims, "aud": "ltplabs-client"}, own_key, algorithm="ES256", headers={"kid": kid}),
        "staff: alg none": unsigned({"alg": "none", "kid": kid}, staff_claims) + ".",
        "staff: HS256 keyed with the public key": hs256_with(public_pem, payload=staff_claims),
    }  # fmt: skip
    answers.update({name: call(f"{gateway.url}/api/clients", token=token).status for name, token in staff_forged.items()})
    through = [name for name, status in answers.items() if status < 400]
    record("forged ES256 tokens: another key, alg none, HS256 keyed with the public key, another issuer or audience",
           kind="attack", tries=len(answers), answered=list(answers.values()), rows_lost=None,
           integrity=f"accepted {len(through)} of {len(answers)}")  # fmt: skip
    assert through == [] and set(answers.values()) <= {401, 403}, answers
    # A staff token is no client token, and the reverse, by aud as well as by token type.
    assert call(f"{gateway.url}/api/me", token=staff).status == 403
    assert call(f"{gateway.url}/api/clients", token=good).status == 403


def test_rotation_keeps_the_old_keys_tokens_while_listed_second_and_ends_them_once_dropped(tmp_path, gateway_factory):
    old, new = signing_keys.new_pem(), signing_keys.new_pem()
    old_kid, new_kid = (signing_keys.parse(pem)[0].kid for pem in (old, new))
    db_path = make_database_file(tmp_path, clients=20)
    email = active_client_email(db_path)
    seen = {}

    def serve(*pems):
        key_file = tmp_path / f"keys-{len(seen)}.pem"
        key_file.write_text("".join(pems))
        gateway = gateway_factory(db_path=db_path, JWT_SIGNING_KEY_FILE=key_file, JWT_SECRET="")
        seen[len(seen)] = gateway
        return gateway

    first = serve(old)
    before = client_sign_in(first, email)
    first.stop()

    # Step 1: the new key added second; it verifies nothing yet but is published.
    # Step 2: moved first: it signs, and the old key's tokens still verify and refresh.
    second = serve(new, old)
    assert [key["kid"] for key in call(f"{second.url}/.well-known/jwks.json").json["keys"]] == [new_kid, old_kid]
    assert call(f"{second.url}/api/me", token=before["access"]).status == 200
    refreshed = call(f"{second.url}/api/client-auth/refresh", "POST", {"refresh": before["refresh"]})
    assert refreshed.status == 200 and jwt.get_unverified_header(refreshed.json["access"])["kid"] == new_kid
    old_token = jwt.encode({**jwt.decode(before["access"], options={"verify_signature": False})}, "x" * 32, algorithm="HS256")
    assert call(f"{second.url}/api/me", token=old_token).status == 401
    second.stop()

    # Step 3: the old key dropped: its tokens are refused, the new key's keep working.
    third = serve(new)
    answers = {"old": call(f"{third.url}/api/me", token=before["access"]).status,
               "new": call(f"{third.url}/api/me", token=refreshed.json["access"]).status}  # fmt: skip
    record("signing key rotation: the old key's token once the old key is dropped, then the new key's token", kind="attack",
           tries=2, answered=list(answers.values()), rows_lost=None, integrity=f"old key's token answered {answers['old']}")  # fmt: skip
    assert answers == {"old": 401, "new": 200}
    assert [key["kid"] for key in call(f"{third.url}/.well-known/jwks.json").json["keys"]] == [new_kid]


def test_hs256_installations_publish_no_keys(gateway_factory):
    gateway = gateway_factory()
    assert call(f"{gateway.url}/.well-known/jwks.json").json == {"keys": []}
    assert jwt.get_unverified_header(gateway.staff_token()) == {"alg": "HS256", "typ": "JWT"}


def test_a_bad_signing_key_refuses_start_up_with_a_sentence(tmp_path):
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p384_pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases = {
        "absent file": ({"JWT_SIGNING_KEY_FILE": str(tmp_path / "absent.pem")}, "JWT_SIGNING_KEY_FILE names"),
        "not PEM": ({"JWT_SIGNING_KEY": "not a key"}, "JWT_SIGNING_KEY holds no PEM block"),
        "an RSA key": ({"JWT_SIGNING_KEY": rsa_pem.decode()}, "not an EC P-256 private key"),
        "a P-384 key": ({"JWT_SIGNING_KEY": p384_pem.decode()}, "an EC key on secp384r1, not an EC P-256"),
        "a damaged block": ({"JWT_SIGNING_KEY": signing_keys.new_pem().replace("M", "A", 3)}, "is not an unencrypted private key"),
        "a public key": ({"JWT_SIGNING_KEY": signing_keys.parse(signing_keys.new_pem())[0].public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()}, "is not an unencrypted private key"),
    }  # fmt: skip
    for name, (extra, sentence) in cases.items():
        result = manage(gateway_env(tmp_path / "absent.db", **extra), "check", check=False)
        assert result.returncode != 0 and sentence in result.stderr, (name, result.stderr[-500:])


def test_signing_key_command_makes_and_lists_keys(tmp_path):
    env = gateway_env(tmp_path / "absent.db")
    pem = manage(env, "signing_key", "new").stdout
    assert signing_keys.parse(pem)
    out = tmp_path / "new.pem"
    assert "kid" in manage(env, "signing_key", "new", "--out", str(out)).stdout and oct(out.stat().st_mode & 0o777) == "0o600"
    assert manage(env, "signing_key", "new", "--out", str(out), check=False).returncode != 0  # never over an existing key
    listed = manage({**env, "JWT_SIGNING_KEY": pem + out.read_text()}, "signing_key", "list").stdout.splitlines()
    kids = [signing_keys.parse(text)[0].kid for text in (pem, out.read_text())]
    assert listed == [f"{kids[0]}  current: signs new tokens", f"{kids[1]}  verifies only"]
