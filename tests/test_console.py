"""The console through real HTTP: a daemon crawling a local site serves the API, /healthz,
/metrics and the page; ``newsrelay serve`` the same, read-only."""

from __future__ import annotations

import html
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import html as lxml_html
from prometheus_client.parser import text_string_to_metric_families

from tests.localsite import LocalSite, wait_until
from tests.support import (
    DaemonProcess,
    answers,
    daemon_config,
    free_port,
    newsroom,
    rss_of,
    run_newsrelay,
    source_toml,
)
from tests.test_export import XSS
from tests.test_persian_text import TITLE, WORD, _page

TOKEN = "console-test-token-0123456789"
# Text that looks like markup: the page shows it as text (it arrives escaped in the page's
# HTML, so the extracted title and text hold it literally).
XSS_TITLE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">Breaking'
XSS_HTML = html.escape(XSS_TITLE)


def console_sources(site: LocalSite) -> str:
    """wire (3 stories), relay (a copy of wire's first), fa (Persian), slow (pages take 2 s),
    hostile (a title that is a script)."""
    wire = newsroom(site, "wire", 3)
    site.add("/relay/copy.html", site._routes["/wire/news/0.html"].body)
    relay = site.add("/relay/feed.xml", rss_of(site, ["/relay/copy.html"]))
    site.add("/fa/1.html", _page(TITLE, 1))
    fa = site.add("/fa/feed.xml", rss_of(site, ["/fa/1.html"]))
    slow = newsroom(site, "slow", 2, delay=2.0)
    feed = site._routes["/slow/feed.xml"]
    site.add("/slow/feed.xml", feed.body, content_type=feed.content_type, delay=2.0)
    site.add(
        "/hostile/1.html",
        f"<html><head><title>{XSS_HTML}</title></head><body><article><h1>{XSS_HTML}</h1>"
        + "<p>"
        + "Hostile page text about the harbour and the village. " * 12
        + "</p>"
        # The export tests' XSS corpus, as markup (sanitized away) and as text (shown).
        + "".join(f"<p>{x} {html.escape(x)}</p>" for x in XSS)
        + "<script>window.__xss = 3</script></article></body></html>",
    )
    # hostile's second entry is filtered out by its address, before any fetch.
    hostile = site.add("/hostile/feed.xml", rss_of(site, ["/hostile/1.html", "/hostile/live"]))
    hourly = 'interval = "1h"'
    return "".join(
        source_toml(name, feed, hourly)
        for name, feed in (("wire", wire), ("relay", relay), ("fa", fa), ("slow", slow))
    ) + source_toml(
        "hostile", hostile, hourly + '\nexclude = [{field = "url", pattern = "/live$"}]'
    )


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, DaemonProcess]]:
    """A daemon with its console, once every source has run; one for the module's tests
    (they only add runs, in the order of the file)."""
    with LocalSite() as site, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("NEWSRELAY_API_TOKEN", TOKEN)
        yield from _console(site, tmp_path_factory.mktemp("console"))


def _console(site: LocalSite, tmp_path: Path) -> Iterator[tuple[str, Path, DaemonProcess]]:
    port = free_port()
    config = daemon_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'n.db'}",
        console_sources(site),
        http=f'listen = "127.0.0.1:{port}"\ntoken = "${{NEWSRELAY_API_TOKEN}}"',
    )
    # wire first, by hand, so that relay's copy of its story is the copy (the daemon then
    # waits an hour before wire's next run, and runs the four others at once).
    assert run_newsrelay("crawl", "wire", config=config).returncode == 0
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: len({r["source"] for r in daemon.summaries()}) == 4, timeout=60)
        yield f"http://127.0.0.1:{port}", config, daemon
    finally:
        assert daemon.stop() == 0


def get(base: str, path: str, **params: Any) -> Any:
    answer = httpx.get(base + path, params=params, timeout=10)
    assert answer.status_code == 200, (path, answer.status_code, answer.text)
    return answer.json()


def test_api_pages_searches_and_crawls(console: tuple[str, Path, DaemonProcess]) -> None:
    base, _config, _daemon = console
    health = httpx.get(base + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["healthy"] is True

    sources = get(base, "/api/sources")["items"]
    assert [s["name"] for s in sources] == ["wire", "relay", "fa", "slow", "hostile"]
    assert all(s["health"] == "ok" and s["schedule"] == "1h" for s in sources)
    wire = get(base, "/api/sources/wire")
    assert wire["last_run"]["status"] == "ok" and wire["runs"][0]["new"] == 3
    missing = httpx.get(base + "/api/sources/nope", timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]

    # Cursor pagination: every run once, newest first.
    first = get(base, "/api/runs", limit=2)
    second = get(base, "/api/runs", limit=2, cursor=first["next_cursor"])
    rest = get(base, "/api/runs", limit=50, cursor=second["next_cursor"])
    ids = [r["id"] for page in (first, second, rest) for r in page["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) == 5
    assert rest["next_cursor"] is None
    assert [r["source"] for r in get(base, "/api/runs", source="fa")["items"]] == ["fa"]

    # Full-text search, English and Persian (a word written with a half-space).
    [story] = get(base, "/api/articles", q="wire story 1")["items"]
    assert story["source"] == "wire" and story["title"].startswith("wire story 1")
    [persian] = get(base, "/api/articles", q=WORD)["items"]
    assert persian["title"] == TITLE and persian["source"] == "fa"
    assert get(base, "/api/articles", q="zzzunheardof")["items"] == []
    everything = get(base, "/api/articles", limit=100)["items"]
    assert len(everything) == 7  # wire 3, fa 1, slow 2, hostile 1; the relay copy is no article
    paged = get(base, "/api/articles", limit=3)
    more = get(base, "/api/articles", limit=3, cursor=paged["next_cursor"])
    assert [a["id"] for a in paged["items"] + more["items"]] == [a["id"] for a in everything][:6]

    # One article with its recognised copy.
    original = next(a for a in everything if a["url"].endswith("/wire/news/0.html"))
    assert original["copies"] == 1
    detail = get(base, f"/api/articles/{original['id']}")
    # newsroom pages declare no language: their text says English
    assert (detail["language"], detail["language_source"]) == ("en", "detected")
    [copy] = detail["copies"]
    assert copy["url"].endswith("/relay/copy.html") and copy["kind"] == "content"
    assert httpx.get(base + "/api/articles/999999", timeout=10).status_code == 404

    schema = get(base, "/openapi.json")
    assert "/api/sources/{name}/crawl" in schema["paths"] and "/api/articles" in schema["paths"]


def test_crawl_now_needs_the_token_and_runs_once(console: tuple[str, Path, DaemonProcess]) -> None:
    base, _config, _daemon = console
    url = base + "/api/sources/slow/crawl"
    assert httpx.post(url, timeout=10).status_code == 401
    bad = httpx.post(url, headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # Two POSTs at once: one run, one id.
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: httpx.post(url, headers=auth, timeout=30), range(2)))
    assert [answer.status_code for answer in both] == [202, 202], both[0].text
    assert both[0].json()["run_id"] == both[1].json()["run_id"]
    started = both[0]
    run_id = started.json()["run_id"]
    assert started.headers["location"] == f"/api/runs/{run_id}"
    # While it runs (its pages take 2 s each), a second POST joins it.
    again = httpx.post(url, headers=auth, timeout=30)
    assert again.status_code == 202 and again.json()["run_id"] == run_id
    seen = set()

    def finished() -> bool:
        status = get(base, f"/api/runs/{run_id}")["status"]
        seen.add(status)
        return status in ("ok", "failed", "interrupted")

    assert wait_until(finished, timeout=30, interval=0.1)
    assert get(base, f"/api/runs/{run_id}")["status"] == "ok"
    assert "running" in seen
    assert httpx.post(base + "/api/sources/nope/crawl", headers=auth, timeout=10).status_code == 404


def test_metrics_agree_with_the_runs(console: tuple[str, Path, DaemonProcess]) -> None:
    base, _config, _daemon = console
    text = httpx.get(base + "/metrics", timeout=10).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    runs = get(base, "/api/runs", limit=200)["items"]
    # The daemon's own counters start at zero with it: wire's run was `newsrelay crawl`'s.
    assert ("newsrelay_runs_total", (("source", "wire"), ("status", "ok"))) not in samples
    for source in ("relay", "fa", "slow", "hostile"):
        ok = sum(1 for r in runs if r["source"] == source and r["status"] == "ok")
        key = ("newsrelay_runs_total", (("source", source), ("status", "ok")))
        assert samples[key] == ok, source
    for source in ("wire", "relay", "fa", "slow", "hostile"):  # from the database
        assert samples[("newsrelay_source_backoff", (("source", source),))] == 0
        success = ("newsrelay_source_last_success_timestamp_seconds", (("source", source),))
        assert samples[success] > 0
    assert samples[("newsrelay_articles_stored_total", (("source", "slow"),))] == 2
    assert samples[("newsrelay_duplicates_total", (("kind", "content"), ("source", "relay")))] == 1
    assert samples[("newsrelay_run_duration_seconds_count", (("source", "fa"),))] == 1
    assert samples[("newsrelay_entries_filtered_total", (("source", "hostile"),))] == 1
    assert ("newsrelay_entries_filtered_total", (("source", "fa"),)) not in samples
    [hostile] = get(base, "/api/runs", source="hostile")["items"]
    assert hostile["filtered"] == 1 and get(base, f"/api/runs/{hostile['id']}")["filtered"] == 1
    table = lxml_html.fromstring(httpx.get(base + "/", timeout=10).text).get_element_by_id("runs")
    cells = table.xpath(f'//tr[@data-run="{hostile["id"]}"]/td/text()')
    assert "filtered" in table.xpath(".//th/text()") and cells[7] == "1"


def test_serve_alone_is_read_only_and_a_taken_port_is_one_line(
    console: tuple[str, Path, DaemonProcess], tmp_path: Path
) -> None:
    base, config, _daemon = console
    port = free_port()
    serve = DaemonProcess(config, "--listen", f"127.0.0.1:{port}", command="serve")
    try:
        other = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: answers(other), timeout=20)
        assert len(get(other, "/api/sources")["items"]) == 5
        auth = {"Authorization": f"Bearer {TOKEN}"}
        refused = httpx.post(other + "/api/sources/wire/crawl", headers=auth, timeout=10)
        assert refused.status_code == 409
    finally:
        assert serve.stop() == 0
    taken = base.rpartition(":")[2]
    second = run_newsrelay("serve", "--listen", f"127.0.0.1:{taken}", config=config)
    assert second.returncode == 2
    [line] = second.stderr.strip().splitlines()
    assert "[http] listen" in line and "cannot listen there" in line
    for bad in ("junk", "127.0.0.1:99999"):
        wrong = run_newsrelay("serve", "--listen", bad, config=config)
        assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    # A page elsewhere renamed to 127.0.0.1 (DNS rebinding) is not answered.
    rebound = httpx.get(base + "/api/sources", headers={"Host": "evil.example"}, timeout=10)
    assert rebound.status_code == 400


def test_the_page_escapes_crawled_text(console: tuple[str, Path, DaemonProcess]) -> None:
    base, _config, _daemon = console
    home = httpx.get(base + "/", timeout=10)
    assert home.status_code == 200
    assert unsafe_html(home.text) == []
    assert "&lt;script&gt;window.__xss" in home.text
    assert "script-src 'nonce-" in home.headers["content-security-policy"]
    assert TOKEN not in home.text
    found = httpx.get(base + "/", params={"q": WORD}, timeout=10).text
    assert TITLE in found and 'type="search" name="q"' in found
    hostile = get(base, "/api/articles", q="hostile")["items"]
    page = httpx.get(base + f"/articles/{hostile[0]['id']}", timeout=10).text
    assert unsafe_html(page) == [] and "&lt;script&gt;window.__xss" in page


def unsafe_html(page: str) -> list[str]:
    """What in ``page`` could run script: a <script> without the response's nonce, an
    ``on...`` attribute, a javascript: URL (the test's own HTML parser)."""
    root = lxml_html.fromstring(page)
    found = []
    for element in root.iter():
        tag = str(element.tag).lower()
        if tag == "script" and not element.get("nonce"):
            found.append(lxml_html.tostring(element, encoding="unicode")[:120])
        for name, value in element.attrib.items():
            if name.lower().startswith("on") or value.strip().lower().startswith("javascript:"):
                found.append(f"<{tag} {name}={value[:60]}>")
    return found
