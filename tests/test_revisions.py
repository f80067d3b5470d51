"""Corrections (#18 item 6), followed end to end over a local site: a stored story changes
upstream and its feed entry's updated time moves; the next crawl fetches it again and stores
revision 2, the jsonl says so, ``export --unpublished`` hands it out again and a webhook
receives the update once. An updated entry whose text did not change costs its fetch only;
``update_window = "0"`` fetches nothing again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage.db import open_database
from storage.revisions import article_revisions
from tests.localsite import LocalSite
from tests.receiver import Receiver
from tests.support import article_html, export, run_newsrelay, summary, write_config

FIRST = "Wed, 25 Nov 2026 10:00:00 GMT"


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


def setup(site: LocalSite, tmp_path: Path, db_url: str, extra: str = "") -> Path:
    site.add("/wire/a.html", article_html(1))
    site.add("/wire/b.html", article_html(2))
    feed = serve_feed(site, {})
    destination = (
        '[[destinations]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\n'
        'timeout = 2.0\nbackoff = "1s"\n'
    )
    source = f'[[sources]]\nname = "wire"\nfeeds = ["{feed}"]\n{extra}\n\n'
    return write_config(tmp_path / "newsrelay.toml", db_url, source + destination)


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
        config = setup(site, tmp_path, db_url)
        config.write_text(config.read_text().replace("{url}", receiver.url))
        assert crawl(config)["new"] == 2
        first = by_path(hand_out(config))
        assert {(a["revision"], a["updated"]) for a in first.values()} == {(1, None)}
        assert run_newsrelay("publish", config=config).returncode == 0
        assert len(receiver.hooks) == 2

        # Upstream: a's text is corrected and its entry updated; b's entry is updated too,
        # but its text is the same.
        corrected = article_html(1).replace(
            "</article>",
            "<p>Correction: the bridge opened on Tuesday, not on Monday.</p></article>",
        )
        site.add("/wire/a.html", corrected)
        serve_feed(site, {"a": "2026-11-26T08:00:00Z", "b": "2026-11-26T08:00:00Z"})
        row = crawl(config)
        assert (row["new"], row["revised"]) == (0, 1), row
        assert len(site.hits("/wire/a.html")) == len(site.hits("/wire/b.html")) == 2

        stored = by_path(export(config))
        assert stored["a.html"]["revision"] == 2 and stored["a.html"]["updated"] is not None
        assert "Correction: the bridge" in stored["a.html"]["text"]
        assert stored["a.html"]["id"] == first["a.html"]["id"]
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
        assert "Correction: the bridge" in hooks[1].body["text"]

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


def test_an_update_window_of_0_fetches_nothing_again(site: LocalSite, tmp_path: Path) -> None:
    config = setup(site, tmp_path, f"sqlite:///{tmp_path / 'n.db'}", 'update_window = "0"')
    config.write_text(config.read_text().replace("{url}", "http://127.0.0.1:9/hook"))
    assert crawl(config)["new"] == 2
    site.add("/wire/a.html", article_html(3))
    serve_feed(site, {"a": "2026-11-26T08:00:00Z"})
    row = crawl(config)
    assert (row["new"], row["revised"], row["known"]) == (0, 0, 2), row
    assert len(site.hits("/wire/a.html")) == 1
    assert {a["revision"] for a in export(config)} == {1}
