"""The staff second factor (STAFF_2FA), attacked: guessed codes, replayed codes, a right password
with no code, the enrolment, backup codes, removal by a superuser, and `required` leading to
enrolment. Against the real schema file, through the real API views and admin pages."""

import random
import re
from base64 import b32decode
from binascii import unhexlify

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from clients import second_factor, services
from clients.admin.second_factor import PENDING_KEY
from clients.audit import Actor
from clients.models import AuditLog
from tests.fixtures import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

PASSWORD = "staff-pass-123"
TOKEN = "/api/auth/token"
LOGIN = reverse("admin:login")
ENROL = reverse("admin:second_factor")


@pytest.fixture
def no_device_backoff(settings):
    # django-otp waits 1, 2, 4 … s after each wrong code before it checks another: off where a
    # test follows a wrong code with a right one at once (the limits of clients.signin still count).
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def enrolled(user) -> tuple[str, list[str]]:
    """A confirmed device whose codes of the current step and its neighbours are all unused."""
    key = second_factor.new_key()
    codes = services.staff_otp_enrol(actor=Actor.system(), user=user, key=key, first_step=TOTP(unhexlify(key)).t() - 2)
    return key, codes


def code(key: str, steps_ahead: int = 0) -> str:
    totp = TOTP(unhexlify(key), drift=steps_ahead)
    return f"{totp.token():06d}"


def sign_in(user, otp=None, address="198.51.100.7"):
    body = {"username": user.username, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    return APIClient(REMOTE_ADDR=address).post(TOKEN, body, format="json")


@pytest.fixture
def staff(db):
    return make_staff("otp-staff", ["clients.view_client"])


# --- POST /api/auth/token ------------------------------------------------------------------


def test_right_password_without_the_code_answers_exactly_what_a_wrong_password_answers(staff, no_device_backoff):
    key, _ = enrolled(staff)
    wrong_password = APIClient(REMOTE_ADDR="198.51.100.7").post(TOKEN, {"username": staff.username, "password": "nope"}, format="json")
    for refused in (sign_in(staff), sign_in(staff, ""), sign_in(staff, "000000" if code(key) != "000000" else "111111")):
        assert (refused.status_code, refused.content) == (wrong_password.status_code, wrong_password.content)
        assert refused.status_code == 401
    assert not AuditLog.objects.filter(action="staff.login").exists()
    assert sign_in(staff, code(key)).status_code == 200
    assert AuditLog.objects.filter(action="staff.login", entity_id=staff.pk).count() == 1


def test_a_used_code_is_refused_the_second_time(staff, no_device_backoff):
    key, _ = enrolled(staff)
    step, now = TOTP(unhexlify(key)).t(), code(key)
    assert sign_in(staff, now).status_code == 200
    replayed = sign_in(staff, now)
    assert replayed.status_code == 401
    assert TOTPDevice.objects.get(user=staff).last_t in (step, step + 1)  # django-otp's last_t (a step may pass meanwhile)
    assert sign_in(staff, code(key, 1)).status_code == 200  # the next step's code is new
    assert sign_in(staff, code(key, 1)).status_code == 401


def test_an_earlier_steps_code_is_refused_once_a_later_one_was_used(staff, no_device_backoff):
    key, _ = enrolled(staff)
    assert sign_in(staff, code(key, 1)).status_code == 200
    assert sign_in(staff, code(key)).status_code == 401  # inside the tolerance, but not after last_t


def test_guessed_codes_never_get_in_and_the_sign_in_limit_stops_the_guessing(staff, throttle_rates, no_device_backoff):
    throttle_rates(staff_login="10/hour", login_address="1000/hour", login_account="1000/hour")
    key, _ = enrolled(staff)
    valid = {code(key, offset) for offset in (-1, 0, 1)} | {code(key, 2)}  # the window, and the next one
    guesses = [f"{number:06d}" for number in random.Random(17).sample(range(1_000_000), 60) if f"{number:06d}" not in valid]
    answers = [sign_in(staff, guess).status_code for guess in guesses]
    assert answers.count(200) == 0
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    assert sign_in(staff, code(key)).status_code == 429  # locked out: the right code waits too
    assert sign_in(staff, code(key), address="198.51.100.8").status_code == 200  # another address: not locked


def test_guessing_against_the_device_alone_gets_nothing_through(staff, throttle_rates, no_device_backoff):
    # Limits far away: 300 wrong codes, counted one by one, none accepted, and the right one still works.
    throttle_rates(staff_login="1000/hour", login_address="1000/hour", login_account="1000/hour")
    key, _ = enrolled(staff)
    valid = {code(key, offset) for offset in (-1, 0, 1, 2)}
    guesses = [f"{number:06d}" for number in random.Random(99).sample(range(1_000_000), 300) if f"{number:06d}" not in valid]
    accepted = sum(sign_in(staff, guess).status_code == 200 for guess in guesses)
    assert accepted == 0
    assert sign_in(staff, code(key)).status_code == 200


def test_a_wrong_code_backs_the_device_off(settings, staff):
    settings.OTP_TOTP_THROTTLE_FACTOR = 3600  # the first back-off an hour long: no outcome depends on this machine's speed
    key, _ = enrolled(staff)
    assert sign_in(staff, "999999" if code(key) != "999999" else "888888").status_code == 401
    assert sign_in(staff, code(key)).status_code == 401  # backing off: not even the right code is checked
    assert TOTPDevice.objects.get(user=staff).throttling_failure_count == 1


def test_each_backup_code_signs_in_once(staff, no_device_backoff):
    _, backup = enrolled(staff)
    assert len(backup) == 10 and len(set(backup)) == 10
    assert sign_in(staff, backup[0].upper()).status_code == 200
    assert sign_in(staff, backup[0]).status_code == 401
    assert StaticToken.objects.filter(device__user=staff).count() == 9


@pytest.mark.parametrize(
    ("mode", "with_device", "otp", "status"),
    [
        ("off", True, None, 200),
        ("optional", False, None, 200),
        ("required", False, None, 401),
        ("required", True, "code", 200),
        ("required", True, None, 401),
    ],
)
def test_staff_2fa_modes(settings, staff, mode, with_device, otp, status):
    settings.STAFF_2FA = mode
    key = enrolled(staff)[0] if with_device else None
    assert sign_in(staff, code(key) if otp else None).status_code == status


# --- the admin's sign-in ---------------------------------------------------------------------


def admin_login(browser, user, otp=None, password=PASSWORD):
    data = {"username": user.username, "password": password, "next": reverse("admin:index")}
    if otp is not None:
        data["otp"] = otp
    return browser.post(LOGIN, data)


def test_admin_sign_in_takes_the_code_and_refuses_none_or_a_replay_like_a_wrong_password(staff, no_device_backoff):
    key, _ = enrolled(staff)
    wrong_password = admin_login(Browser(), staff, password="nope")
    error = wrong_password.context["form"].non_field_errors()
    for refused in (admin_login(Browser(), staff), admin_login(Browser(), staff, "12")):
        assert refused.status_code == 200 and refused.context["form"].non_field_errors() == error
    browser = Browser()
    now = code(key)
    assert admin_login(browser, staff, now).status_code == 302
    assert browser.get(reverse("admin:index")).status_code == 200
    replay = admin_login(Browser(), staff, now)
    assert replay.status_code == 200 and replay.context["form"].non_field_errors() == error


def test_admin_sign_in_failures_of_the_code_count_with_the_api(staff, throttle_rates, no_device_backoff):
    throttle_rates(staff_login="10/hour")
    key, _ = enrolled(staff)
    browser = Browser(REMOTE_ADDR="192.0.2.60")
    for _ in range(5):
        assert admin_login(browser, staff, "000001").status_code == 200
        assert sign_in(staff, "000001", address="192.0.2.60").status_code == 401
    assert admin_login(browser, staff, code(key)).status_code == 429


def test_a_session_without_the_device_is_sent_back_to_sign_in(staff):
    enrolled(staff)
    browser = Browser()
    browser.force_login(staff)  # a password-only session (from before the device)
    response = browser.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_and_a_first_code_turns_it_on(staff):
    browser = Browser(REMOTE_ADDR="192.0.2.70", HTTP_USER_AGENT="pytest-otp")
    browser.force_login(staff)
    page = browser.get(ENROL)
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and "otp-secret" in html
    assert not re.search(r"<img|https?://(?!www\.w3\.org)", html.split('id="otp-qr"')[1].split("</div>")[0])  # inline only
    key = browser.session[PENDING_KEY]
    secret = page.context["secret"].replace(" ", "")
    assert unhexlify(key) == b32decode(secret)
    assert browser.get(ENROL).context["secret"] == page.context["secret"]  # a reload keeps the secret

    wrong = browser.post(ENROL, {"code": "000000" if code(key) != "000000" else "111111"})
    assert wrong.status_code == 200 and wrong.context["form"].errors and not TOTPDevice.objects.filter(user=staff).exists()
    done = browser.post(ENROL, {"code": code(key)})
    assert done.status_code == 200 and len(done.context["backup_codes"]) == 10
    device = TOTPDevice.objects.get(user=staff, confirmed=True)
    assert StaticToken.objects.filter(device__user=staff).count() == 10
    entry = AuditLog.objects.get(action="staff.otp_enrol")
    assert (entry.entity_type, entry.entity_id, entry.actor_type, entry.actor_id) == ("staff_user", staff.pk, "staff", staff.pk)
    assert (entry.ip_address, entry.user_agent) == ("192.0.2.70", "pytest-otp")
    assert browser.get(reverse("admin:index")).status_code == 200  # this session is now verified
    assert device.last_t >= TOTP(unhexlify(key)).t() - 1
    assert sign_in(staff, code(key)).status_code == 401  # the enrolment's code is spent
    assert "backup code" in browser.get(ENROL).content.decode()  # the status page: no new secret


def test_required_leads_a_staff_user_without_a_device_to_enrolment_before_any_page(settings, staff):
    settings.STAFF_2FA = "required"
    browser = Browser()
    assert admin_login(browser, staff).status_code == 302
    for page in (reverse("admin:index"), reverse("admin:clients_client_changelist"), reverse("admin:password_change")):
        response = browser.get(page)
        assert response.status_code == 302 and response["Location"].startswith(ENROL), page
    page = browser.get(ENROL)
    assert page.status_code == 200 and page.context["required"] and "otp-required" in page.content.decode()
    key = browser.session[PENDING_KEY]
    browser.post(ENROL, {"code": code(key)})
    assert browser.get(reverse("admin:clients_client_changelist")).status_code == 200


def test_off_asks_no_code_and_has_no_enrolment_page(settings, staff):
    settings.STAFF_2FA = "off"
    enrolled(staff)
    browser = Browser()
    assert admin_login(browser, staff).status_code == 302
    assert browser.get(reverse("admin:index")).status_code == 200
    assert browser.get(ENROL).status_code == 404


# --- removal by a superuser ------------------------------------------------------------------


def test_a_superuser_removes_a_staff_users_device_and_it_is_audited(staff):
    enrolled(staff)
    boss = make_staff("otp-boss", is_superuser=True)
    browser = Browser()
    browser.force_login(boss)
    changelist = reverse("admin:otp_totp_totpdevice_changelist")
    page = browser.get(changelist)
    assert page.status_code == 200 and staff.username in page.content.decode()
    device = TOTPDevice.objects.get(user=staff)
    assert device.key not in page.content.decode()
    response = browser.post(changelist, {"action": "remove_devices", "_selected_action": [device.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=staff).exists() and not StaticDevice.objects.filter(user=staff).exists()
    entry = AuditLog.objects.get(action="staff.otp_remove")
    assert (entry.entity_type, entry.entity_id, entry.actor_id, entry.details) == ("staff_user", staff.pk, boss.pk, {"devices": 2})
    assert sign_in(staff).status_code == 200  # optional, and no device any more: the password alone


def test_device_pages_are_for_superusers_only(staff):
    enrolled(staff)
    other = make_staff("otp-other", ["clients.view_client"])
    browser = Browser()
    browser.force_login(other)
    assert browser.get(reverse("admin:otp_totp_totpdevice_changelist")).status_code == 403
