"""The admin in English and European Portuguese: every string of ours in the pt_PT catalogue, the
committed .mo compiled from the committed .po, the language chosen by the browser or the switch,
dates in that language, and the API in English whatever the admin's last request spoke."""

import ast
import gettext
import os
import shutil
import subprocess
import sys

import pytest
from django.test import Client as Browser
from django.urls import reverse
from rest_framework.test import APIClient

from tests.fixtures import ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

PO = ROOT / "locale" / "pt_PT" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCES = ("clients", "database", "health", "ltplabs", "templates", "manage.py")


def msgfmt() -> str:
    found = shutil.which("msgfmt")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("msgfmt is missing (apt-get install gettext)")
        pytest.skip("msgfmt is missing (apt-get install gettext)")
    return found


def test_the_catalogue_has_no_untranslated_or_fuzzy_entry():
    result = subprocess.run([msgfmt(), "--check", "--statistics", "-o", os.devnull, str(PO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    assert int(result.stderr.split()[0]) > 150


def test_every_marked_string_of_ours_is_in_the_catalogue(tmp_path):
    """makemessages over a copy of the sources finds no msgid the committed catalogue lacks."""
    msgfmt()
    for name in SOURCES:
        source = ROOT / name
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("tests", "__pycache__", "migrations"))
        else:
            shutil.copy(source, target)
    (tmp_path / "locale").mkdir()
    env = {**os.environ, "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "ltplabs.settings"}
    command = [sys.executable, "manage.py", "makemessages", "-l", "pt_PT", "--no-location"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = msgids(tmp_path / "locale" / "pt_PT" / "LC_MESSAGES" / "django.po")
    assert found and found <= msgids(PO), found - msgids(PO)


def msgids(path) -> set[str]:
    """The msgids of a .po file (its continuation lines joined), the header's empty one left out."""
    found, current = set(), None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            current = [ast.literal_eval(line[len("msgid ") :])]
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
        else:
            if current is not None and "".join(current):
                found.add("".join(current))
            current = None
    return found


def test_the_committed_mo_is_the_committed_po_compiled(tmp_path):
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt(), "-o", str(fresh), str(PO)], check=True)
    with open(fresh, "rb") as new, open(MO, "rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(new)._catalog


def test_accept_language_pt_pt_picks_portuguese_and_english_otherwise():
    login = reverse("admin:login")
    portuguese = Browser(HTTP_ACCEPT_LANGUAGE="pt-PT,pt;q=0.9,en;q=0.5").get(login).content.decode()
    assert 'value="Iniciar sessão"' in portuguese and 'lang="pt-pt"' in portuguese
    english = Browser(HTTP_ACCEPT_LANGUAGE="en-GB").get(login).content.decode()
    assert 'value="Log in"' in english


def test_the_switch_is_a_csrf_checked_post_and_the_choice_sticks(staff_user):
    strict = Browser(enforce_csrf_checks=True)
    assert strict.post(reverse("set_language"), {"language": "pt-pt", "next": "/admin/"}).status_code == 403
    browser = Browser()
    browser.force_login(staff_user)
    switched = browser.post(reverse("set_language"), {"language": "pt-pt", "next": "/admin/clients/client/"})
    assert switched.status_code == 302 and switched["Location"] == "/admin/clients/client/"
    page = browser.get(reverse("admin:clients_client_changelist")).content.decode()
    assert "Prolongar o acesso por 30 dias" in page and "Terminar todas as sessões" in page
    assert "Extend access by 30 days" not in page


def test_dates_follow_the_language(staff_user):
    from clients.models import Client
    from clients.tests.test_admin import make_client

    make_client("Datas", "datas@example.com", end_in_days=3.5)  # 3 whole days left however long the page takes to come
    end = Client.objects.get(email="datas@example.com").access_end_date
    browser = Browser(HTTP_ACCEPT_LANGUAGE="pt-PT")
    browser.force_login(staff_user)
    home = browser.get(reverse("admin:index")).content.decode()
    months = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"]
    assert f"{end.day} de {months[end.month - 1]} de {end.year} às" in home.lower()  # Django capitalises the month
    assert "3 dias" in browser.get(reverse("admin:clients_client_changelist")).content.decode()


def test_the_api_answers_in_english_after_the_admin_spoke_portuguese(staff_user):
    # The language is the thread's: an admin page in Portuguese must not leave it to the API.
    assert "Iniciar sessão" in Browser(HTTP_ACCEPT_LANGUAGE="pt-PT").get(reverse("admin:login")).content.decode()
    api = APIClient(HTTP_ACCEPT_LANGUAGE="pt-PT")
    answer = api.post("/api/auth/token", {"username": "staff"}, format="json")
    assert answer.status_code == 400 and "This field is required." in answer.content.decode()
    assert "Content-Language" not in answer and "Accept-Language" not in answer.get("Vary", "")
