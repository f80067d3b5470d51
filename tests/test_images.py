"""Lead images, end to end: the feed's image, else the page's og:image, else its first large
body image, with the caption and credit of the figure showing it; stored, and carried by
every export and by ``newsrelay extract``.

Nothing is mocked. A :class:`LocalSite` serves a Media RSS feed and its article pages;
``newsrelay crawl`` runs as a subprocess into a fresh SQLite file (or PostgreSQL schema);
what was stored is read back with ``newsrelay export`` in each format.
"""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import feedparser
from lxml import html as lxml_html

from crawler.feed_parser import parse_feed
from crawler.fingerprints import text_keys
from crawler.media_rss import image_notes
from storage.articles import save_article
from storage.db import Database, open_database
from storage.export import write_stream
from storage.publishing import iter_articles
from storage.records import ArticleRecord
from storage.sources import ensure_source
from tests.localsite import LocalSite
from tests.support import by_url, export, run_newsrelay, summary, write_config

RSS = "application/rss+xml; charset=utf-8"
MEDIA = "http://search.yahoo.com/mrss/"
_WORDS = (  # noqa: SIM905 - a sentence of words reads better than a list
    "council budget river minister rail tunnel school hospital drought farmers election "
    "court museum festival bridge vaccine airport strike coast storm energy grid wheat"
).split()
TRACKING_PIXEL = '<img src="/t/open.gif?u=1" width="1" height="1" alt="">'
LOGO = '<img src="/static/site-logo.svg" alt="The Courier">'


def body(seed: str) -> str:
    """Four paragraphs of their own (seeded): no two stories share a sentence."""
    rng = random.Random(seed)
    return "".join(
        "<p>" + " ".join(rng.choice(_WORDS) for _ in range(50)).capitalize() + ".</p>"
        for _ in range(4)
    )


def page(title: str, article: str, head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title>{head}</head><body><header>{LOGO}</header><nav>Home | World</nav>"
        f"<article><h1>{escape(title)}</h1>{article}</article>"
        "<footer>Contact us</footer></body></html>"
    )


def serve_newsroom(site: LocalSite) -> str:
    """Four stories, one feed: the feed's image (relative, in media:content) for /a; an
    og:image for /b; only body images for /c (a tracking pixel, then a figure); none for /d."""
    figure_a = (
        '<figure><img src="/img/feed-a.jpg"><figcaption>Divers at the pier. '
        '<span itemprop="copyrightHolder">Wire / K. Rahimi</span></figcaption></figure>'
    )
    site.add("/news/a.html", page("Story A", body("a") + figure_a))
    site.add(
        "/news/b.html",
        page(
            "Story B",
            body("b") + '<img src="/img/b-body.jpg" width="800" height="450">',
            head='<meta property="og:image" content="/img/og-b.jpg">'
            '<meta property="og:image:alt" content="A man in a red coat">',
        ),
    )
    figure_c = (
        '<figure><img src="../img/c.jpg" width="640" height="360">'
        '<figcaption>Harbour &amp; &lt;dawn&gt; "light" '
        '<small class="photo-credit">Photo: J. Doe</small></figcaption></figure>'
    )
    site.add("/news/c.html", page("Story C", TRACKING_PIXEL + body("c") + figure_c))
    site.add("/news/d.html", page("Story D", TRACKING_PIXEL + body("d")))
    items = [
        "<item><title>Story A</title><link>/news/a.html</link>"
        '<media:content url="/img/feed-a.jpg" medium="image"/></item>',
        # A podcast enclosure is not a picture: the page's og:image is used.
        "<item><title>Story B</title><link>/news/b.html</link>"
        '<enclosure url="/audio/b.mp3" type="audio/mpeg" length="1"/></item>',
        "<item><title>Story C</title><link>/news/c.html</link></item>",
        "<item><title>Story D</title><link>/news/d.html</link></item>",
    ]
    return site.add(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0" xmlns:media="{MEDIA}"><channel>'
        f"<title>Courier</title>{''.join(items)}</channel></rss>",
        content_type=RSS,
    )


def test_lead_images_are_found_stored_and_exported(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """The feed's image wins over the page's og:image and carries the caption of the page's
    figure that shows it; og:image is used when the feed has none (og:image:alt is not a
    caption); else the first large body image (a tracking pixel and an .svg logo skipped)
    with its figcaption and credit; none when the page has none. URLs come out absolute; the
    jsonl, Atom, Markdown, HTML and text exports carry them, escaped."""
    feed = serve_newsroom(site)
    config = write_config(
        tmp_path / "newsrelay.toml",
        db_url,
        f'[[sources]]\nname = "courier"\nfeeds = ["{feed}"]\n',
    )
    crawled = run_newsrelay("crawl", "--all", "--json", config=config)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert summary(crawled.stdout)["courier"]["new"] == 4

    stored = by_url(export(config))
    images = {
        path: (a["image"], a["image_caption"], a["image_credit"])
        for path in ("/news/a.html", "/news/b.html", "/news/c.html", "/news/d.html")
        for a in [stored[site.url(path)]]
    }
    assert images == {
        "/news/a.html": (site.url("/img/feed-a.jpg"), "Divers at the pier.", "Wire / K. Rahimi"),
        "/news/b.html": (site.url("/img/og-b.jpg"), None, None),
        "/news/c.html": (site.url("/img/c.jpg"), 'Harbour & <dawn> "light"', "Photo: J. Doe"),
        "/news/d.html": (None, None, None),
    }
    assert site.hits("/img/feed-a.jpg") == []  # metadata only: no image is downloaded

    atom = run_newsrelay("export", "--format", "atom", config=config)
    parsed = feedparser.parse(atom.stdout.encode())
    enclosures = {e.link: [(x.href, x.get("type")) for x in e.enclosures] for e in parsed.entries}
    assert enclosures[site.url("/news/c.html")] == [(site.url("/img/c.jpg"), "image/jpeg")]
    assert enclosures[site.url("/news/d.html")] == []

    html = run_newsrelay("export", "--format", "html", config=config).stdout
    assert "&lt;dawn&gt;" in html and "<dawn>" not in html
    documents = [lxml_html.fromstring(d) for d in html.split("<!doctype html>") if d.strip()]
    figures = {
        f.find("img").get("src"): (f.find("img").get("alt"), f.findtext("figcaption"))
        for document in documents
        for f in document.iter("figure")
        if f.get("class") == "lead"
    }
    assert figures == {
        site.url("/img/feed-a.jpg"): (
            "Divers at the pier.",
            "Divers at the pier. (Wire / K. Rahimi)",
        ),
        site.url("/img/og-b.jpg"): ("", None),
        site.url("/img/c.jpg"): (
            'Harbour & <dawn> "light"',
            'Harbour & <dawn> "light" (Photo: J. Doe)',
        ),
    }

    md = run_newsrelay("export", "--format", "md", config=config).stdout
    assert f"![Divers at the pier\\.](<{site.url('/img/feed-a.jpg')}>)" in md
    assert f'![Harbour & \\<dawn\\> "light"](<{site.url("/img/c.jpg")}>)' in md

    txt = run_newsrelay("export", "--format", "txt", config=config).stdout
    assert f"Image: {site.url('/img/og-b.jpg')}\n" in txt


def test_feed_images_from_enclosures_and_media_rss() -> None:
    """An image enclosure, media:content of an image, media:thumbnail, relative ones made
    absolute; an audio enclosure, a video's media:content and a data: URL are no images."""
    feed = f"""<?xml version="1.0"?><rss version="2.0" xmlns:media="{MEDIA}">
    <channel><title>t</title>
    <item><link>/1</link><enclosure url="/e.jpg" type="image/jpeg" length="9"/></item>
    <item><link>/2</link><media:content url="m.webp" type="image/webp"/></item>
    <item><link>/3</link><media:content url="/v.mp4" type="video/mp4"/>
      <media:thumbnail url="/v-thumb.jpg"/></item>
    <item><link>/4</link><enclosure url="/p.mp3" type="audio/mpeg" length="9"/></item>
    <item><link>/5</link><media:thumbnail url="data:image/png;base64,AAAA"/></item>
    </channel></rss>""".encode()
    parsed = parse_feed(feed, "https://news.example/feeds/rss.xml", RSS)
    assert [e.image for e in parsed.entries] == [
        "https://news.example/e.jpg",
        "https://news.example/feeds/m.webp",
        "https://news.example/v-thumb.jpg",
        None,
        None,
    ]


def test_extract_shows_the_lead_image(tmp_path: Path) -> None:
    """``newsrelay extract`` shows the lead image, its caption and credit (text and JSON); a
    lazy-loaded image's real address (``data-src``) is taken, not its placeholder."""
    lazy = (
        '<figure><img src="data:image/gif;base64,R0lGOD" data-src="/img/lazy.jpg" width="1200">'
        '<figcaption>The new bridge. <span class="credit">City archive</span></figcaption>'
        "</figure>"
    )
    path = tmp_path / "story.html"
    path.write_text(page("Bridge opens", body("bridge") + lazy), encoding="utf-8")
    url = "https://news.example/2026/bridge.html"

    as_json = run_newsrelay("extract", str(path), "--url", url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    fields = json.loads(as_json.stdout)
    assert (fields["image"], fields["image_caption"], fields["image_credit"]) == (
        "https://news.example/img/lazy.jpg",
        "The new bridge.",
        "City archive",
    )
    as_text = run_newsrelay("extract", str(path), "--url", url)
    assert "image: https://news.example/img/lazy.jpg\n" in as_text.stdout


def test_exports_never_carry_an_unsafe_image(db_url: str) -> None:
    """A stored image URL that is not http(s) is left out of every format; a caption with
    markup is text in each format with markup (escaped in HTML and Atom, defused in
    Markdown), and a quote in the URL does not end its attribute."""
    db = open_database(db_url)
    try:
        source_id = ensure_source(db, "s", []).source_id
        for n, image in enumerate(("javascript:alert(1)//x.jpg", 'https://s.example/a".jpg')):
            text = f"Story {n} about a bridge.\nIts second paragraph."
            save_article(
                db,
                ArticleRecord(
                    source_id=source_id,
                    url=f"https://s.example/{n}",
                    original_url=f"https://s.example/{n}",
                    title="Bridge",
                    text=text,
                    html="<p>A story about a bridge.</p>",
                    content_hash=text_keys(text).content_hash,
                    fetched_at=datetime(2026, 12, 1, tzinfo=UTC),
                    image=image,
                    image_caption="<script>alert(2)</script>",
                ),
            )
        for fmt in ("jsonl", "atom", "md", "html", "txt"):
            assert "javascript:" not in _render(db, fmt), fmt
        for fmt in ("atom", "md", "html"):
            assert "<script>" not in _render(db, fmt), fmt
        documents = _render(db, "html").split("<!doctype html>")
        sources = [i.get("src") for d in documents[1:] for i in lxml_html.fromstring(d).iter("img")]
        assert sources == ['https://s.example/a".jpg']
        atom = feedparser.parse(_render(db, "atom").encode())
        assert atom.entries[1].enclosures[0].href == 'https://s.example/a".jpg'
    finally:
        db.dispose()


def _render(db: Database, fmt: str) -> str:
    out = io.StringIO()
    write_stream(fmt, iter_articles(db), out)
    return out.getvalue()


def test_the_feeds_media_credit_and_description_fill_what_the_page_lacks(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Media RSS media:credit and media:description (else media:text) of the entry's image
    are its credit and caption when the page's figure of it does not give them; the
    item's own apply to the item's pictures, a media:content's own win; a video's description
    is no caption of its thumbnail."""
    figure = '<figure><img src="/img/m2.jpg"><figcaption>The page says.</figcaption></figure>'
    site.add("/m/1.html", page("Story M1", body("m1")))
    site.add("/m/2.html", page("Story M2", body("m2") + figure))
    items = (
        "<item><title>Story M1</title><link>/m/1.html</link><media:credit>Item</media:credit>"
        '<media:content url="/img/m1.jpg" medium="image"><media:credit>Wire / K. Rahimi'
        "</media:credit><media:description>Divers at the pier.</media:description>"
        "</media:content></item>"
        "<item><title>Story M2</title><link>/m/2.html</link><media:credit>AP</media:credit>"
        '<media:text>Feed text</media:text><media:thumbnail url="/img/m2.jpg"/></item>'
    )
    feed = site.add(
        "/m/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0" xmlns:media="{MEDIA}"><channel>'
        f"<title>M</title>{items}</channel></rss>",
        content_type=RSS,
    )
    config = write_config(
        tmp_path / "n.toml", db_url, f'[[sources]]\nname = "m"\nfeeds = ["{feed}"]\n'
    )
    crawled = run_newsrelay("crawl", "--all", config=config)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    stored = by_url(export(config))
    one, two = stored[site.url("/m/1.html")], stored[site.url("/m/2.html")]
    assert (one["image"], one["image_caption"], one["image_credit"]) == (
        site.url("/img/m1.jpg"),
        "Divers at the pier.",
        "Wire / K. Rahimi",
    )
    assert (two["image_caption"], two["image_credit"]) == ("The page says.", "AP")
    video = (
        f'<rss xmlns:media="{MEDIA}"><channel><item><media:group><media:content url="/v.mp4" '
        'type="video/mp4"/><media:thumbnail url="/t.jpg"/><media:description>The video'
        "</media:description></media:group></item></channel></rss>"
    )
    assert image_notes(video.encode(), "https://news.example/feed.xml") == {}
