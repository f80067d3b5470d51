# ruff: noqa: RUF001 - Persian letters here are Persian, not look-alikes of Latin ones.
"""End-to-end crawls: the real ``newsrelay`` command against a real loopback site.

Nothing is mocked. A :class:`LocalSite` serves the feeds and article pages under
``tests/fixtures/site/`` (their ``http://newsrelay.test`` links are rewritten to the server's
address), ``newsrelay crawl`` runs as a subprocess into a fresh SQLite file or the PostgreSQL
test database, and what was stored is read back with ``newsrelay export --format jsonl``.

The newsroom the main test crawls:

* ``wire`` (RSS 2.0): the solar story, the night-bus story linked twice with tracking
  parameters (``/story?utm_source=rss&utm_medium=feed`` and ``?utm_campaign=...&fbclid=...``),
  an entry whose page is gone (404), and the harbour strike.
* ``courier`` (Atom): the same harbour strike URL, the rail tunnel, and a word-for-word copy
  of the solar story at another address (a syndicated republication).
* ``farsi`` (RSS 2.0): a Persian page in windows-1256 that declares its charset only in
  ``<meta charset>``, served as ``Content-Type: text/html`` without a charset.
* ``broken``: a "feed" URL that answers with an HTML page.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.fingerprints import content_hash
from tests.localsite import LocalSite
from tests.support import (
    FIXTURES,
    by_url,
    export,
    run_newsrelay,
    run_scrapy,
    summary,
    urlpath,
    write_config,
)

SITE = FIXTURES / "site"
FAKE_ORIGIN = b"http://newsrelay.test"

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml"
HTML = "text/html; charset=utf-8"

# Site paths.
WIRE_FEED = "/feeds/wire.xml"
COURIER_FEED = "/feeds/courier.atom"
FARSI_FEED = "/feeds/farsi.xml"
BROKEN_FEED = "/feeds/broken.xml"
ODD_LINK_FEED = "/feeds/odd-link.xml"
SOLAR = "/news/2026/03/solar-desalination.html"
SOLAR_COPY = "/syndication/2026/03/03/desalination-plant-gulf.html"
STORY = "/story"
HARBOUR = "/news/2026/03/harbour-strike.html"
MISSING = "/news/2026/03/missing-page.html"
TUNNEL = "/courier/2026/03/04/rail-tunnel.html"
PERSIAN = "/fa/news/1234.html"
ARTICLE_PAGES = (SOLAR, SOLAR_COPY, STORY, HARBOUR, TUNNEL, PERSIAN)

# path -> (fixture file, Content-Type). MISSING is deliberately not served: the site 404s.
ROUTES: dict[str, tuple[str, str]] = {
    WIRE_FEED: ("feeds/wire.rss.xml", RSS),
    COURIER_FEED: ("feeds/courier.atom.xml", ATOM),
    FARSI_FEED: ("feeds/farsi.rss.xml", RSS),
    BROKEN_FEED: ("feeds/not-a-feed.html", HTML),
    ODD_LINK_FEED: ("feeds/odd-link.rss.xml", RSS),
    SOLAR: ("news/solar-desalination.html", HTML),
    SOLAR_COPY: ("syndication/desalination-plant-gulf.html", HTML),
    STORY: ("news/night-bus.html", HTML),
    HARBOUR: ("news/harbour-strike.html", HTML),
    TUNNEL: ("courier/rail-tunnel.html", HTML),
    # No charset in the header: only the page's <meta charset="windows-1256"> says it.
    PERSIAN: ("fa/news-1234.html", "text/html"),
}

EXPORT_FIELDS = {"url", "urls", "title", "published", "source", "text", "html", "content_hash"}

# Text of every site's chrome (navigation, sidebars, footers, banners, comments): none of it
# is article text.
BOILERPLATE = (
    "Subscribe to Wire Premium",
    "Search the Wire",
    "We use cookies",
    "Accept all cookies",
    "Most read",
    "Late penalty settles the derby",
    "Sign up for the Wire morning briefing",
    "Advertisement",
    "Related coverage",
    "Reader comments",
    "who pays for the maintenance",
    "nobody asked us anything",
    "Contact the newsroom",
    "All rights reserved",
    "Brent crude",
    "Crosswords and puzzles",
    "Play the Courier daily crossword",
    "Printed and published by Courier Media",
    "Log in",
    "پربازدیدترین",
    "پربازديدترين",
    "تمامی حقوق",
    "تمامي حقوق",
    "صفحه اصلی",
    "صفحه اصلي",
)
# Markup the sanitizer must remove: scripts, frames, event handlers, javascript: links.
UNSAFE_HTML = re.compile(r"<script|<iframe|<style|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


# -- helpers --------------------------------------------------------------------------------
def serve(site: LocalSite, path: str) -> str:
    """Register fixture ``path`` on ``site`` with links pointing at the site; return its URL."""
    fixture, content_type = ROUTES[path]
    body = (SITE / fixture).read_bytes().replace(FAKE_ORIGIN, site.base.encode("ascii"))
    return site.add(path, body, content_type=content_type)


def sources_toml(site: LocalSite, feeds: dict[str, str]) -> str:
    """``[[sources]]`` tables: source name -> feed path on ``site``."""
    return "".join(
        f'[[sources]]\nname = "{name}"\nfeeds = ["{site.url(path)}"]\n\n'
        for name, path in feeds.items()
    )


def persian_page() -> tuple[str, list[str]]:
    """The Persian fixture's headline and paragraphs, decoded from windows-1256."""
    page = (SITE / ROUTES[PERSIAN][0]).read_bytes().decode("cp1256")
    headline = re.search(r'<h1 class="title">(.*?)</h1>', page)
    assert headline is not None
    return headline.group(1), re.findall(r"<p>(.*?)</p>", page)


@dataclass(frozen=True)
class Expected:
    """What one stored article must look like."""

    title: str
    published: str  # ISO 8601, UTC
    sources: frozenset[str]  # more than one: whichever source stored the story first
    sentence: str  # a distinctive sentence of the article body


EXPECTED: dict[str, Expected] = {
    SOLAR: Expected(
        "Solar-powered desalination plant opens on the Gulf coast",
        "2026-03-03T04:45:00+00:00",  # pubDate Tue, 03 Mar 2026 08:15:00 +0330
        frozenset({"wire", "courier"}),
        "The plant can produce 42,000 cubic metres of drinking water a day using only the "
        "energy of the sun, engineers said on Tuesday.",
    ),
    STORY: Expected(
        "City council approves night bus network",
        "2026-03-03T07:00:00+00:00",  # the first of its two entries
        frozenset({"wire"}),
        "Night shift nurses at the general hospital had campaigned for the service for three "
        "years, collecting more than nine thousand signatures on a petition delivered to the "
        "town hall in January.",
    ),
    HARBOUR: Expected(
        "Dock workers strike halts harbour traffic",
        "2026-03-02T18:20:00+00:00",  # RSS pubDate +0000 and Atom updated +01:00 agree
        frozenset({"wire", "courier"}),
        "Shipping agents estimated that twenty-three vessels were waiting at anchor, among "
        "them two refrigerated carriers loaded with fruit that must be unloaded within the "
        "week.",
    ),
    TUNNEL: Expected(
        "Rail tunnel under the estuary reaches halfway mark",
        "2026-03-04T05:30:00+00:00",  # Atom <published> 06:30+01:00, not <updated>
        frozenset({"courier"}),
        # A paragraph with a link in it, wrapped over several lines in the page's source.
        "The machine, named Margaret after the town's first female harbour master, advances "
        "about fourteen metres a day and lines the tunnel with concrete rings as it goes.",
    ),
    PERSIAN: Expected(
        "افتتاح خط جديد متروي تهران با حضور شهردار",
        "2026-03-03T06:30:00+00:00",  # pubDate Tue, 03 Mar 2026 10:00:00 +0330
        frozenset({"farsi"}),
        "به گفته مديرعامل شرکت بهره\u200cبرداري مترو، اين خط روزانه بيش از سيصد هزار مسافر را"
        " جابه\u200cجا خواهد کرد و زمان سفر از غرب به شرق شهر را به کمتر از چهل دقيقه کاهش"
        " مي\u200cدهد.",
    ),
}


def check_articles(articles: list[dict[str, Any]], site: LocalSite) -> None:
    """The newsroom's five stories, each stored once, complete and clean."""
    assert len(articles) == len(EXPECTED), [a["url"] for a in articles]
    stored = by_url(articles)
    for path, expected in EXPECTED.items():
        url = site.url(path)
        article = stored.get(url)
        assert article is not None, f"{path} not stored"
        assert article.keys() >= EXPORT_FIELDS
        assert article["title"] == expected.title, path
        assert article["published"] == expected.published, path
        assert article["source"] in expected.sources, path
        text = article["text"]
        assert expected.sentence in text, path
        for chrome in BOILERPLATE:
            assert chrome not in text, f"{path}: boilerplate {chrome!r} in text"
        # Plain text: one line per paragraph, no indentation carried over from the HTML source.
        for line in text.splitlines():
            assert line == " ".join(line.split()), f"{path}: unnormalized line {line!r}"
        html = article["html"]
        assert "<p>" in html, path
        assert UNSAFE_HTML.search(html) is None, f"{path}: unsafe markup in {html!r}"
        assert re.fullmatch(r"[0-9a-f]{64}", article["content_hash"]), path
        assert article["content_hash"] == content_hash(text), path
    assert len({a["content_hash"] for a in articles}) == len(articles)

    # Tracking parameters are not part of the address; the story listed twice is one article.
    story = stored[site.url(STORY)]
    assert story["url"] == site.url(STORY)
    assert story["urls"] == [site.url(STORY)]
    # The harbour strike, listed by both sources under one URL: one article, one address.
    harbour = stored[site.url(HARBOUR)]
    assert harbour["url"] == site.url(HARBOUR)
    assert harbour["urls"] == [site.url(HARBOUR)]
    assert harbour["duplicates"] == []
    # The solar story and its word-for-word copy elsewhere: one article, both addresses. Which
    # one is "the first" depends on which page the crawl finished first.
    solar = stored[site.url(SOLAR)]
    assert stored[site.url(SOLAR_COPY)] is solar
    first, second = solar["url"], ({site.url(SOLAR), site.url(SOLAR_COPY)} - {solar["url"]}).pop()
    assert solar["urls"] == [first, second]
    assert [copy["url"] for copy in solar["duplicates"]] == [second]
    assert solar["source"] == ("wire" if first == site.url(SOLAR) else "courier")

    # The Atom article's page: links made absolute, handlers and javascript: links removed.
    # Its photo and caption are not body text (issue #15: extraction with images off).
    tunnel = stored[site.url(TUNNEL)]
    assert f'<a href="{site.url("/courier/people/margaret-hale")}"' in tunnel["html"]
    assert "<img" not in tunnel["html"]
    assert "southern bank</a>" in tunnel["html"]

    # windows-1256, declared only in <meta>: the stored text is the page's text, letter for
    # letter (ZERO WIDTH NON-JOINERs, the Persian half-spaces, included).
    headline, paragraphs = persian_page()
    assert headline == EXPECTED[PERSIAN].title
    assert len(paragraphs) == 5
    persian = stored[site.url(PERSIAN)]
    # The headline is the title field; the body does not repeat it.
    assert persian["title"] == headline
    assert persian["text"] == "\n".join(paragraphs)
    assert persian["language"] == "fa"


# -- the core loop --------------------------------------------------------------------------
def test_crawl_stores_every_story_once_and_a_recrawl_changes_nothing(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """One ``crawl --all`` of an RSS source, an Atom source, a Persian windows-1256 source and
    a broken source stores each story exactly once (titles, clean text, sanitized HTML, UTC
    publication times, canonical URLs, aliases); the 404 page and the broken feed are reported
    in the summary, the broken feed fails its source and the exit code, and nothing else. A
    second crawl of the unchanged feeds stores nothing, fetches no stored page again, exits 0
    although a page still 404s, and leaves the export byte for byte as it was.
    """
    for path in ROUTES.keys() - {ODD_LINK_FEED}:
        serve(site, path)
    config = write_config(
        tmp_path / "newsrelay.toml",
        db_url,
        sources_toml(
            site,
            {
                "wire": WIRE_FEED,
                "courier": COURIER_FEED,
                "farsi": FARSI_FEED,
                "broken": BROKEN_FEED,
            },
        ),
    )

    first = run_newsrelay("crawl", "--all", "--json", config=config)

    assert "Traceback" not in first.stderr, first.stderr
    assert first.returncode == 1, first.stdout + first.stderr  # the broken source failed
    rows = summary(first.stdout)
    assert set(rows) == {"wire", "courier", "farsi", "broken"}, first.stdout
    assert {name: row["status"] for name, row in rows.items()} == {
        "wire": "ok",  # a page failing does not fail the source
        "courier": "ok",
        "farsi": "ok",
        "broken": "failed",
    }
    assert {name: row["errors"] for name, row in rows.items()} == {
        "wire": 1,
        "courier": 0,
        "farsi": 0,
        "broken": 1,
    }
    assert rows["wire"]["why"] == f"page {site.url(MISSING)}: HTTP 404"
    assert rows["broken"]["why"].startswith(f"feed {site.url(BROKEN_FEED)}: not a feed: ")
    assert ";" not in rows["broken"]["why"]  # one reason
    assert (rows["courier"]["why"], rows["farsi"]["why"]) == ("", "")
    # Five stories; the harbour strike (same URL in both feeds) and the solar copy (same text
    # at another URL) count once each as a duplicate or, had one source finished before the
    # other read its feed, as already stored.
    assert sum(row["new"] for row in rows.values()) == 5
    assert rows["farsi"]["new"] == 1
    assert sum(rows[s]["duplicates"] + rows[s]["known"] for s in rows) == 2

    # The tracking-parameter links were fetched once, at the canonical address.
    assert [hit.path for hit in site.hits(STORY)] == [STORY]
    assert [hit.status for hit in site.hits(MISSING)] == [404]
    fetched = {path: len(site.hits(path)) for path in ARTICLE_PAGES}
    assert all(count >= 1 for count in fetched.values()), fetched

    exported = tmp_path / "articles.jsonl"
    result = run_newsrelay("export", "--format", "jsonl", "--output", str(exported), config=config)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("exported 5 articles")
    lines = exported.read_text(encoding="utf-8").splitlines()
    articles = [json.loads(line) for line in lines]
    assert all(isinstance(article, dict) for article in articles)
    check_articles(articles, site)

    # -- the same feeds again: unchanged, so each is answered 304 ----------------------------
    requests_before = len(site.requests)
    second = run_newsrelay("crawl", "--json", "wire", "courier", "farsi", config=config)

    assert "Traceback" not in second.stderr, second.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    rows = summary(second.stdout)
    assert {
        name: (
            row["status"],
            row["new"],
            row["duplicates"],
            row["feeds_not_modified"],
            row["errors"],
        )
        for name, row in rows.items()
    } == {
        "wire": ("ok", 0, 0, 1, 0),
        "courier": ("ok", 0, 0, 1, 0),
        "farsi": ("ok", 0, 0, 1, 0),
    }
    repoll = [r for r in site.requests[requests_before:] if urlpath(r.path) != "/robots.txt"]
    assert sorted(urlpath(r.path) for r in repoll) == sorted([WIRE_FEED, COURIER_FEED, FARSI_FEED])
    assert all(r.status == 304 and "if-none-match" in r.headers for r in repoll)

    # -- the wire feed changes: stored links are not fetched again -------------------------
    serve(site, WIRE_FEED)
    wire_feed = site._route(WIRE_FEED)
    assert wire_feed is not None
    site.add(WIRE_FEED, wire_feed.body + b"\n", content_type=wire_feed.content_type)
    requests_before = len(site.requests)
    third = run_newsrelay("crawl", "--json", "wire", config=config)
    assert third.returncode == 0, third.stdout + third.stderr  # only a page failed
    rows = summary(third.stdout)
    assert (rows["wire"]["new"], rows["wire"]["known"], rows["wire"]["errors"]) == (
        0,
        3,  # solar, story, harbour (the 404 page is not stored)
        1,
    )
    assert rows["wire"]["why"] == f"page {site.url(MISSING)}: HTTP 404"
    # No stored page was requested again; the page that failed is retried.
    assert {path: len(site.hits(path)) for path in ARTICLE_PAGES} == fetched
    again = {urlpath(r.path) for r in site.requests[requests_before:]} - {"/robots.txt"}
    assert again == {WIRE_FEED, MISSING}
    assert len(site.hits(MISSING)) == 2

    # The export to stdout now is the file written after the first crawl, byte for byte.
    result = run_newsrelay("export", "--format", "jsonl", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout == exported.read_text(encoding="utf-8")


# -- the same spider under plain Scrapy ----------------------------------------------------
def test_scrapy_crawl_feeds_uses_the_config_file(site: LocalSite, tmp_path: Path) -> None:
    """``scrapy crawl feeds -a source=NAME`` from the repository root, with the config in
    ``$NEWSRELAY_CONFIG``, crawls that source like ``newsrelay crawl`` does: its ``[fetch]``
    table applies (loopback allowed, its user agent sent) and the articles are stored.
    """
    for path in (COURIER_FEED, HARBOUR, TUNNEL, SOLAR_COPY):
        serve(site, path)
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        sources_toml(site, {"courier": COURIER_FEED}),
    )
    agent = "newsrelay-e2e/1.0 (+http://newsrelay.test/bot)"
    config.write_text(
        config.read_text().replace("[fetch]\n", f'[fetch]\nuser_agent = "{agent}"\n', 1)
    )

    done = run_scrapy(config, "courier")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    articles = export(config)
    assert sorted(a["url"] for a in articles) == sorted(
        site.url(p) for p in (HARBOUR, TUNNEL, SOLAR_COPY)
    )
    assert {a["source"] for a in articles} == {"courier"}
    tunnel = by_url(articles)[site.url(TUNNEL)]
    assert EXPECTED[TUNNEL].sentence in tunnel["text"]
    assert tunnel["published"] == EXPECTED[TUNNEL].published
    assert {hit.headers.get("user-agent") for hit in site.hits(TUNNEL)} == {agent}
    with sqlite3.connect(database) as conn:
        runs = conn.execute("SELECT status, new FROM crawl_runs").fetchall()
    assert runs == [("ok", 3)]


# -- refusing private addresses -------------------------------------------------------------
def test_private_addresses_are_refused_by_default(site: LocalSite, tmp_path: Path) -> None:
    """With ``allow_private_networks = false`` a loopback feed is not even requested: the
    source fails with a reason saying it was refused, the exit code is 1, nothing is stored.
    Without ``--json`` the same crawl prints the "crawl summary" table, the reason in it as
    text (its ``[fetch]`` is not console markup).
    """
    for path in (WIRE_FEED, SOLAR, STORY, HARBOUR):
        serve(site, path)
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        sources_toml(site, {"wire": WIRE_FEED}),
        allow_private=False,
    )

    result = run_newsrelay("crawl", "--json", "wire", config=config)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    row = summary(result.stdout)["wire"]
    assert (row["status"], row["new"], row["errors"]) == ("failed", 0, 1)
    assert row["why"].startswith(f"feed {site.url(WIRE_FEED)}: refused 127.0.0.1:"), row
    assert "non-public address" in row["why"]
    # The hint names the setting as the config file spells it.
    assert row["why"].endswith("(set [fetch] allow_private_networks = true to allow)"), row
    assert site.requests == []  # not the feed, not even robots.txt
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (0,)
        assert conn.execute("SELECT status FROM crawl_runs").fetchall() == [("failed",)]

    # For people: the table, which must not eat the reason's "[fetch]" as console markup.
    table = run_newsrelay("crawl", "wire", config=config)

    assert "Traceback" not in table.stderr, table.stderr
    assert table.returncode == 1, table.stdout + table.stderr
    assert "crawl summary" in table.stdout
    assert "wire" in table.stdout
    assert "failed" in table.stdout
    assert "allow_private_networks" in table.stdout, table.stdout
    assert "[fetch]" in table.stdout, table.stdout
    assert site.requests == []


# -- what a feed says reaches the summary as text ------------------------------------------
def test_summary_shows_feed_text_verbatim(site: LocalSite, tmp_path: Path) -> None:
    """An entry linking to ``ftp://.../[/reports]/...`` is skipped and counted as failed, the
    other entry is stored, the source stays ok (exit 0), and the summary quotes the link as
    the feed wrote it. (That such text is not console markup in the table people read is
    checked in ``test_private_addresses_are_refused_by_default``.)
    """
    for path in (ODD_LINK_FEED, SOLAR):
        serve(site, path)
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        sources_toml(site, {"wire": ODD_LINK_FEED}),
    )

    result = run_newsrelay("crawl", "--json", "wire", config=config)

    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    row = summary(result.stdout)["wire"]
    assert (row["status"], row["new"], row["errors"]) == ("ok", 1, 1)
    assert row["why"] == (
        f"entry {site.url(ODD_LINK_FEED)}: not an http(s) URL: "
        "'ftp://ftp.newsrelay.test/pub/[/reports]/desalination-2026.pdf'"
    )
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT url FROM articles").fetchall() == [(site.url(SOLAR),)]


# -- command-line errors --------------------------------------------------------------------
def test_crawl_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    """An unknown source name, no name without ``--all``, or names with ``--all``: exit code
    2, a short message on stderr, no traceback, and no database created.
    """
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        '[[sources]]\nname = "wire"\nfeeds = ["http://127.0.0.1:9/feeds/wire.xml"]\n',
    )

    unknown = run_newsrelay("crawl", "nosuch", config=config)
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    assert unknown.stderr.splitlines() == [
        "newsrelay: error: unknown source 'nosuch' (configured: wire)"
    ]

    for args in (("crawl",), ("crawl", "wire", "--all")):
        usage = run_newsrelay(*args, config=config)
        assert usage.returncode == 2, args
        assert "Traceback" not in usage.stderr, args
        assert "name one or more sources, or give --all" in usage.stderr, args

    assert not database.exists()


# -- meta refresh ---------------------------------------------------------------------------
def test_meta_refresh_stubs_lead_to_the_article(site: LocalSite, tmp_path: Path) -> None:
    """Pages that only say ``<meta http-equiv="refresh" content="0; url=...">`` are followed
    to the article they point at: one in UTF-8 with the tag after 3,000 Persian characters
    (past the first 4,096 bytes), one in UTF-16 (no ASCII bytes to spot the tag by). A
    refresh to ``javascript:`` is not followed: that page is kept as it is.
    """
    padding = "<!-- " + "خبر" * 1000 + " -->"  # 3,000 characters, 6,000 bytes
    stub = (
        '<html><head><meta charset="utf-8">{pad}'
        '<meta http-equiv="Refresh" content="0; url={to}"></head><body></body></html>'
    )
    site.add(
        "/stub-utf8",
        stub.format(pad=padding, to=site.url(SOLAR)),
        content_type="text/html; charset=utf-8",
    )
    site.add(
        "/stub-utf16",
        stub.format(pad="", to=site.url(HARBOUR)).encode("utf-16"),
        content_type="text/html; charset=utf-16",
    )
    kept = (SITE / ROUTES[STORY][0]).read_text(encoding="utf-8")
    kept = kept.replace(
        "<head>", '<head><meta http-equiv="refresh" content="0;url=javascript:x()">'
    )
    site.add("/js-refresh", kept, content_type=HTML)
    for path in (SOLAR, HARBOUR):
        serve(site, path)
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + "".join(
            f"<item><title>{p}</title><link>{site.url(p)}</link><guid>{p}</guid></item>"
            for p in ("/stub-utf8", "/stub-utf16", "/js-refresh")
        )
        + "</channel></rss>"
    )
    site.add("/refresh.xml", feed, content_type=RSS)
    database = tmp_path / "newsrelay.db"
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{database}",
        sources_toml(site, {"wire": "/refresh.xml"}),
    )

    result = run_newsrelay("crawl", "wire", config=config)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(site.hits(SOLAR)) == 1
    assert len(site.hits(HARBOUR)) == 1
    with sqlite3.connect(database) as conn:
        titles = dict(conn.execute("SELECT url, title FROM articles").fetchall())
    # Stored under the address the feed gave, with the text of the page it led to.
    assert set(titles) == {site.url("/stub-utf8"), site.url("/stub-utf16"), site.url("/js-refresh")}
    assert "desalination" in titles[site.url("/stub-utf8")].lower(), titles
    assert "harbour" in titles[site.url("/stub-utf16")].lower(), titles
    assert "bus" in titles[site.url("/js-refresh")].lower(), titles
