"""Publishing to a real WordPress (Debian's package, PHP's built-in server, MariaDB): every
stored article becomes one post, with its title, date and body right, Persian included, even
when the publisher is killed between WordPress creating a post and the ledger recording it."""

from __future__ import annotations

import html
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.localsite import LocalSite, wait_until
from tests.support import NEWSRELAY, export, newsroom, run_newsrelay, source_toml, write_config
from tests.test_persian_text import TITLE, WORD, _page
from tests.wordpress import WordPress, require_wordpress

HEADER = "افغانستان آزاد ــ آزاد افغانستان"


@pytest.fixture(params=["", "/%postname%/"], ids=["plain-permalinks", "pretty-permalinks"])
def wordpress(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WordPress]:
    require_wordpress()
    site = WordPress(tmp_path / "wordpress", permalinks=request.param).start()
    try:
        yield site
    finally:
        site.stop()


def _sources(site: LocalSite) -> str:
    site.add("/fa/1.html", _page(TITLE, 1))
    items = f"<item><title>{html.escape(TITLE)}</title><link>{site.url('/fa/1.html')}</link>"
    feed = site.add(
        "/fa/feed.xml",
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>fa</title>'
        f"{items}<pubDate>Wed, 25 Nov 2026 08:30:00 GMT</pubDate></item></channel></rss>",
        content_type="application/rss+xml",
    )
    return source_toml("wire", newsroom(site, "wire", 3)) + source_toml("fa", feed)


def kill_between_post_and_ledger(config: Path, wordpress: WordPress) -> None:
    """The first post reaches WordPress, but its answer is held back: the publisher is killed
    while it waits, so the ledger never hears of the post."""
    proxy = wordpress.proxy
    proxy.hold = lambda method, path: method == "POST" and "wp/v2/posts" in unquote(path)
    argv = [str(NEWSRELAY), "--config", str(config), "publish"]
    publisher = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_until(proxy.held.is_set, timeout=60):
        publisher.kill()
        raise AssertionError(f"no post was made: {publisher.communicate()[1].decode()[-2000:]}")
    publisher.send_signal(signal.SIGKILL)
    publisher.wait(timeout=10)
    proxy.release.set()


def publish_until_settled(config: Path) -> None:
    codes = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        result = run_newsrelay("publish", "--json", config=config)
        codes.append(result.returncode)
        assert result.returncode in (0, 1), result.stderr
        if result.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"still pending after 90 s: exit codes {codes}")


@pytest.mark.slow
def test_each_article_becomes_one_post_even_after_a_kill_between_post_and_ledger(
    site: LocalSite, tmp_path: Path, wordpress: WordPress, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WP_APP_PASSWORD", wordpress.password)
    destination = (
        f'[[destinations]]\nname = "wordpress"\nkind = "wordpress"\nurl = "{wordpress.url}"\n'
        f'user = "{wordpress.user}"\npassword = "${{WP_APP_PASSWORD}}"\nstatus = "draft"\n'
        f'header = ["{HEADER}"]\ntimeout = 2.0\nbackoff = "1s"\n'
    )
    config = write_config(
        tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", _sources(site) + destination
    )
    assert run_newsrelay("crawl", "--all", config=config).returncode == 0
    stored = {article["id"]: article for article in export(config)}
    assert len(stored) == 4

    kill_between_post_and_ledger(config, wordpress)
    assert len(wordpress.posts()) == 1  # WordPress made it
    publish_until_settled(config)

    proxy = wordpress.proxy
    posts = wordpress.posts()
    assert len(posts) == len(stored), [p["title"]["raw"] for p in posts]
    created = [path for method, path in proxy.requests if method == "POST"]
    assert len(created) == len(stored)  # the killed attempt's post was found, not made again
    # The REST root came from the site's Link header: /wp-json/ or ?rest_route=/.
    expected = "/wp-json/wp/v2/posts" if wordpress.permalinks else "rest_route=%2Fwp%2Fv2%2Fposts"
    assert all(expected in path for path in created), created
    by_title = {post["title"]["raw"]: post for post in posts}
    for article in stored.values():
        post = by_title[article["title"]]
        assert post["status"] == "draft"
        assert post["date_gmt"] == article["published"][:19]
        content = post["content"]["raw"]
        assert HEADER in content and html.escape(article["url"]) in content
        first_paragraph = article["text"].split("\n")[0]
        assert first_paragraph[:80] in html.unescape(content)
        assert article["url"] in html.unescape(post["excerpt"]["raw"])
    persian = by_title[TITLE]
    assert WORD in persian["content"]["raw"] and persian["date_gmt"] == "2026-11-25T08:30:00"
    shown = json.loads(run_newsrelay("status", "--json", config=config).stdout)
    [row] = shown["destinations"]
    assert (row["delivered"], row["pending"], row["failed"]) == (4, 0, 0)
