"""Feed parsing on real outlets' feeds from the test corpus (tests/corpus/feeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.feed_parser import parse_feed
from tests.support import CORPUS, corpus_feeds

# (file in the corpus, entries it must yield, a link among them)
KNOWN = [
    ("arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20Reuters.xml", 10, "reuters.com"),
    ("arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20NYTimes.xml", 10, "nytimes.com"),
    ("arminreiter__FeedReader/FeedReader.Tests/Feeds/AtomTheVerge.xml", 10, "theverge.com"),
    ("arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss10OrfAt.xml", 10, "orf.at"),
    ("arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20CTVNews.xml", 10, "ctvnews.ca"),
]


@pytest.mark.parametrize(("name", "minimum", "host"), KNOWN)
def test_real_outlet_feeds_yield_their_entries(name: str, minimum: int, host: str) -> None:
    body = (CORPUS / name).read_bytes()
    parsed = parse_feed(body, "https://feeds.example/feed.xml", "application/xml")
    assert parsed.error is None
    assert len(parsed.entries) >= minimum
    assert any(host in entry.link for entry in parsed.entries)
    assert all(entry.link.startswith("http") for entry in parsed.entries)


def test_every_corpus_file_is_entries_or_one_reason() -> None:
    """No file in the corpus crashes the parser: each gives entries or a one-line reason."""
    feeds = corpus_feeds()
    assert len(feeds) > 300
    ingested = rejected = 0
    for name, _format in feeds:
        parsed = parse_feed((CORPUS / name).read_bytes(), "https://feeds.example/f.xml", "text/xml")
        if parsed.entries:
            ingested += 1
        elif parsed.error is not None:
            assert "\n" not in parsed.error
            rejected += 1
    # Most of the corpus is real, parseable feeds; an empty but valid feed is neither.
    assert ingested > 200
    assert ingested + rejected <= len(feeds)


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>a</title><link>/news/1</link><guid isPermaLink="false">id-1</guid></item>
    <item><title>b</title><guid>https://ex.com/news/2</guid></item>
    </channel></rss>"""
    parsed = parse_feed(body, "https://ex.com/feeds/rss.xml", "application/rss+xml")
    assert [e.link for e in parsed.entries] == ["https://ex.com/news/1", "https://ex.com/news/2"]
    assert parsed.entries[0].guid == "id-1"


def test_a_body_that_looks_like_a_path_is_not_opened(tmp_path: Path) -> None:
    """feedparser opens paths and URLs given as bytes; we hand it a stream, so it cannot."""
    secret = tmp_path / "feed.xml"
    secret.write_text(
        '<rss version="2.0"><channel><item><link>http://x/</link></item></channel></rss>'
    )
    parsed = parse_feed(str(secret).encode(), "https://ex.com/f", "application/xml")
    assert parsed.entries == []
    assert parsed.error is not None


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Not a feed</body></html>", b'{"json": true}', b"\x00\xff\xfe garbage"],
)
def test_not_a_feed_is_one_reason(body: bytes) -> None:
    parsed = parse_feed(body, "https://ex.com/f", "text/html")
    assert parsed.entries == []
    assert parsed.error is not None and parsed.error.startswith("not a feed")
