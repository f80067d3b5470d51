"""The whole test corpus through one real crawl: ingested or rejected with one reason, never
a crash.

Every feed document of ``tests/corpus/feeds`` (real outlets' feeds and feedparser's
ill-formed and encoding cases; the JSON fixtures left out, JSON Feed kept) is served by a
:class:`LocalSite` as its own source, with the Content-Type its feedparser test case declares
(``Header: Content-type: ...``) or ``application/xml``, and crawled by ONE
``newsrelay --log-format json crawl --all``. Two control sources with ordinary local pages
run in the same crawl.

The corpus's article links point at the real outlets: outside each source's scope (its feed
is on 127.0.0.1), so they are counted and never fetched, and no DNS lookup is made for them.
Relative links resolve onto the local site, which answers 404.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from crawler.feed_parser import parse_feed
from tests.localsite import LocalSite
from tests.support import (
    CORPUS,
    PEAK_RSS_LIMIT_MIB,
    article_html,
    corpus_feeds,
    run_measured,
    write_config,
)

_HEADER = re.compile(rb"Header:\s*Content-type:\s*([^\r\n]*?)\s*(?:-->|\r?\n)", re.I)


def content_type_of(body: bytes) -> str:
    """The Content-Type a feedparser test case asks to be served with, else XML."""
    match = _HEADER.search(body[:2048])
    return match.group(1).decode("latin-1") if match else "application/xml"


def test_every_corpus_feed_is_ingested_or_rejected_with_one_reason(
    site: LocalSite, tmp_path: Path
) -> None:
    feeds = corpus_feeds()
    assert len(feeds) > 300
    sources: dict[str, tuple[str, str]] = {}  # source -> (corpus file, feed URL)
    for n, (name, _format) in enumerate(feeds):
        body = (CORPUS / name).read_bytes()
        url = site.add(f"/corpus/{n}", body, content_type=content_type_of(body))
        sources[f"c{n:03d}"] = (name, url)
    for n in range(2):
        page = site.add(f"/news/control-{n}.html", article_html(500 + n))
        feed = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>c</title>'
            f"<item><title>Control {n}</title><link>{page}</link></item></channel></rss>"
        )
        sources[f"control-{n}"] = ("", site.add(f"/feeds/control-{n}.xml", feed))
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        "".join(f'[[sources]]\nname = "{s}"\nfeeds = ["{u}"]\n\n' for s, (_, u) in sources.items()),
    )
    config.write_text(
        config.read_text().replace("timeout = 10\n", "timeout = 5\nparallel_sources = 16\n")
    )

    result = run_measured(config, "--log-format", "json", "crawl", "--all", timeout=300)
    print(f"corpus crawl: peak RSS {result.peak_rss_mib:.0f} MiB, {result.seconds:.1f} s")

    assert "Traceback" not in result.stderr
    assert result.peak_rss_mib < PEAK_RSS_LIMIT_MIB
    assert result.returncode == 1  # some corpus files are no feeds: their sources fail
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    summaries = [r for r in logs if r["logger"] == "crawler.crawls"]
    assert sorted(r["source"] for r in summaries) == sorted(sources)  # one each, none lost
    assert [r for r in logs if r["level"] == "error"] == []

    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        runs = {
            row["name"]: dict(row)
            for row in conn.execute(
                "SELECT s.name, r.status, r.feeds_fetched, r.feeds_failed, r.entries_seen, "
                "r.new, r.error FROM crawl_runs r JOIN sources s ON s.id = r.source_id"
            )
        }
        stored = {url for (url,) in conn.execute("SELECT url FROM articles")}
    assert set(runs) == set(sources)

    ingested, rejected = [], []
    for source, (name, url) in sources.items():
        if not name:
            continue
        run: dict[str, Any] = runs[source]
        body = (CORPUS / name).read_bytes()
        expected = parse_feed(body, url, content_type_of(body))
        if run["status"] == "ok":
            # Ingested: the feed read, every entry the parser finds in those bytes seen.
            assert (run["feeds_fetched"], run["feeds_failed"]) == (1, 0), (name, run)
            assert run["entries_seen"] == len(expected.entries), (name, run)
            ingested.append(name)
        else:
            # Rejected: one reason, on one line, recorded on the run and in the log.
            assert run["status"] == "failed" and run["feeds_failed"] == 1, (name, run)
            assert run["error"].startswith(f"feed {url}: not a feed: "), (name, run)
            assert "; " not in run["error"] and "\n" not in run["error"], (name, run)
            assert expected.error is not None, (name, run)
            said = [r for r in logs if r["msg"].startswith(f"feed failed: source={source} ")]
            assert len(said) == 1, (name, said)
            rejected.append(name)
    print(f"corpus crawl: {len(ingested)} ingested, {len(rejected)} rejected")
    assert len(ingested) > 200
    assert len(ingested) + len(rejected) == len(feeds)

    # The control sources, crawled among them, are untouched by their neighbours.
    for n in range(2):
        assert runs[f"control-{n}"]["status"] == "ok"
        assert runs[f"control-{n}"]["new"] == 1
        assert site.url(f"/news/control-{n}.html") in stored
    # The outlets' links were counted, not followed: every page requested was on the local
    # site (relative links, answered 404), and no name was looked up.
    assert sum(r.get("offsite_links", 0) for r in logs) > 1000
    failed_pages = [r["msg"] for r in logs if r["msg"].startswith("page failed:")]
    assert all(f" url={site.base}/" in msg for msg in failed_pages), failed_pages
    assert not [r for r in logs if "DNS" in r["msg"]]
