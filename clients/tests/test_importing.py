"""Importing clients from CSV and XLSX: every row through client_create, all rows or none, a dry
run that reports each row and writes nothing; the command and the admin's two steps."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client as Browser
from django.urls import reverse
from openpyxl import Workbook

from clients.models import AuditLog, Client, ClientDemoAccess
from clients.tests.test_admin import HASH
from tests.fixtures import make_staff

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]
IMPORT = reverse("admin:clients_client_import")

GOOD = (
    "name,email,company,phone,access_days,demos,password_hash\n"
    f"Ana Import,ana.import@example.com,Sonae,+351 1,10,pricing-lab route-optimizer,{HASH}\n"
    f"Rui Import,rui.import@example.com,,,,,{HASH}\n"
)
ONE_BAD = GOOD + f"Bad Row,not-an-email,EDP,,0,no-such-demo,{HASH}\n" + f"Zoe Import,zoe.import@example.com,,,,,{HASH}\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args):
    out = io.StringIO()
    call_command("import_clients", *map(str, args), stdout=out)
    return out.getvalue()


def test_command_imports_every_row_through_client_create_with_its_audit_rows(tmp_path):
    output = run(write(tmp_path, "clients.csv", GOOD))
    assert "2 clients imported." in output
    ana = Client.objects.get(email="ana.import@example.com")
    assert (ana.company, ana.phone, ana.password_hash) == ("Sonae", "+351 1", HASH)
    assert sorted(ClientDemoAccess.objects.filter(client=ana).values_list("demo__slug", flat=True)) == ["pricing-lab", "route-optimizer"]
    assert AuditLog.objects.filter(action="client.create", actor_type="system").count() == 2


def test_one_bad_row_imports_nothing_and_says_which_fields_of_which_line(tmp_path):
    with pytest.raises(CommandError, match="1 of 4 rows have errors: nothing was imported"):
        run(write(tmp_path, "clients.csv", ONE_BAD))
    assert not Client.objects.filter(email__endswith="import@example.com").exists()
    assert not AuditLog.objects.filter(action="client.create").exists()


def test_dry_run_reports_each_row_and_writes_nothing(tmp_path, capsys):
    output = run(write(tmp_path, "clients.csv", GOOD), "--dry-run")
    assert "line 2: ana.import@example.com: would be created" in output and "dry run: nothing written" in output
    assert not Client.objects.exists() and not AuditLog.objects.exists()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_clients", str(write(tmp_path, "bad.csv", ONE_BAD)), "--dry-run", stdout=out)
    line = "line 4: not-an-email: access_days: Must be a whole number from 1 to 3650.; demos: Unknown demo 'no-such-demo'.; "
    assert line + "email: Enter a valid e-mail address." in out.getvalue()  # every field's error, not only the first


def test_a_duplicate_email_in_the_file_or_the_database_in_other_case_is_that_rows_error(tmp_path):
    run(write(tmp_path, "first.csv", GOOD))
    again = (
        f"name,email,password_hash\nNew,new.import@example.com,{HASH}\nDup,ANA.IMPORT@example.com,{HASH}\n"
        f"Twice,new.import@EXAMPLE.com,{HASH}\n"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 of 3 rows"):
        call_command("import_clients", str(write(tmp_path, "again.csv", again)), stdout=out)
    assert "line 3: ANA.IMPORT@example.com: email: A client with this e-mail already exists." in out.getvalue()
    assert not Client.objects.filter(email="new.import@example.com").exists()


def test_password_rows_are_hashed_with_bcrypt_and_a_row_with_neither_or_both_is_refused(tmp_path, settings):
    text = "name,email,password,password_hash\nPlain,plain@example.com,a-long-password,\nNeither,neither@example.com,,\n"
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_clients", str(write(tmp_path, "p.csv", text)), stdout=out)
    assert "line 3: neither@example.com: password: Give either password or password_hash." in out.getvalue()
    run(write(tmp_path, "ok.csv", "name,email,password\nPlain,plain@example.com,a-long-password\n"))
    assert Client.objects.get(email="plain@example.com").password_hash.startswith("$2b$")


def test_xlsx_is_read_like_csv(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Email", "access_days", "password_hash"])
    sheet.append(["Xlsx One", "x1@example.com", 12, HASH])
    path = tmp_path / "clients.xlsx"
    book.save(path)
    run(path)
    client = Client.objects.get(email="x1@example.com")
    assert AuditLog.objects.get(action="client.create", entity_id=client.id).details["access_days"] == 12


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.txt", b"name,email\n", "Give a .csv or an .xlsx file."),
        ("c.csv", b"name,mail\nA,a@example.com\n", "unknown column(s): mail; missing: email"),
        ("c.csv", b"\xff\xfe", "not UTF-8"),
        ("c.xlsx", b"not a zip", "cannot be read"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run(path)


# --- the admin's two steps ---------------------------------------------------------------


@pytest.fixture
def browser(staff_user):
    browser = Browser()
    browser.force_login(staff_user)
    return browser


def upload(browser, text, name="clients.csv"):
    return browser.post(IMPORT, {"file": SimpleUploadedFile(name, text.encode())})


def test_admin_upload_shows_the_dry_run_then_import_writes_every_row(browser, staff_user):
    response = upload(browser, GOOD)
    page = response.content.decode()
    assert "Dry run: nothing has been written" in page and page.count("will be created") == 2
    assert not Client.objects.exists()
    token = response.context["token"]
    response = browser.post(IMPORT, {"token": token})
    assert response.status_code == 302 and response["Location"] == reverse("admin:clients_client_changelist")
    assert Client.objects.count() == 2
    assert set(AuditLog.objects.filter(action="client.create").values_list("actor_type", "actor_id")) == {("staff", staff_user.id)}
    assert browser.post(IMPORT, {"token": token}).status_code == 302 and Client.objects.count() == 2  # not twice


def test_admin_upload_with_one_bad_row_offers_no_import_and_writes_nothing(browser):
    response = upload(browser, ONE_BAD)
    page = response.content.decode()
    assert response.context["token"] is None and 'id="import-confirm"' not in page
    assert "<strong>email</strong>: Enter a valid e-mail address." in page
    assert "<strong>demos</strong>" in page and "<strong>access_days</strong>" in page
    assert (
        not Client.objects.exists() and not AuditLog.objects.exclude(entity_type="staff_user").exists()
    )  # the fixture's staff user is audited


def test_a_guessed_or_another_sessions_token_imports_nothing(browser, staff_user):
    token = upload(browser, GOOD).context["token"]
    other = Browser()
    other.force_login(staff_user)
    for guess in (token, token[:-1] + "x", ""):
        other.post(IMPORT, {"token": guess})
    browser.post(IMPORT, {"token": "x" + token})
    assert not Client.objects.exists()


def test_a_viewer_cannot_import(viewer_user):
    browser = Browser()
    browser.force_login(viewer_user)
    assert browser.get(IMPORT).status_code == 403
    assert browser.post(IMPORT, {"file": SimpleUploadedFile("c.csv", GOOD.encode())}).status_code == 403
    assert not Client.objects.exists()


def test_without_a_session_a_staff_user_is_sent_to_sign_in():
    assert Browser().get(IMPORT).status_code == 302
    assert make_staff("x") is not None
