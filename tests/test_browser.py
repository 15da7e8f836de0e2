"""The staff admin in a real browser: Debian's headless Chromium, driven by Playwright, against a
real gunicorn on a real database file. Each step leaves a screenshot in test-artifacts/screenshots/
(screenshots-postgres/ on PostgreSQL; CI keeps the folder). Without Chromium these tests skip, except under CI, where they fail."""

import os
import re
import shutil
import sqlite3

import pytest

from tests.fixtures import ROOT, manage

pytestmark = [pytest.mark.browser, pytest.mark.http]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# A folder per backend: make test runs the PostgreSQL suite beside the SQLite one.
SCREENSHOTS = ROOT / "test-artifacts" / ("screenshots-postgres" if os.environ.get("DATABASE_URL") else "screenshots")
# As root in a sandbox with no network: no sandbox, and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
STAFF, PASSWORD = "browser-staff", "browser-staff-pass-123"


@pytest.fixture(scope="module")
def chromium():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium is not at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, user_agent="ltplabs-browser-test")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # animations="disabled": the admin's links fade their colours (0.15 s), so a shot right after a
    # switch to dark mode would catch them half-way.
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def sign_in(page, gateway) -> None:
    page.goto(f"{gateway.url}/admin/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{gateway.url}/admin/")


@pytest.fixture
def gateway(gateway_factory):
    """gunicorn on a new file of 300 sample clients, and a staff superuser."""
    gateway = gateway_factory(clients=300)
    manage({**gateway.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", STAFF, "--password", PASSWORD)
    return gateway


def test_staff_signs_in_searches_extends_access_and_reads_the_audit_log(page, gateway):
    page.goto(f"{gateway.url}/admin/")
    shot(page, "01-login")
    sign_in(page, gateway)
    assert "LTP Labs" in page.inner_text("#site-name")
    shot(page, "02-index")

    page.click(".ltp-intro >> text=Active clients")
    page.wait_for_url(re.compile(r"status=active"))
    assert page.locator(".ltp-status-expired").count() == 0
    page.goto(f"{gateway.url}/admin/clients/client/")
    assert page.locator("#result_list tbody tr").count() == 50
    assert page.locator(".ltp-status-active").count() > 0
    shot(page, "03-clients")

    page.fill("#searchbar", "silva")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=silva"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() > 0
    for text in rows.all_inner_texts():
        assert "silva" in text.lower()
    shot(page, "04-search-silva")

    first_two = page.locator("#result_list tbody tr").nth(0), page.locator("#result_list tbody tr").nth(1)
    names = [row.locator("th a").inner_text() for row in first_two]
    for row in first_two:
        row.locator("input.action-select").check()
    page.select_option("select[name=action]", "extend_30_days")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li.success")
    assert page.inner_text("ul.messagelist li.success") == "Extended access by 30 days for 2 clients."
    shot(page, "05-action-extended")

    page.locator("#result_list tbody tr th a", has_text=names[0]).first.click()
    page.wait_for_url(re.compile(r"/admin/clients/client/\d+/change/"))
    assert page.locator("input[name=password]").get_attribute("value") in (None, "")
    assert "$2b$" not in page.content()
    shot(page, "06-client-change")

    page.click("text=Audit history")
    page.wait_for_url(re.compile(r"entity_type=client&entity_id=\d+"))
    actions = page.locator("#result_list tbody td.field-action").all_inner_texts()
    assert "client.extend" in actions and "client.create" in actions
    shot(page, "07-client-history")

    page.locator("#result_list tbody tr", has_text="client.extend").locator("th a").first.click()
    details = page.inner_text("pre.ltp-json")
    assert '"days": 30' in details
    assert page.locator("input[name=_save]").count() == 0
    shot(page, "08-audit-entry")

    page.goto(f"{gateway.url}/admin/clients/auditlog/?actor_type=staff")
    staff_rows = page.locator("#result_list tbody tr")
    assert staff_rows.count() == 2 and set(page.locator("td.field-action").all_inner_texts()) == {"client.extend"}
    shot(page, "09-audit-log-staff")

    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT actor_type, ip_address, user_agent FROM audit_log WHERE action = 'client.extend'").fetchall()
    assert rows == [("staff", "127.0.0.1", "ltplabs-browser-test")] * 2


def test_read_only_gateway_lets_staff_sign_in_and_look_but_offers_no_change(page, gateway_factory):
    gateway = gateway_factory(clients=300, DATABASE_READ_ONLY="1")
    manage({**gateway.env, "DJANGO_DEBUG": "1", "DATABASE_READ_ONLY": "0"}, "create_dev_staff", "--username", STAFF, "--password", PASSWORD)
    sign_in(page, gateway)
    page.goto(f"{gateway.url}/admin/clients/client/?status=expired")
    assert "DATABASE_READ_ONLY=1" in page.inner_text("ul.messagelist")
    assert page.locator("select[name=action]").count() == 0
    assert page.locator("a.addlink").count() == 0
    assert page.locator("#result_list tbody tr").count() > 0
    shot(page, "10-read-only-clients")
    page.locator("#result_list tbody tr th a").first.click()
    assert page.locator("input[name=_save]").count() == 0
    shot(page, "11-read-only-client")


def shot_at_widths(page, name: str) -> None:
    """The page at 1366 and 1400 px, in light and dark mode."""
    for width in (1366, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            shot(page, f"{name}-{width}-{scheme}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1400, "height": 900})


def dashboard_figures(page) -> dict[str, int]:
    return {
        key: int(page.inner_text(f"#count-{key} .ltp-card-number"))
        for key in ("active", "expired", "inactive", "expiring-7", "expiring-30")
    }


def test_dashboard_shows_the_files_counts_charts_and_extends_the_soonest_client(page, gateway):
    import json
    import urllib.request

    for _ in range(3):  # three sign-ins of a sample client today, through the real API
        request = urllib.request.Request(
            f"{gateway.url}/api/client-auth/login", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"email": first_active_email(gateway), "password": "ltplabs-demo"}).encode(),
        )  # fmt: skip
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
    sign_in(page, gateway)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{gateway.url}/admin/")
    assert all(url.startswith(gateway.url) for url in requests), requests  # no request leaves the page
    shown = dashboard_figures(page)
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        at = db.execute("SELECT datetime('now')").fetchone()[0]
        expected = {
            "active": db.execute("SELECT COUNT(*) FROM v_active_clients").fetchone()[0],
            "expired": db.execute("SELECT COUNT(*) FROM clients WHERE is_active = 1 AND access_end_date <= ?", [at]).fetchone()[0],
            "inactive": db.execute("SELECT COUNT(*) FROM clients WHERE is_active = 0").fetchone()[0],
            "expiring-7": db.execute(
                "SELECT COUNT(*) FROM v_active_clients WHERE access_end_date <= datetime(?, '+7 days')", [at]
            ).fetchone()[0],
            "expiring-30": db.execute(
                "SELECT COUNT(*) FROM v_active_clients WHERE access_end_date <= datetime(?, '+30 days')", [at]
            ).fetchone()[0],
        }
        soonest = db.execute(
            "SELECT name, access_end_date FROM v_active_clients WHERE access_end_date IS NOT NULL ORDER BY access_end_date, id LIMIT 1"
        ).fetchone()
    assert shown == expected and expected["expiring-30"] > 0 and sum(shown[key] for key in ("active", "expired", "inactive")) == 300
    listed = page.locator("#expiring-soonest tbody tr")
    assert listed.count() == min(20, expected["expiring-30"])
    assert listed.first.locator("td").first.locator("a").inner_text() == soonest[0]
    today = page.locator("#chart-sign-ins svg g.ltp-bar:last-child title").text_content()
    assert today.endswith(": 3")
    assert page.locator("#chart-demo-opens svg g.ltp-bar").count() == 6
    assert page.locator("#chart-new-clients svg g.ltp-bar").count() == 12
    assert page.locator("ul.ltp-quick li").evaluate_all("items => items.map(item => getComputedStyle(item).listStyleType)") == ["none"] * 4
    assert "client.login" in page.inner_text("#recent-actions-module")
    shot_at_widths(page, "20-dashboard")

    listed.first.locator("button", has_text="Extend 30 days").click()
    page.wait_for_selector("ul.messagelist li.success")
    assert page.url == f"{gateway.url}/admin/"
    assert page.inner_text("ul.messagelist li.success").startswith(f"Extended access for {soonest[0]} by 30 days")
    shot(page, "21-dashboard-extended")
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        end = db.execute("SELECT access_end_date FROM clients WHERE name = ?", [soonest[0]]).fetchone()[0]
        audit = db.execute("SELECT actor_type, json_extract(details, '$.days') FROM audit_log WHERE action = 'client.extend'").fetchall()
    assert end > soonest[1] and audit == [("staff", 30)]


def first_active_email(gateway) -> str:
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT email FROM v_active_clients ORDER BY id LIMIT 1").fetchone()[0]


def test_clients_list_fits_1366_px_and_bulk_actions_take_a_parameter(page, gateway):
    sign_in(page, gateway)
    for width in (1366, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{gateway.url}/admin/clients/client/?o=5")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        results = page.locator("#changelist .results")  # the admin scrolls a too-wide table inside it
        assert results.evaluate("element => element.scrollWidth <= element.clientWidth"), width
        one_line = "cells => cells.every(cell => cell.getClientRects().length && cell.querySelectorAll('br').length === 0 && "
        one_line += "cell.clientHeight < 2.2 * parseFloat(getComputedStyle(cell).lineHeight || 16))"
        for column in ("th.field-name", "td.field-days_remaining_display", "td.field-registered"):
            assert page.locator(f"#result_list tbody {column}").evaluate_all(one_line), (width, column)  # no wrapped names or dates
        registered = page.locator("#result_list tbody td.field-registered").first.inner_text()
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}", registered), registered
    days = page.locator("#result_list tbody td.field-days_remaining_display").all_inner_texts()
    assert days[0].startswith("expired") and not any(text.startswith("-") for text in days)
    shot_at_widths(page, "22-clients-by-days-left")
    page.goto(f"{gateway.url}/admin/clients/client/?o=-5")
    assert page.locator("#result_list tbody td.field-days_remaining_display").first.inner_text() == "no end date"
    page.goto(f"{gateway.url}/admin/clients/client/?expiring=30")
    assert page.locator("#result_list tbody tr").count() > 0
    shot(page, "23-clients-expiring-30")

    rows = page.locator("#result_list tbody tr")
    names = [rows.nth(index).locator("th a").inner_text() for index in range(3)]
    for index in range(3):
        rows.nth(index).locator("input.action-select").check()
    page.select_option("select[name=action]", "grant_demo")
    page.click("button[name=index]")
    page.wait_for_selector("#action-form")
    for name in names:
        assert name in page.inner_text("ul.ltp-chosen")
    page.select_option("select[name=demo]", label="Workforce Planner")
    page.fill("input[name=expires_at_0]", "2031-05-06")
    page.fill("input[name=expires_at_1]", "07:08:09")
    shot(page, "24-action-grant-demo-form")
    page.click("#action-form input[type=submit]")
    page.wait_for_selector("ul.messagelist li.success")
    assert re.fullmatch(
        r"Granted Workforce Planner to \d of 3 clients\.( \d had it already \(unchanged\)\.)?", page.inner_text("ul.messagelist li.success")
    )
    shot(page, "25-action-grant-demo-done")

    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/admin/clients/client/\d+/change/"))
    page.fill("#id_extend_days", "10")
    shot(page, "26-client-extend-by-n")
    page.click("#extend-form button")
    page.wait_for_selector("ul.messagelist li.success")
    assert "by 10 days" in page.inner_text("ul.messagelist li.success")
    shot_at_widths(page, "27-client-extended")
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        grants = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'access.grant' AND actor_type = 'staff'").fetchone()[0]
        extends = db.execute("SELECT json_extract(details, '$.days') FROM audit_log WHERE action = 'client.extend'").fetchall()
    assert 1 <= grants <= 3 and extends == [(10,)]


def test_audit_log_names_people_searches_by_email_and_shows_before_and_after(page, gateway):
    sign_in(page, gateway)
    email = first_active_email(gateway)
    page.goto(f"{gateway.url}/admin/clients/client/?q={email}")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/admin/clients/client/\d+/change/"))
    name = page.input_value("#id_name")
    page.fill("#id_company", "Renamed Lda")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist li.success")

    page.goto(f"{gateway.url}/admin/clients/auditlog/?q={email.upper()}")
    entities = set(page.locator("#result_list tbody td.field-entity_link").all_inner_texts())
    assert entities == {name}
    actors = page.locator("#result_list tbody td.field-actor").all_inner_texts()
    assert STAFF in actors and "system" in actors
    times = page.locator("#result_list tbody th.field-time").all_inner_texts()
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", time) for time in times), times
    shot_at_widths(page, "28-audit-search-by-email")
    page.locator("#result_list tbody tr", has_text="client.update").locator("th a").first.click()
    before = page.inner_text("table.ltp-changes td.ltp-before")
    after = page.inner_text("table.ltp-changes td.ltp-after")
    assert after == "Renamed Lda" and before != after
    shot_at_widths(page, "29-audit-update-before-after")


def test_import_shows_a_dry_run_refuses_a_file_with_one_bad_row_and_imports_a_good_one(page, gateway, tmp_path):
    hash_ = "$2b$10$.F1S/9sN1v/GCvIeXCBqi.nsCy/bbhJtTjTAsZdVdPighTlkhYFzK"
    good = "name,email,company,access_days,demos,password_hash\n" + "".join(
        f"Event Guest {number},guest{number}@event.example,Expo Lda,14,pricing-lab,{hash_}\n" for number in range(5)
    )
    bad = good + f"Broken,not-an-email,,0,,{hash_}\n"
    (tmp_path / "bad.csv").write_text(bad)
    (tmp_path / "good.csv").write_text(good)
    sign_in(page, gateway)
    page.goto(f"{gateway.url}/admin/clients/client/")
    page.click("#import-clients")
    page.set_input_files("input[name=file]", str(tmp_path / "bad.csv"))
    page.click("#import-upload input[type=submit]")
    page.wait_for_selector("#import-outcome")
    assert page.locator("#import-confirm").count() == 0
    assert page.locator("#import-rows tr.ltp-row-error").count() == 1 and page.locator("#import-rows tr.ltp-row-ok").count() == 5
    assert "Enter a valid e-mail address." in page.inner_text("#import-rows tr.ltp-row-error")
    shot_at_widths(page, "30-import-one-bad-row")
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        assert db.execute("SELECT COUNT(*) FROM clients WHERE email LIKE '%@event.example'").fetchone()[0] == 0

    page.set_input_files("input[name=file]", str(tmp_path / "good.csv"))
    page.click("#import-upload input[type=submit]")
    page.wait_for_selector("#import-confirm")
    shot(page, "31-import-dry-run")
    page.click("#import-confirm input[type=submit]")
    page.wait_for_selector("ul.messagelist li.success")
    assert page.inner_text("ul.messagelist li.success") == "Imported 5 clients."
    shot(page, "32-import-done")
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        created = db.execute("SELECT COUNT(*) FROM clients WHERE email LIKE '%@event.example'").fetchone()[0]
        audited = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'client.create' AND actor_type = 'staff'").fetchone()[0]
    assert (created, audited) == (5, 5)


# --- the second factor and the language switch (STAFF_2FA, locale/pt_PT) ----------------------


def totp_code(secret_text: str, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for the secret the enrolment page printed."""
    from base64 import b32decode

    from django_otp.oath import TOTP

    return f"{TOTP(b32decode(secret_text.replace(' ', '')), drift=steps_ahead).token():06d}"


def sign_in_with_code(page, gateway, code: str | None, password: str = PASSWORD) -> None:
    page.goto(f"{gateway.url}/admin/login/?next=/admin/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", password)
    if code is not None:
        page.fill("#id_otp", code)
    page.click("#login-form input[type=submit]")


def sign_out(page) -> None:
    page.click("#logout-form button")
    page.wait_for_selector("#content")


def test_staff_enrol_a_second_factor_by_qr_code_then_sign_in_with_a_code_and_a_backup_code(page, gateway):
    sign_in(page, gateway)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.click("#second-factor-link")
    page.wait_for_selector("#otp-qr svg")
    assert all(url.startswith(gateway.url) for url in requests), requests  # the QR code is drawn inline
    secret = page.inner_text("#otp-secret")
    assert len(secret.replace(" ", "")) == 32
    shot_at_widths(page, "40-second-factor-enrol-qr")
    page.fill("#id_code", totp_code(secret))
    page.click("#otp-enrol-form input[type=submit]")
    page.wait_for_selector("#backup-codes")
    backup = page.locator("#backup-codes ul.ltp-codes li").all_inner_texts()
    assert len(backup) == 10
    shot_at_widths(page, "41-second-factor-backup-codes")
    page.click("#otp-continue")
    page.wait_for_url(f"{gateway.url}/admin/")
    sign_out(page)

    sign_in_with_code(page, gateway, None)  # the password alone no longer signs in
    page.wait_for_selector(".errornote")
    missing = page.inner_text(".errornote")
    sign_in_with_code(page, gateway, None, password="a-wrong-password")
    page.wait_for_selector(".errornote")
    assert page.inner_text(".errornote") == missing  # a missing code reads as a wrong password
    shot(page, "42-sign-in-code-missing")
    sign_in_with_code(page, gateway, totp_code(secret, 1))  # a step ahead: the enrolment spent this step's code
    page.wait_for_url(f"{gateway.url}/admin/")
    shot(page, "43-signed-in-with-a-code")
    sign_out(page)

    sign_in_with_code(page, gateway, backup[0])
    page.wait_for_url(f"{gateway.url}/admin/")
    sign_out(page)
    sign_in_with_code(page, gateway, backup[0])  # each backup code signs in once
    page.wait_for_selector(".errornote")
    assert page.url.startswith(f"{gateway.url}/admin/login/")
    with sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True) as db:
        enrolments = db.execute("SELECT entity_type, actor_type FROM audit_log WHERE action = 'staff.otp_enrol'").fetchall()
    assert enrolments == [("staff_user", "staff")]


def test_required_second_factor_leads_a_staff_user_to_enrol_before_any_page(page, gateway_factory):
    gateway = gateway_factory(clients=20, STAFF_2FA="required")
    manage({**gateway.env, "DJANGO_DEBUG": "1"}, "create_dev_staff", "--username", STAFF, "--password", PASSWORD)
    page.goto(f"{gateway.url}/admin/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#otp-required")
    assert "/admin/second-factor/" in page.url
    shot(page, "44-second-factor-required")
    page.goto(f"{gateway.url}/admin/clients/client/")
    assert "/admin/second-factor/" in page.url and page.locator("#result_list").count() == 0
    page.fill("#id_code", totp_code(page.inner_text("#otp-secret")))
    page.click("#otp-enrol-form input[type=submit]")
    page.click("#otp-continue")
    page.goto(f"{gateway.url}/admin/clients/client/")
    assert page.locator("#result_list tbody tr").count() == 20


def test_the_language_switch_turns_the_admin_portuguese(page, gateway, chromium):
    sign_in(page, gateway)
    page.select_option("#language-choice", "pt-pt")
    page.click("#language-switch button")
    page.wait_for_selector("html[lang=pt-pt]")
    assert "Clientes ativos" in page.inner_text(".ltp-intro") and "Ações recentes" in page.inner_text("#recent-actions-module")
    shot_at_widths(page, "50-pt-dashboard")
    page.goto(f"{gateway.url}/admin/clients/client/?o=5")
    assert "Prolongar o acesso por 30 dias" in page.inner_text("select[name=action]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shot_at_widths(page, "51-pt-clients")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/admin/clients/client/\d+/change/"))
    assert "histórico de auditoria" in page.inner_text(".object-tools").lower()  # the admin writes its tools in capitals
    shot_at_widths(page, "52-pt-client")
    page.goto(f"{gateway.url}/admin/clients/auditlog/")
    assert "HORA (UTC)" in page.inner_text("#result_list thead")
    shot_at_widths(page, "53-pt-audit-log")
    page.select_option("#language-choice", "en")
    page.click("#language-switch button")
    page.wait_for_selector("html[lang=en]")
    assert "TIME (UTC)" in page.inner_text("#result_list thead")

    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="pt-PT")
    try:
        portuguese = context.new_page()
        portuguese.goto(f"{gateway.url}/admin/login/")
        assert portuguese.get_attribute("#login-form input[type=submit]", "value") == "Iniciar sessão"  # Accept-Language: pt-PT
        shot(portuguese, "54-pt-login-by-accept-language")
    finally:
        context.close()


def test_staff_make_a_service_account_and_a_key_shown_once_then_revoke_it(page, gateway):
    from tests.reliability import call

    sign_in(page, gateway)
    page.goto(f"{gateway.url}/admin/clients/serviceaccount/add/")
    page.fill("#id_name", "demo-service")
    page.click("input[name=_save]")
    page.wait_for_url(f"{gateway.url}/admin/clients/serviceaccount/")
    page.goto(f"{gateway.url}/admin/clients/apikey/add/")
    page.select_option("#id_service_account", label="demo-service")
    page.check("input[name=scopes][value='entitlements:check']")
    page.check("input[name=scopes][value='clients:read']")
    shot(page, "30-api-key-add")
    page.click("input[name=_save]")
    key = page.inner_text("#new-api-key").strip()
    shot(page, "31-api-key-shown-once")
    headers = {"Authorization": f"Api-Key {key}"}
    assert call(f"{gateway.url}/api/demos", headers=headers).status == 200
    assert call(f"{gateway.url}/api/audit-log", headers=headers).status == 403  # not its scope

    page.goto(f"{gateway.url}/admin/clients/apikey/")
    secret = key.split(".")[1]
    assert key.split(".")[0] in page.content() and secret not in page.content()
    page.locator("#result_list tbody tr").first.locator("input.action-select").check()
    page.select_option("select[name=action]", "revoke")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist li.success")
    assert page.inner_text("ul.messagelist li.success") == "Revoked 1 key."
    shot(page, "32-api-key-revoked")
    assert call(f"{gateway.url}/api/demos", headers=headers).status == 401
    page.goto(f"{gateway.url}/admin/clients/serviceaccount/")
    page.click("text=demo-service")
    assert secret not in page.content()
    shot(page, "33-service-account")
