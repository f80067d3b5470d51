"""Sources without (only) feeds, end to end: news sitemaps, listing pages, per-source
extraction rules and ``newsrelay extract``, with the real ``newsrelay`` command against a
real loopback site.

Nothing is mocked. A :class:`LocalSite` serves sitemaps, listing pages, feeds and article
pages built from the templates under ``tests/fixtures/sources/`` (sitemap dates are computed
relative to now, so "recent" stays recent); ``newsrelay crawl`` runs as a subprocess; what
reached the server is read from ``site.requests`` and what was stored from
``newsrelay export --format jsonl``.

Every generated article has its own text (sentences drawn with a seed from its path), so no
two of them are near-duplicates of each other.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from tests.localsite import LocalSite
from tests.support import FIXTURES, Result, export, run_newsrelay, summary, urlpath, write_config

SOURCES = FIXTURES / "sources"
ARTICLE = Template((SOURCES / "article.html").read_text(encoding="utf-8"))
LISTING = Template((SOURCES / "listing.html").read_text(encoding="utf-8"))
GAZETTE_PAGE = SOURCES / "gazette-story.html"

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
XML = "application/xml"

SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


# -- generated articles ---------------------------------------------------------------------
_SUBJECTS = (
    "The city council",
    "Port officials",
    "A regional court",
    "Union leaders",
    "The health ministry",
    "Local farmers",
    "Railway engineers",
    "The central bank",
    "Residents of the old quarter",
    "A group of teachers",
    "The fire brigade",
    "Museum curators",
)
_VERBS = (
    "announced",
    "rejected",
    "approved",
    "questioned",
    "postponed",
    "welcomed",
    "criticised",
    "published",
    "defended",
    "delayed",
)
_OBJECTS = (
    "a plan to rebuild the northern bridge",
    "the new water tariff",
    "a report on air quality near the motorway",
    "the budget for school meals",
    "a proposal to close the night market",
    "the timetable of the coastal ferry",
    "new rules for street parking",
    "the expansion of the airport terminal",
    "a study of flooding along the river",
    "the sale of the old hospital site",
)
_TAILS = (
    "on Tuesday after a long debate",
    "despite objections from neighbours",
    "in a statement released late in the evening",
    "after months of negotiations",
    "at a crowded public meeting",
    "citing rising costs",
    "without giving a date",
    "for the second time this year",
)


@dataclass(frozen=True)
class Story:
    """A generated article: what its page says."""

    path: str
    title: str
    paragraphs: tuple[str, ...]
    page_date: datetime  # the page's own article:published_time

    @property
    def text(self) -> str:
        """The article text as stored: one line per paragraph, no headline."""
        return "\n".join(self.paragraphs)

    def html(self) -> str:
        """The article page (tests/fixtures/sources/article.html filled in)."""
        return ARTICLE.substitute(
            title=escape(self.title),
            published=self.page_date.isoformat(),
            paragraphs="\n".join(f"      <p>{p}</p>" for p in self.paragraphs),
        )


def story(path: str, page_date: datetime | None = None) -> Story:
    """The article served at ``path``: its title and text are drawn with ``path`` as seed."""
    rng = random.Random(path)

    def sentence() -> str:
        return (
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_TAILS)}, {rng.randint(3, 999)} residents said."
        )

    title = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    paragraphs = tuple(" ".join(sentence() for _ in range(3)) for _ in range(4))
    return Story(path, title, paragraphs, page_date or datetime(2026, 3, 1, 12, tzinfo=UTC))


def serve_stories(site: LocalSite, stories: list[Story]) -> dict[str, Story]:
    """Serve each story's page; return them by URL."""
    return {site.add(s.path, s.html(), content_type=HTML): s for s in stories}


# -- sitemaps and feeds ---------------------------------------------------------------------
def w3c(moment: datetime) -> str:
    """A sitemap datetime in UTC with a ``Z``: ``2026-03-05T09:40:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SitemapUrl:
    """A ``<url>`` of a (news) sitemap; dates as written in the file."""

    loc: str
    news_date: str | None = None  # news:publication_date
    lastmod: str | None = None
    title: str | None = None


def urlset(urls: list[SitemapUrl]) -> str:
    """A news sitemap (a ``<urlset>`` with the Google News namespace)."""
    entries = []
    for url in urls:
        parts = [f"<loc>{escape(url.loc)}</loc>"]
        if url.lastmod:
            parts.append(f"<lastmod>{url.lastmod}</lastmod>")
        news = []
        if url.news_date:
            news.append(f"<news:publication_date>{url.news_date}</news:publication_date>")
        if url.title:
            news.append(f"<news:title>{escape(url.title)}</news:title>")
        if news:
            publication = (
                "<news:publication><news:name>The Daily Relay</news:name>"
                "<news:language>en</news:language></news:publication>"
            )
            parts.append(f"<news:news>{publication}{''.join(news)}</news:news>")
        entries.append("  <url>" + "".join(parts) + "</url>")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {SITEMAP_NS} {NEWS_NS}>\n'
        + "\n".join(entries)
        + "\n</urlset>\n"
    )


def sitemap_index(sitemaps: list[tuple[str, str | None]]) -> str:
    """A sitemap index: (loc, lastmod or None) per child sitemap."""
    entries = "\n".join(
        f"  <sitemap><loc>{escape(loc)}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for loc, lastmod in sitemaps
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {SITEMAP_NS}>\n'
        f"{entries}\n</sitemapindex>\n"
    )


def rss(items: list[tuple[str, str, datetime | None]]) -> str:
    """An RSS 2.0 feed: (link, title, pubDate or None) per item."""
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        + (f"<pubDate>{format_datetime(date)}</pubDate>" if date else "")
        + "</item>\n"
        for link, title, date in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>Test feed</title><link>http://127.0.0.1/</link><description>Test</description>\n"
        f"{body}</channel></rss>\n"
    )


# -- helpers --------------------------------------------------------------------------------
def crawl(config: Path, *names: str) -> Result:
    """``newsrelay crawl --json NAMES`` (``--all`` if none), checked for tracebacks."""
    result = run_newsrelay("crawl", "--json", *(names or ("--all",)), config=config)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def paths_since(site: LocalSite, mark: int) -> list[str]:
    """The paths requested since ``site.requests[mark]``, robots.txt left out, sorted."""
    return sorted(urlpath(r.path) for r in site.requests[mark:] if urlpath(r.path) != "/robots.txt")


def hit_counts(site: LocalSite, paths: list[str]) -> dict[str, int]:
    """How many times each path (query ignored) was requested."""
    return {path: len(site.hits(path)) for path in paths}


def by_url(articles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Exported articles by their (first) URL."""
    return {article["url"]: article for article in articles}


# -- news sitemaps --------------------------------------------------------------------------
def test_news_sitemaps_follow_only_entries_younger_than_max_age(
    site: LocalSite, tmp_path: Path
) -> None:
    """A robots.txt given in ``sitemaps`` leads through its ``Sitemap:`` line to an index of
    three news sitemaps: a plain one (with blank lines before its XML declaration, as
    WordPress plugins send them, and an address with ``&amp;`` in its query), a ``.xml.gz``
    file served as ``application/x-gzip`` (gzipped data, no Content-Encoding) and one sent
    with ``Content-Encoding: gzip``. Only the
    entries younger than ``max_age`` (2d by default; 6h for a second source) are fetched,
    dated by ``news:publication_date`` where there is one (it wins over a newer ``lastmod``),
    else by ``lastmod``; undated entries are fetched too. Old entries, and an index entry for
    an old archive sitemap, are never requested. The stored articles carry the sitemap's
    dates in UTC (the page's own date for the undated entry) and the pages' text.
    """
    now = datetime.now(UTC).replace(microsecond=0)

    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    tehran = timezone(timedelta(hours=3, minutes=30))
    # request target -> (what the sitemap says, the published time stored, or None if the
    # page is not to be fetched)
    daily: dict[str, tuple[SitemapUrl, datetime | None]] = {}
    hourly: dict[str, tuple[SitemapUrl, datetime | None]] = {}

    def entry(
        path: str,
        published: datetime | None,
        *,
        news_date: str | None = None,
        lastmod: str | None = None,
        into: dict[str, tuple[SitemapUrl, datetime | None]] = daily,
    ) -> SitemapUrl:
        url = SitemapUrl(site.url(path), news_date, lastmod, title=f"Sitemap title of {path}")
        into[path] = (url, published)
        return url

    news_1 = [
        entry("/news/pub-1h.html?id=7&section=world", ago(hours=1), news_date=w3c(ago(hours=1))),
        # news:publication_date wins over a newer lastmod (an edit is not a new story) ...
        entry(
            "/news/pub-5h-edited.html",
            ago(hours=5),
            news_date=w3c(ago(hours=5)),
            lastmod=w3c(ago(minutes=5)),
        ),
        # ... so an old story edited an hour ago is not followed.
        entry(
            "/news/pub-3d-edited.html",
            None,
            news_date=w3c(ago(days=3)),
            lastmod=w3c(ago(hours=1)),
        ),
        entry("/news/lastmod-30h.html", ago(hours=30), lastmod=w3c(ago(hours=30))),
    ]
    news_2 = [
        # A local time with an offset: stored in UTC.
        entry(
            "/news/pub-2h-tehran.html",
            ago(hours=2),
            news_date=ago(hours=2).astimezone(tehran).isoformat(),
        ),
        entry("/news/lastmod-5d.html", None, lastmod=w3c(ago(days=5))),
        entry("/news/pub-10d-date-only.html", None, news_date=ago(days=10).date().isoformat()),
    ]
    news_3 = [
        entry("/news/pub-3h-encoded.html", ago(hours=3), news_date=w3c(ago(hours=3))),
        entry("/news/pub-50h.html", None, news_date=w3c(ago(hours=50))),
        # No date at all: nothing says it is old, so it is followed.
        entry("/news/undated.html", ago(hours=7)),
    ]
    # The 6h source reads its own news sitemap directly.
    news_hourly = [
        entry("/hourly/pub-1h.html", ago(hours=1), news_date=w3c(ago(hours=1)), into=hourly),
        entry("/hourly/lastmod-4h.html", ago(hours=4), lastmod=w3c(ago(hours=4)), into=hourly),
        entry("/hourly/pub-8h.html", None, news_date=w3c(ago(hours=8)), into=hourly),
        entry("/hourly/lastmod-20h.html", None, lastmod=w3c(ago(hours=20)), into=hourly),
    ]

    site.add(
        "/robots.txt",
        f"User-agent: *\nDisallow: /private/\n\nSitemap: {site.url('/sitemap-index.xml')}\n",
        content_type="text/plain",
    )
    site.add(
        "/sitemap-index.xml",
        sitemap_index(
            [
                (site.url("/sitemap-news-1.xml"), w3c(ago(minutes=10))),
                (site.url("/sitemap-news-2.xml.gz"), None),
                (site.url("/sitemap-news-3.xml"), w3c(ago(hours=1))),
                (site.url("/sitemap-archive-2019.xml"), w3c(ago(days=400))),
            ]
        ),
        content_type=XML,
    )
    site.add("/sitemap-news-1.xml", "\n\n" + urlset(news_1), content_type=XML)
    gzipped = gzip.compress(urlset(news_2).encode("utf-8"), mtime=0)
    site.add("/sitemap-news-2.xml.gz", gzipped, content_type="application/x-gzip")
    site.add("/sitemap-news-3.xml", urlset(news_3), content_type=XML, gzip=True)
    site.add("/sitemap-archive-2019.xml", urlset([]), content_type=XML)
    site.add("/hourly/news.xml", urlset(news_hourly), content_type=XML)
    pages = {**daily, **hourly}
    page_dates = {"/news/undated.html": ago(hours=7)}
    stories = {path: story(path, page_dates.get(path)) for path in pages}
    serve_stories(site, list(stories.values()))

    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "daily"\nsitemaps = ["{site.url("/robots.txt")}"]\n\n'
        f'[[sources]]\nname = "hourly"\nsitemaps = ["{site.url("/hourly/news.xml")}"]\n'
        'max_age = "6h"\n',
    )

    result = crawl(config)

    assert result.returncode == 0, result.stdout + result.stderr
    rows = summary(result.stdout)
    assert {name: (row["status"], row["new"], row["errors"]) for name, row in rows.items()} == {
        "daily": ("ok", 6, 0),
        "hourly": ("ok", 2, 0),
    }
    fetched = sorted(path for path, (_, published) in pages.items() if published)
    never = sorted(path for path, (_, published) in pages.items() if not published)
    requested = Counter(r.path for r in site.requests)  # request targets, queries included
    assert {target: requested[target] for target in fetched} == dict.fromkeys(fetched, 1)
    assert {target: requested[target] for target in never} == dict.fromkeys(never, 0)
    # Each sitemap was read once; the old archive sitemap of the index was not.
    sitemaps = ["/sitemap-index.xml", "/sitemap-news-1.xml", "/sitemap-news-2.xml.gz"]
    sitemaps += ["/sitemap-news-3.xml", "/hourly/news.xml"]
    assert hit_counts(site, sitemaps) == dict.fromkeys(sitemaps, 1)
    assert site.hits("/sitemap-archive-2019.xml") == []
    assert "gzip" in site.hits("/sitemap-news-3.xml")[0].headers.get("accept-encoding", "")
    assert sorted(requested) == sorted([*fetched, *sitemaps, "/robots.txt"])

    articles = by_url(export(config))
    assert sorted(articles) == sorted(site.url(path) for path in fetched)
    for path in fetched:
        article, expected = articles[site.url(path)], stories[path]
        assert article["source"] == ("hourly" if path.startswith("/hourly/") else "daily"), path
        assert article["title"] == expected.title, path
        assert article["text"] == expected.text, path
        published = pages[path][1]
        assert published is not None
        assert article["published"] == published.isoformat(), path


# -- listing pages --------------------------------------------------------------------------
def latest_page(
    site: LocalSite,
    page: int,
    stories: list[Story],
    last: bool,
    prefix: str = "/latest/",
    delay: float = 0.0,
) -> None:
    """Serve page ``page`` of the listing at ``prefix`` (answered after ``delay`` seconds):
    ``li.item`` blocks holding the links, and an ``a.next`` link to the next page unless this
    one is the ``last``."""

    def page_path(number: int) -> str:
        return prefix if number == 1 else f"{prefix}page/{number}/"

    path = page_path(page)
    # Beside its headline link each item has a share button, a mail link and an anchor to
    # the comments of this page: none of them is an article.
    items = "\n".join(
        f'      <li class="item"><h2><a href="{s.path}">{escape(s.title)}</a></h2>'
        f"<p>{s.paragraphs[0][:60]}...</p>"
        '<a class="share" href="javascript:void(0)">Share</a> '
        '<a href="mailto:desk@relay.test">Mail the desk</a> <a href="#comments">Comments</a></li>'
        for s in stories
    )
    pager = []
    if page > 1:
        pager.append(f'      <li><a class="prev" href="{page_path(page - 1)}">Newer</a></li>')
    if not last:
        pager.append(f'      <li><a class="next" href="{page_path(page + 1)}">Older</a></li>')
    html = LISTING.substitute(heading="Latest news", items=items, pager="\n".join(pager))
    site.add(path, html, content_type=HTML, delay=delay)


def brief_page(site: LocalSite, page: int, stories: list[Story], last: bool) -> None:
    """Serve page ``page`` of /brief/: ``a.headline`` links beside section links, and a
    ``li.next`` element holding the next link."""
    path = "/brief/" if page == 1 else f"/brief/page/{page}/"
    # On the first page the links are relative to it.
    hrefs = [s.path.removeprefix("/brief/") if page == 1 else s.path for s in stories]
    items = "\n".join(
        f'      <li><a class="headline" href="{href}">{escape(s.title)}</a>'
        ' <a class="section" href="/world/">World</a></li>'
        for s, href in zip(stories, hrefs, strict=True)
    )
    pager = []
    if page > 1:
        pager.append('      <li class="prev"><a href="/brief/">Newer</a></li>')
    if not last:
        pager.append(f'      <li class="next"><a href="/brief/page/{page + 1}/">Older</a></li>')
    html = LISTING.substitute(heading="In brief", items=items, pager="\n".join(pager))
    site.add(path, html, content_type=HTML)


def test_listing_pages_are_followed_until_nothing_new(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """``[[sources.listings]]``: the articles linked from a listing's three pages (only those
    that ``links`` selects: not the navigation, not the "most read" box; and of the selected
    items' links not the ``javascript:``/``mailto:`` ones, which are no errors either, nor
    the ``#comments`` anchor back into the listing) are stored, each fetched once, following
    ``next``; ``max_pages = 2`` stops at page 2. A second crawl after
    one new story pushed the river down a slot reads page 1 (one new link), then page 2
    (nothing new there), and stops: page 3 and the new page 4 are not requested, and no
    stored story is fetched again. A listing URL answering with an image fails its source
    (exit code 1) with a reason, and no traceback.
    """
    latest = [story(f"/latest/story-{n:02}.html") for n in range(9, 0, -1)]  # newest first
    brief = [story(f"/brief/item-{n}.html") for n in range(6, 0, -1)]
    serve_stories(site, latest + brief)
    for page in (1, 2, 3):
        latest_page(site, page, latest[3 * (page - 1) : 3 * page], last=page == 3)
        brief_page(site, page, brief[2 * (page - 1) : 2 * page], last=page == 3)
    config = write_config(
        tmp_path / "newsrelay.toml",
        db_url,
        '[[sources]]\nname = "latest"\n\n[[sources.listings]]\n'
        f'url = "{site.url("/latest/")}"\nlinks = "ul.river li.item"\nnext = "a.next"\n'
        "max_pages = 10\n\n"
        '[[sources]]\nname = "brief"\n\n[[sources.listings]]\n'
        f'url = "{site.url("/brief/")}"\nlinks = "ul.river a.headline"\nnext = "li.next"\n'
        "max_pages = 2\n\n"
        '[[sources]]\nname = "gallery"\n\n[[sources.listings]]\n'
        f'url = "{site.url("/gallery/")}"\nlinks = "a"\n',
    )
    site.add("/gallery/", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")

    first = crawl(config)

    assert first.returncode == 1, first.stdout + first.stderr  # the gallery failed
    rows = summary(first.stdout)
    assert {name: (row["status"], row["new"], row["errors"]) for name, row in rows.items()} == {
        "latest": ("ok", 9, 0),
        "brief": ("ok", 4, 0),
        "gallery": ("failed", 0, 1),
    }
    assert (
        rows["gallery"]["why"] == f"listing {site.url('/gallery/')}: not an HTML page (image/png)"
    )
    stored = [s.path for s in latest + brief[:4]]
    listing_pages = ["/latest/", "/latest/page/2/", "/latest/page/3/", "/brief/", "/brief/page/2/"]
    listing_pages.append("/gallery/")
    assert paths_since(site, 0) == sorted(stored + listing_pages)
    assert site.hits("/brief/page/3/") == []
    articles = by_url(export(config))
    assert sorted(articles) == sorted(site.url(path) for path in stored)
    for s in latest + brief[:4]:
        article = articles[site.url(s.path)]
        assert (article["source"], article["title"], article["text"]) == (
            s.path.split("/")[1],
            s.title,
            s.text,
        )

    # -- one new story on top: every page shifts by one, a fourth page appears --------------
    new = story("/latest/story-10.html")
    serve_stories(site, [new])
    river = [new, *latest]
    for page in (1, 2, 3, 4):
        latest_page(site, page, river[3 * (page - 1) : 3 * page], last=page == 4)
    mark = len(site.requests)

    second = crawl(config, "latest")

    assert second.returncode == 0, second.stdout + second.stderr
    row = summary(second.stdout)["latest"]
    assert (row["status"], row["new"], row["known"], row["errors"]) == (
        "ok",
        1,
        5,  # stories 9 and 8 on page 1, 7, 6 and 5 on page 2
        0,
    )
    assert paths_since(site, mark) == sorted(["/latest/", "/latest/page/2/", new.path])


# -- extraction rules -----------------------------------------------------------------------
GAZETTE_PATH = "/local/2026/03/ferry-timetable.html"
GAZETTE_TITLE = "Winter ferry timetable adds a late crossing"
GAZETTE_TEXT = (
    "The lake ferry will run a last crossing at eleven at night from next month, the operator "
    "said on Thursday.\n"
    "Shift workers at the paper mill had asked for the extra boat since the autumn."
)
GAZETTE_AD = "Gazette Premium, three months for the price of one"
GAZETTE_SIDEBAR = (
    "Valley choir wins the national championship",
    "The old cinema on the market square will reopen",
    "Most read this week",
)
GAZETTE_RULES = (
    '[sources.extract]\ntitle = "h1.hl"\nbody = "div.story"\ndate = "time"\n'
    'author = ".byline"\nremove = [".ad"]\n'
)


def gazette_config(path: Path, db_url: str, site: LocalSite) -> Path:
    """A config whose ``gazette`` source reads /gazette/feed.xml with the extraction rules."""
    return write_config(
        path,
        db_url,
        f'[[sources]]\nname = "gazette"\nfeeds = ["{site.url("/gazette/feed.xml")}"]\n\n'
        + GAZETTE_RULES,
    )


def test_extraction_rules_fix_a_page_generic_extraction_gets_wrong(
    site: LocalSite, tmp_path: Path
) -> None:
    """On a page whose long "most read" box outweighs its short story, generic extraction
    (``newsrelay extract FILE``) takes the box in. The source's ``[sources.extract]`` rules
    (body, title, date, author, remove) give the story alone, without the ad, the headline or
    the byline in the body, both in ``newsrelay extract FILE --source gazette --json`` and in
    a real crawl of a feed listing the page. A page of the same source where the rules'
    selectors match nothing is extracted generically.
    """
    url = site.url(GAZETTE_PATH)
    config = gazette_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'g.db'}", site)

    generic = run_newsrelay("extract", str(GAZETTE_PAGE), "--url", url, config=config)

    assert generic.returncode == 0, generic.stderr
    for sidebar in GAZETTE_SIDEBAR:
        assert sidebar in generic.stdout  # the wrong block: why the rules exist
    assert GAZETTE_AD in generic.stdout

    ruled = run_newsrelay(
        "extract", str(GAZETTE_PAGE), "--source", "gazette", "--json", "--url", url, config=config
    )

    assert ruled.returncode == 0, ruled.stderr
    page = json.loads(ruled.stdout)
    assert {k: v for k, v in page.items() if k != "html"} == {
        "url": url,
        "title": GAZETTE_TITLE,
        "published": "2026-03-05T09:40:00+01:00",
        "author": "Maren Holt",
        "language": "en-GB",
        "language_source": "declared",  # the text is English too
        "canonical_url": url,
        "image": None,  # the page has no image
        "image_caption": None,
        "image_credit": None,
        "filtered": None,  # no filter would drop it
        "text": GAZETTE_TEXT,
        "template_dropped": None,  # no template learnt yet
    }
    for unwanted in (*GAZETTE_SIDEBAR, GAZETTE_AD, GAZETTE_TITLE, "Maren Holt", "09:40"):
        assert unwanted not in page["html"], unwanted
    assert page["html"].count("<p>") == 2

    # -- the same rules in a crawl --------------------------------------------------------
    plain = story("/local/2026/03/plain-article.html", datetime(2026, 3, 4, 7, 15, tzinfo=UTC))
    site.add(GAZETTE_PATH, GAZETTE_PAGE.read_bytes(), content_type=HTML)
    serve_stories(site, [plain])
    site.add(
        "/gazette/feed.xml",
        rss([(url, "Ferry (feed title)", None), (site.url(plain.path), "Plain", None)]),
        content_type=RSS,
    )

    result = crawl(config, "gazette")

    assert result.returncode == 0, result.stdout + result.stderr
    articles = by_url(export(config))
    assert sorted(articles) == sorted([url, site.url(plain.path)])
    ferry = articles[url]
    assert {k: ferry[k] for k in ("title", "text", "author", "published", "language")} == {
        "title": GAZETTE_TITLE,
        "text": GAZETTE_TEXT,
        "author": "Maren Holt",
        "published": "2026-03-05T08:40:00+00:00",  # the page's <time>, in UTC
        "language": "en-GB",
    }
    for unwanted in (*GAZETTE_SIDEBAR, GAZETTE_AD):
        assert unwanted not in ferry["html"], unwanted
    # No div.story, no h1.hl on this page: trafilatura's reading, the page's own date.
    other = articles[site.url(plain.path)]
    assert (other["title"], other["text"], other["published"]) == (
        plain.title,
        plain.text,
        "2026-03-04T07:15:00+00:00",
    )


def test_extract_url_fetches_the_page_like_a_crawl(site: LocalSite, tmp_path: Path) -> None:
    """``newsrelay extract URL --source gazette`` downloads the page from the local site (it
    needs ``allow_private_networks = true``) and prints its fields, then the text; ``--json``
    prints the same as JSON (with the HTML). A 404 is exit code 1 with one line on stderr.
    """
    page_url = site.add(GAZETTE_PATH, GAZETTE_PAGE.read_bytes(), content_type=HTML)
    config = gazette_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'g.db'}", site)
    asked = page_url + "?ref=home"

    text = run_newsrelay("extract", asked, "--source", "gazette", config=config)

    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stderr, text.stderr
    assert text.stdout == (
        f"url: {asked}\n"
        f"title: {GAZETTE_TITLE}\n"
        "published: 2026-03-05T09:40:00+01:00\n"
        "author: Maren Holt\n"
        "language: en-GB\n"
        "language_source: declared\n"
        f"canonical_url: {page_url}\n"  # <link rel="canonical"> is relative: made absolute
        "image: -\nimage_caption: -\nimage_credit: -\n"
        "filtered: -\n"
        "\n"
        f"{GAZETTE_TEXT}\n"
    )
    assert [urlpath(r.path) for r in site.hits(GAZETTE_PATH)] == [GAZETTE_PATH]

    as_json = run_newsrelay("extract", asked, "--source", "gazette", "--json", config=config)

    assert as_json.returncode == 0, as_json.stderr
    page = json.loads(as_json.stdout)
    assert page["title"] == GAZETTE_TITLE
    assert page["canonical_url"] == page_url
    assert page["text"] == GAZETTE_TEXT
    assert page["html"].startswith("<p>The lake ferry")

    missing = site.url("/local/2026/03/gone.html")
    gone = run_newsrelay("extract", missing, "--source", "gazette", config=config)

    assert gone.returncode == 1
    assert gone.stdout == ""
    assert gone.stderr.splitlines() == [f"newsrelay: error: cannot fetch {missing}: HTTP 404"]
    assert not (tmp_path / "g.db").exists()  # extract does not touch the database


# -- a feed and a sitemap of one source -----------------------------------------------------
def test_feed_sitemap_and_listing_of_one_source_store_each_story_once(
    site: LocalSite, tmp_path: Path
) -> None:
    """A source whose feed, news sitemap and listing list the same stories (the feed's links
    with tracking parameters) stores each story once and fetches each page once, at its
    canonical address; stories in only one of them are stored too. The listing's first page
    is answered last, when the feed has already taken its stories: they are not stored yet,
    so the listing still goes on to page 2, whose stories only it lists.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    dates = [now - timedelta(hours=n) for n in range(1, 8)]
    # Each page carries its entries' date, so whichever start point claims it first, the
    # stored date is the same.
    stories = [story(f"/mixed/story-{n}.html", dates[n - 1]) for n in range(1, 8)]
    serve_stories(site, stories)
    # The feed lists stories 1-4 (tracking parameters on two), the sitemap 2-5, the listing
    # 1-3 on page 1 and 6-7 on page 2.
    feed_items = [
        (site.url(s.path) + ("?utm_source=rss&utm_medium=feed" if n < 2 else ""), s.title, date)
        for n, (s, date) in enumerate(zip(stories[:4], dates, strict=False))
    ]
    site.add("/mixed/feed.xml", rss(feed_items), content_type=RSS)
    sitemap = [SitemapUrl(site.url(s.path), news_date=w3c(s.page_date)) for s in stories[1:5]]
    site.add("/mixed/news-sitemap.xml", urlset(sitemap), content_type=XML)
    latest_page(site, 1, stories[:3], last=False, prefix="/mixed/latest/", delay=0.5)
    latest_page(site, 2, stories[5:], last=True, prefix="/mixed/latest/")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "mixed"\nfeeds = ["{site.url("/mixed/feed.xml")}"]\n'
        f'sitemaps = ["{site.url("/mixed/news-sitemap.xml")}"]\n\n[[sources.listings]]\n'
        f'url = "{site.url("/mixed/latest/")}"\nlinks = "ul.river li.item"\nnext = "a.next"\n',
    )

    first = crawl(config, "mixed")

    assert first.returncode == 0, first.stdout + first.stderr
    row = summary(first.stdout)["mixed"]
    assert (row["status"], row["new"], row["duplicates"], row["errors"]) == ("ok", 7, 0, 0)
    paths = [s.path for s in stories]
    assert hit_counts(site, paths) == dict.fromkeys(paths, 1)
    assert [hit.path for hit in site.hits(stories[0].path)] == [stories[0].path]
    assert len(site.hits("/mixed/latest/page/2/")) == 1
    articles = by_url(export(config))
    assert sorted(articles) == sorted(site.url(p) for p in paths)
    for s in stories:
        article = articles[site.url(s.path)]
        assert article["urls"] == [site.url(s.path)]
        assert (article["title"], article["text"]) == (s.title, s.text)
        assert article["published"] == s.page_date.isoformat()


# -- config errors --------------------------------------------------------------------------
def test_bad_css_selectors_are_config_errors(tmp_path: Path) -> None:
    """A selector that cssselect cannot compile, in a listing's ``links`` or in
    ``[sources.extract]``, makes ``crawl`` and ``extract`` exit 2 with one line naming the
    file and the key, before anything is fetched or a database is created.
    """
    database = tmp_path / "newsrelay.db"
    page = str(GAZETTE_PAGE)
    listing = '[[sources.listings]]\nurl = "http://127.0.0.1:9/latest/"\n'
    cases = [
        (
            ("crawl", "x"),
            f'{listing}links = "ul.river li["\n',
            "sources[0] (x).listings[0].links: 'ul.river li[' is not a CSS selector: ",
        ),
        (
            ("extract", page, "--source", "x"),
            'feeds = ["http://127.0.0.1:9/feed.xml"]\n\n[sources.extract]\nbody = "div..story"\n',
            "sources[0] (x).extract.body: 'div..story' is not a CSS selector: ",
        ),
    ]
    for args, toml, message in cases:
        config = write_config(
            tmp_path / "newsrelay.toml", f"sqlite:///{database}", f'[[sources]]\nname = "x"\n{toml}'
        )

        result = run_newsrelay(*args, config=config)

        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout == "", args
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"newsrelay: error: {config}: {message}"), lines
        assert len(lines[0]) > len(f"newsrelay: error: {config}: {message}")  # says why
    assert not database.exists()


def test_a_listing_whose_selector_matches_nothing_fails_its_source(
    site: LocalSite, tmp_path: Path
) -> None:
    """After a redesign the ``links`` selector matches nothing: the run fails and says so,
    instead of finishing "ok" with nothing found."""
    site.add("/latest/", "<html><body><div class='new-layout'><a href='/n/1'>1</a></div>")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "x"\n[[sources.listings]]\nurl = "{site.url("/latest/")}"\n'
        'links = "ul.river li a"\n',
    )
    result = crawl(config, "x")
    assert result.returncode == 1, result.stdout + result.stderr
    row = summary(result.stdout)["x"]
    assert row["status"] == "failed"
    assert "links selector 'ul.river li a' matched nothing" in row["why"]
    assert site.hits("/n/1") == []
