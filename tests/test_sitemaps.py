"""The sitemap parser on its own: kinds, dates, gzip, robots.txt, hostile and odd input; and
what a news sitemap says of an entry (language, image) carried to the stored article."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from crawler.sitemap_parser import parse_sitemap
from tests.localsite import LocalSite
from tests.support import by_url, export, run_newsrelay, write_config
from tests.test_images import body

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://ex.com/news/1?a=1&amp;b=2</loc>
    <image:image><image:loc>https://ex.com/img/1.jpg</image:loc>
      <image:title>A photo title</image:title>
      <image:caption>  Divers at
        the pier </image:caption></image:image>
    <image:image><image:loc>https://ex.com/img/2.jpg</image:loc></image:image>
    <news:news><news:publication><news:name>Ex</news:name><news:language>fa</news:language>
      </news:publication>
      <news:publication_date>2026-11-20T10:30:00+03:30</news:publication_date>
      <news:title>Headline one</news:title></news:news>
    <lastmod>2026-11-25</lastmod>
  </url>
  <url><loc>/news/2</loc><lastmod>2026-11-24</lastmod></url>
  <url><loc>https://ex.com/news/3</loc></url>
  <url><lastmod>2026-11-24</lastmod></url>
</urlset>"""


def test_a_news_sitemap_gives_locations_dates_and_news_titles() -> None:
    sitemap = parse_sitemap(URLSET, "https://ex.com/sitemap.xml", 1 << 20)
    assert sitemap.kind == "urlset" and sitemap.error is None
    first, second, third = sitemap.entries  # the entry without <loc> is left out
    # The url's own <loc> and <news:title>, not the image's; publication_date over lastmod.
    assert first.loc == "https://ex.com/news/1?a=1&b=2"
    assert first.title == "Headline one"
    assert first.published_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert second.loc == "https://ex.com/news/2"  # relative locations resolve
    assert second.published_at == datetime(2026, 11, 24, tzinfo=UTC)
    assert (third.published_at, third.title) == (None, None)
    # news:language, and the first image with its caption (not its title).
    assert (first.language, first.image) == ("fa", "https://ex.com/img/1.jpg")
    assert first.image_caption == "Divers at the pier"
    assert (second.language, second.image, second.image_caption) == (None, None, None)


def test_gzip_index_and_robots() -> None:
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>https://ex.com/a.xml.gz</loc><lastmod>2026-11-25</lastmod></sitemap>
      <sitemap><loc>https://ex.com/b.xml</loc></sitemap></sitemapindex>"""
    parsed = parse_sitemap(gzip.compress(index), "https://ex.com/index.xml.gz", 1 << 20)
    assert parsed.kind == "sitemapindex"
    assert [e.loc for e in parsed.entries] == ["https://ex.com/a.xml.gz", "https://ex.com/b.xml"]
    robots = b"User-agent: *\nDisallow: /private/\nSitemap: /news-sitemap.xml\n"
    found = parse_sitemap(robots, "https://ex.com/robots.txt", 1 << 20)
    assert [e.loc for e in found.entries] == ["https://ex.com/news-sitemap.xml"]
    none = parse_sitemap(b"User-agent: *\n", "https://ex.com/robots.txt", 1 << 20)
    assert none.error == "robots.txt names no sitemap"


def test_bad_input_is_one_reason_never_an_exception() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    assert "inflates to more than" in (
        parse_sitemap(bomb, "https://ex.com/s.xml", 1 << 20).error or ""
    )
    assert parse_sitemap(b"\x1f\x8bnot gzip", "https://ex.com/s", 1 << 20).error
    assert parse_sitemap(b"<html><body>hi</body></html>", "https://ex.com/s", 1 << 20).error
    assert parse_sitemap(b"", "https://ex.com/s", 1 << 20).error
    entities = b"""<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>
      <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://ex.com/&x;</loc></url></urlset>"""
    parsed = parse_sitemap(entities, "https://ex.com/s.xml", 1 << 20)
    assert all("root:" not in e.loc for e in parsed.entries)


def test_a_sitemaps_language_and_image_reach_the_article(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """news:language is the entry's declared language (the pages declare none); image:loc is
    the lead image, with image:caption unless the page's figure of it has a caption."""
    figure = '<figure><img src="/img/2.jpg"><figcaption>The page says.</figcaption></figure>'
    for n, extra in ((1, ""), (2, figure)):
        article = f"<article><h1>Story {n}</h1>{body(str(n))}{extra}</article>"
        site.add(f"/s/{n}.html", f"<html><head><title>Story {n}</title></head><body>{article}")
    urls = "".join(
        f"<url><loc>{site.url(f'/s/{n}.html')}</loc><news:news><news:publication>"
        "<news:language>en</news:language></news:publication></news:news>"
        f"<image:image><image:loc>/img/{n}.jpg</image:loc>"
        f"<image:caption>Sitemap caption {n}</image:caption></image:image></url>"
        for n in (1, 2)
    )
    sitemap = site.add(
        "/news-sitemap.xml",
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" '
        f'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">{urls}</urlset>',
        content_type="application/xml",
    )
    config = write_config(
        tmp_path / "n.toml", db_url, f'[[sources]]\nname = "s"\nsitemaps = ["{sitemap}"]\n'
    )
    crawled = run_newsrelay("crawl", "--all", config=config)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    stored = by_url(export(config))
    one, two = stored[site.url("/s/1.html")], stored[site.url("/s/2.html")]
    assert (one["language"], one["language_source"]) == ("en", "declared")
    assert (one["image"], one["image_caption"]) == (site.url("/img/1.jpg"), "Sitemap caption 1")
    assert (two["image"], two["image_caption"]) == (site.url("/img/2.jpg"), "The page says.")
