"""The console's page in a real browser: Debian's headless chromium, driven by selenium
through Debian's chromium-driver. Every source is listed, a Persian search finds its story,
an article shows its recognised copy, "crawl now" (with the token typed into the page) makes
a run appear, and none of the script in crawled text ever runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.localsite import wait_until
from tests.support import DaemonProcess, require
from tests.test_console import TOKEN, console  # noqa: F401 - the fixture
from tests.test_persian_text import TITLE, WORD

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def require_chromium() -> None:
    missing = [path for path in (CHROMIUM, DRIVER) if not Path(path).exists()]
    if missing:
        require(f"Debian's chromium and chromium-driver are needed ({', '.join(missing)} missing)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(argument)  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


@pytest.mark.slow
def test_the_page_in_chromium(
    console: tuple[str, Path, DaemonProcess],  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    base, _config, _daemon = console
    browser.get(base + "/")
    names = [
        cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#sources tr td:first-child")
    ]
    assert names == ["wire", "relay", "fa", "slow", "hostile"]
    healths = browser.find_elements(By.CSS_SELECTOR, "#sources tr td:nth-child(2)")
    assert {cell.text for cell in healths} == {"ok"}
    # Crawled text that looks like markup shows as text; none of it ran.
    assert "<script>window.__xss = 1</script>" in browser.find_element(By.ID, "articles").text
    assert browser.execute_script("return window.__xss === undefined")
    browser.save_screenshot(str(tmp_path / "console.png"))

    # Search in Persian, open the story.
    box = browser.find_element(By.CSS_SELECTOR, 'input[type="search"][name="q"]')
    box.send_keys(WORD)
    box.submit()
    assert wait_until(lambda: "q=" in browser.current_url, timeout=10)
    found = browser.find_elements(By.CSS_SELECTOR, "#articles tr.article a")
    assert [a.text for a in found] == [TITLE]

    # An article and its recognised copy, side by side.
    browser.get(base + "/?q=" + "wire story 0")
    browser.find_element(By.CSS_SELECTOR, "#articles tr.article a").click()
    assert wait_until(lambda: "/articles/" in browser.current_url, timeout=10)
    copies = browser.find_element(By.ID, "copies").text
    assert "/relay/copy.html" in copies and "content" in copies
    assert len(browser.find_element(By.ID, "text").text) > 200
    browser.save_screenshot(str(tmp_path / "article.png"))

    crawl_now_from_the_page(browser, base)
    # Nothing crawled ran: no flag, and the console only reports the page's own doings.
    assert browser.execute_script("return window.__xss === undefined")
    errors = [entry for entry in browser.get_log("browser") if "__xss" in entry.get("message", "")]
    assert errors == []
    runs = httpx.get(base + "/api/runs", params={"source": "fa"}, timeout=10).json()["items"]
    assert len(runs) == 2


def crawl_now_from_the_page(browser: Any, base: str) -> None:
    """The token typed once, the button pressed, the new run listed."""
    from selenium.webdriver.common.by import By

    browser.get(base + "/")
    before = {
        row.get_attribute("data-run")
        for row in browser.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
    }
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "token").send_keys("\t")  # change event: kept for the tab
    browser.find_element(By.CSS_SELECTOR, 'button[data-source="fa"]').click()
    assert wait_until(lambda: "started" in browser.find_element(By.ID, "said").text, timeout=20)

    def new_run_listed() -> bool:
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
        return any(row.get_attribute("data-run") not in before for row in rows)

    assert wait_until(new_run_listed, timeout=30, interval=0.5)
    assert browser.execute_script("return sessionStorage.getItem('newsrelay-token')") == TOKEN
    assert TOKEN not in browser.page_source
