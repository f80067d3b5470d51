"""Corrections (#18 item 6), followed end to end over a local site: a stored story changes
upstream and its feed entry's updated time moves; the next crawl fetches it again and stores
revision 2, the jsonl says so, ``export --unpublished`` hands it out again and a webhook
receives the update once. An updated entry whose text did not change costs its fetch only;
``update_window = "0"`` fetches nothing again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from storage.db import open_database
from storage.revisions import article_revisions
from tests.localsite import LocalSite
from tests.receiver import Receiver
from tests.support import article_html, export, run_newsrelay, summary, write_config
from tests.wordpress import WordPress, require_wordpress

FIRST = "Wed, 25 Nov 2026 10:00:00 GMT"
CORRECTION = "Correction: the bridge opened on Tuesday, not on Monday."


def serve_feed(site: LocalSite, updated: dict[str, str]) -> str:
    """An RSS feed of /wire/<name>.html pages: ``pubDate`` for each, and ``atom:updated``
    where ``updated`` names a later time."""
    items = "".join(
        f"<item><title>Story {name}</title><link>{site.url(f'/wire/{name}.html')}</link>"
        f"<guid>wire-{name}</guid><pubDate>{FIRST}</pubDate>"
        + (f"<atom:updated>{updated[name]}</atom:updated>" if name in updated else "")
        + "</item>"
        for name in ("a", "b")
    )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>wire</title>'
        f"{items}</channel></rss>"
    )
    # Answered in full every time: each crawl reads its entries (no 304 to hide them).
    return site.add("/wire/feed.xml", feed, content_type="application/rss+xml", conditional=False)


def setup(site: LocalSite, tmp_path: Path, db_url: str, hook: str, extra: str = "") -> Path:
    """Pages a and b in a feed, and a destination: a webhook at ``hook``, or the TOML of
    another destination."""
    site.add("/wire/a.html", article_html(1))
    site.add("/wire/b.html", article_html(2))
    feed = serve_feed(site, {})
    destination = (
        hook
        if hook.startswith("[[")
        else (
            f'[[destinations]]\nname = "hook"\nkind = "webhook"\nurl = "{hook}"\n'
            'timeout = 2.0\nbackoff = "1s"\n'
        )
    )
    source = f'[[sources]]\nname = "wire"\nfeeds = ["{feed}"]\n{extra}\n\n'
    return write_config(tmp_path / "newsrelay.toml", db_url, source + destination)


def correct_a(site: LocalSite) -> None:
    """Upstream: a's text is corrected and its entry updated; b's entry is updated too, but
    its text is the same."""
    corrected = article_html(1).replace("</article>", f"<p>{CORRECTION}</p></article>")
    site.add("/wire/a.html", corrected)
    serve_feed(site, {"a": "2026-11-26T08:00:00Z", "b": "2026-11-26T08:00:00Z"})


def crawl(config: Path) -> dict[str, Any]:
    result = run_newsrelay("crawl", "wire", "--json", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    return summary(result.stdout)["wire"]


def hand_out(config: Path) -> list[dict[str, Any]]:
    result = run_newsrelay(
        "export", "--format", "jsonl", "--unpublished", "--mark-published", config=config
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def by_path(articles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {article["url"].rsplit("/", 1)[-1]: article for article in articles}


def test_a_correction_is_refetched_stored_exported_and_delivered_once(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        config = setup(site, tmp_path, db_url, receiver.url)
        assert crawl(config)["new"] == 2
        first = by_path(hand_out(config))
        assert {(a["revision"], a["updated"]) for a in first.values()} == {(1, None)}
        assert run_newsrelay("publish", config=config).returncode == 0
        assert len(receiver.hooks) == 2

        correct_a(site)
        row = crawl(config)
        assert (row["new"], row["revised"]) == (0, 1), row
        assert len(site.hits("/wire/a.html")) == len(site.hits("/wire/b.html")) == 2

        stored = by_path(export(config))
        assert stored["a.html"]["revision"] == 2 and stored["a.html"]["updated"] is not None
        assert CORRECTION in stored["a.html"]["text"]
        assert stored["a.html"]["id"] == first["a.html"]["id"]
        # Its content hash (a dedup key) is the latest text's; its Atom id stays revision 1's.
        assert stored["a.html"]["content_hash"] != first["a.html"]["content_hash"]
        atom = run_newsrelay("export", "--format", "atom", config=config).stdout
        assert f"<id>urn:newsrelay:article:{first['a.html']['content_hash']}</id>" in atom
        assert (stored["b.html"]["revision"], stored["b.html"]["updated"]) == (1, None)
        assert stored["b.html"]["text"] == first["b.html"]["text"]
        db = open_database(db_url)
        try:
            [(revision, title, _)] = article_revisions(db, first["a.html"]["id"])
        finally:
            db.dispose()
        assert (revision, title) == (1, first["a.html"]["title"])

        # Handed out again, as revision 2; and delivered again, once.
        again = hand_out(config)
        assert [(a["url"], a["revision"]) for a in again] == [(first["a.html"]["url"], 2)]
        assert run_newsrelay("publish", config=config).returncode == 0
        hooks = receiver.by_article()[first["a.html"]["id"]]
        assert [h.body["revision"] for h in hooks] == [1, 2]
        assert hooks[1].key == hooks[0].key + ":2" == hooks[1].body["idempotency_key"]
        assert CORRECTION in hooks[1].body["text"]

        # Nothing moved since: nothing is fetched again, stored or delivered.
        row = crawl(config)
        assert (row["new"], row["revised"], row["known"]) == (0, 0, 2), row
        assert len(site.hits("/wire/a.html")) == len(site.hits("/wire/b.html")) == 2
        assert run_newsrelay("publish", config=config).returncode == 0
        assert len(receiver.hooks) == 3
        assert hand_out(config) == []
        # The corrected page replaced the one kept for reextract: extracting it again finds
        # the corrected text, and undoes nothing.
        kept = run_newsrelay("reextract", config=config)
        assert "pages 2, changed 0, unchanged 2" in kept.stdout, kept.stdout + kept.stderr


def test_an_update_window_of_0_fetches_nothing_again(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    config = setup(site, tmp_path, db_url, "http://127.0.0.1:9/hook", 'update_window = "0"')
    assert crawl(config)["new"] == 2
    site.add("/wire/a.html", article_html(3))
    serve_feed(site, {"a": "2026-11-26T08:00:00Z"})
    row = crawl(config)
    assert (row["new"], row["revised"], row["known"]) == (0, 0, 2), row
    assert len(site.hits("/wire/a.html")) == 1
    assert {a["revision"] for a in export(config)} == {1}


def test_a_sitemap_lastmod_that_moves_brings_a_correction(site: LocalSite, tmp_path: Path) -> None:
    def sitemap(lastmod: datetime) -> None:
        url = f"<url><loc>{site.url('/wire/a.html')}</loc><lastmod>{lastmod.isoformat()}</lastmod>"
        site.add(
            "/sitemap.xml",
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{url}</url></urlset>",
            content_type="application/xml",
            conditional=False,
        )

    now = datetime.now(UTC)
    site.add("/wire/a.html", article_html(1))
    sitemap(now - timedelta(hours=1))
    source = f'[[sources]]\nname = "wire"\nsitemaps = ["{site.url("/sitemap.xml")}"]\n'
    config = write_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", source)
    assert crawl(config)["new"] == 1
    site.add(
        "/wire/a.html", article_html(1).replace("</article>", f"<p>{CORRECTION}</p></article>")
    )
    sitemap(now + timedelta(minutes=1))
    row = crawl(config)
    assert (row["new"], row["revised"]) == (0, 1), row
    [article] = export(config)
    assert article["revision"] == 2 and CORRECTION in article["text"]


@pytest.mark.slow
def test_a_correction_updates_the_wordpress_post_found_by_its_slug(
    site: LocalSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_wordpress()
    wordpress = WordPress(tmp_path / "wordpress").start()
    try:
        monkeypatch.setenv("WP_APP_PASSWORD", wordpress.password)
        destination = (
            f'[[destinations]]\nname = "wp"\nkind = "wordpress"\nurl = "{wordpress.url}"\n'
            f'user = "{wordpress.user}"\npassword = "${{WP_APP_PASSWORD}}"\n'
            'status = "draft"\ntimeout = 5.0\nbackoff = "1s"\n'
        )
        config = setup(site, tmp_path, f"sqlite:///{tmp_path / 'n.db'}", destination)
        assert crawl(config)["new"] == 2
        assert run_newsrelay("publish", config=config).returncode == 0
        before = {post["id"]: post for post in wordpress.posts()}
        assert len(before) == 2

        correct_a(site)
        assert crawl(config)["revised"] == 1
        published = run_newsrelay("publish", config=config)
        assert published.returncode == 0, published.stdout + published.stderr
        after = {post["id"]: post for post in wordpress.posts()}
        assert after.keys() == before.keys()  # updated, not posted again
        changed = [i for i in after if after[i]["content"]["raw"] != before[i]["content"]["raw"]]
        assert len(changed) == 1 and CORRECTION in after[changed[0]]["content"]["raw"]
        assert after[changed[0]]["slug"] == before[changed[0]]["slug"]
        posted = [path for method, path in wordpress.proxy.requests if method == "POST"]
        assert len(posted) == 3 and f"posts/{changed[0]}" in unquote(posted[-1]), posted
    finally:
        wordpress.stop()
