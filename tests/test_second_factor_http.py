"""The second factor attacked over HTTP, against gunicorn with four workers on one file: one code
raced by parallel sign-ins gets in once, and a right password without its code, or with a guessed
one, reads exactly as a wrong password."""

from binascii import unhexlify
from concurrent.futures import ThreadPoolExecutor

import pytest
from django_otp.oath import TOTP

from tests.fixtures import manage
from tests.reliability import call

pytestmark = pytest.mark.http

STAFF, PASSWORD = "otp-http-staff", "otp-http-pass-123"
ENROL = f"""
from binascii import unhexlify
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP
from clients import second_factor, services
from clients.audit import Actor
user = get_user_model().objects.get(username={STAFF!r})
key = second_factor.new_key()
services.staff_otp_enrol(actor=Actor.system(), user=user, key=key, first_step=TOTP(unhexlify(key)).t() - 2)
print(key)
"""


@pytest.fixture
def enrolled(gateway_factory):
    gateway = gateway_factory(workers=4, THROTTLE_STAFF_LOGIN="100/hour", THROTTLE_LOGIN_ADDRESS="100/hour")
    manage({**gateway.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", STAFF, "--password", PASSWORD)
    key = manage(gateway.env, "shell", "-c", ENROL).stdout.strip().splitlines()[-1]
    return gateway, key


def sign_in(gateway, otp=None, password=PASSWORD):
    body = {"username": STAFF, "password": password, **({"otp": otp} if otp is not None else {})}
    return call(f"{gateway.url}/api/auth/token", "POST", body)


def test_one_code_raced_by_eight_sign_ins_gets_in_once(enrolled):
    gateway, key = enrolled
    code = f"{TOTP(unhexlify(key)).token():06d}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: sign_in(gateway, code), range(8)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] + [401] * 7, statuses


def test_no_code_or_a_guessed_one_reads_as_a_wrong_password(enrolled):
    gateway, key = enrolled
    wrong_password = sign_in(gateway, password="not-the-password")
    valid = {f"{TOTP(unhexlify(key), drift=offset).token():06d}" for offset in (-1, 0, 1, 2)}
    guess = next(code for code in ("123456", "654321", "000000") if code not in valid)
    for refused in (sign_in(gateway), sign_in(gateway, ""), sign_in(gateway, guess)):
        assert (refused.status, refused.raw) == (401, wrong_password.raw) and wrong_password.json["success"] is False
