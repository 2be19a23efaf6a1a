"""The console page in a real browser: Debian's chromium, driven through chromium-driver by Selenium.

The sign-in proxy is played by the browser itself: it sends oauth2-proxy's headers on every request
(DevTools ``Network.setExtraHTTPHeaders``) from 127.0.0.1, the proxy address the console trusts.
Set UPDATE_SCREENSHOT=1 to refresh docs/console.png from the saved-page test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from provisioner.console.auth import parse_networks
from tests.console.conftest import ADMIN, Served
from tests.helpers.console import VALUES_PATH, Site, make_site, serving, site_console
from tests.helpers.gitrepo import git

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_SECONDS = 15


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless=new",
        "--no-sandbox",  # chromium refuses to run as root with its sandbox
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1000,1560",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": ADMIN})
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, what: str, check: object) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(check, message=what)  # type: ignore[arg-type]


def open_page(driver: WebDriver, served: Served) -> None:
    driver.get(served.url + "/registries/demo")
    wait_for(driver, "script ready", lambda d: d.find_element(By.ID, "settings").get_attribute("data-ready"))


def type_into(driver: WebDriver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def text_of(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def test_interval_error_disables_save(browser: WebDriver, served: Served) -> None:
    open_page(browser, served)
    save = browser.find_element(By.ID, "save")
    assert save.is_enabled()
    type_into(browser, "schedule", "*/30 * * * *")
    wait_for(browser, "the interval error", lambda d: "every 30 minutes" in text_of(d, "schedule-error"))
    assert not save.is_enabled()
    assert browser.find_element(By.ID, "schedule").get_attribute("aria-invalid") == "true"
    assert browser.find_elements(By.CSS_SELECTOR, "#next-runs li") == []
    type_into(browser, "expiresInDays", "6")
    wait_for(
        browser, "the retention error", lambda d: "below the minimum" in text_of(d, "expiresInDays-error")
    )
    type_into(browser, "schedule", "0 2 * * *")
    type_into(browser, "expiresInDays", "8")
    wait_for(browser, "save enabled again", lambda d: d.find_element(By.ID, "save").is_enabled())
    assert text_of(browser, "kept-hours") == "kept 192 hours"
    assert text_of(browser, "schedule-error") == "" and text_of(browser, "expiresInDays-error") == ""


def test_kyiv_runs_dst_warning_save_and_backups_table(browser: WebDriver, served: Served) -> None:
    open_page(browser, served)
    assert "(Europe/Kiev)" in text_of(browser, "settings")
    type_into(browser, "schedule", "30 3 * * *")
    wait_for(browser, "the new runs", lambda d: "03:30" in text_of(d, "next-runs"))
    runs = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#next-runs li")]
    assert runs == ["2026-11-23 03:30 EET", "2026-11-24 03:30 EET", "2026-11-25 03:30 EET"]
    assert text_of(browser, "schedule-text") == "At 03:30, every day"
    warnings = text_of(browser, "warnings")
    assert "daylight saving" in warnings and "skip 03:00-04:00" in warnings and "twice" in warnings
    type_into(browser, "expiresInDays", "14")
    wait_for(browser, "retention in hours", lambda d: text_of(d, "kept-hours") == "kept 336 hours")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        browser.save_screenshot(str(ROOT / "docs" / "console.png"))
    browser.find_element(By.CSS_SELECTOR, "label[for=enabled]").click()  # the label works the switch
    assert not browser.find_element(By.ID, "enabled").is_selected()
    before = git(served.site.bare, "rev-parse", "main")
    browser.find_element(By.ID, "save").click()
    wait_for(browser, "the saved page", lambda d: "Saved as commit" in text_of(d, "flash"))
    head = git(served.site.bare, "rev-parse", "main")
    assert head != before and text_of(browser, "flash") == f"Saved as commit {head[:12]}."
    assert git(served.site.bare, "log", "-1", "--format=%an <%ae>", "main") == "alice <alice@example.com>"
    diff = git(served.site.bare, "diff", "-U0", before, head, "--", VALUES_PATH).splitlines()
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == len(added) == 3
    assert added[0] == "+    enabled: false"
    assert text_of(browser, "state") == "Backup is disabled: backups are off; existing backups are kept."
    rows = browser.find_elements(By.CSS_SELECTOR, "#backups tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert cells == [
        ["20261121T100000Z", "2026-11-21 12:00 EET", "2026-11-28 12:00 EET", "6 days"],
        ["20261120T100000Z", "2026-11-20 12:00 EET", "2026-11-27 12:00 EET", "5 days"],
    ]


def test_keyboard_only(browser: WebDriver, served: Served) -> None:
    open_page(browser, served)
    switch = browser.find_element(By.ID, "enabled")
    switch.send_keys(Keys.SPACE)
    assert not switch.is_selected()
    switch.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "schedule"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "expiresInDays"


@pytest.fixture
def disabled_site(tmp_path: Path) -> Site:
    values = (
        "global:\n  timeZone: Europe/Kiev\n  registryBackup:\n    enabled: false\n"
        '    schedule: "30 19 * * *"\n    expiresInDays: 7\n'
    )
    return make_site(tmp_path, values, backups=1)


def test_initial_disabled_state(browser: WebDriver, disabled_site: Site) -> None:
    console = site_console(disabled_site, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        browser.get(url + "/registries/demo")
        assert text_of(browser, "state") == "Backup is disabled: backups are off; existing backups are kept."
        assert not browser.find_element(By.ID, "enabled").is_selected()
        assert "2026-11-21 12:00 EET" in text_of(browser, "last-backup")
        assert "6 days left" in text_of(browser, "last-backup")


def test_committed_invalid_settings_show_their_error_and_disable_save(
    browser: WebDriver, tmp_path: Path
) -> None:
    values = (
        "global:\n  timeZone: Europe/Kiev\n  registryBackup:\n"
        '    enabled: true\n    schedule: "*/30 * * * *"\n    expiresInDays: 9\n'
    )
    site = make_site(tmp_path, values, backups=0)
    console = site_console(site, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        browser.get(url + "/registries/demo")
        wait_for(browser, "save disabled", lambda d: not d.find_element(By.ID, "save").is_enabled())
        assert "every 30 minutes" in text_of(browser, "schedule-error")
        assert browser.find_element(By.ID, "schedule").get_attribute("value") == "*/30 * * * *"
        assert text_of(browser, "expiresInDays-error") == ""
        assert text_of(browser, "kept-hours") == "kept 216 hours"
        assert "No successful backup yet." in text_of(browser, "last-backup")
