"""The sitemap parser on its own: kinds, dates, gzip, robots.txt, hostile and odd input."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

from crawler.sitemap_parser import parse_sitemap

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://ex.com/news/1?a=1&amp;b=2</loc>
    <image:image><image:loc>https://ex.com/img/1.jpg</image:loc>
      <image:title>A photo caption</image:title></image:image>
    <news:news><news:publication_date>2026-11-20T10:30:00+03:30</news:publication_date>
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
