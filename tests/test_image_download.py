"""``[images] download = true``, end to end: each lead image fetched by the crawl itself and
kept under the SHA-256 of its bytes; too big, not an image, gone, or at a private address:
not kept, and the article stored all the same.

Nothing is mocked: a :class:`LocalSite` serves the feed, the pages and the images, and
``newsrelay crawl`` (or ``scrapy crawl``, for Scrapy's HTTP cache) runs as a subprocess.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

from crawler.image_files import image_extension
from tests.localsite import LocalSite
from tests.support import by_url, export, run_newsrelay, run_scrapy, summary, write_config
from tests.test_images import RSS, body, page

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + random.Random(1).randbytes(1500)
PNG = b"\x89PNG\r\n\x1a\n" + random.Random(2).randbytes(6000)  # over max_bytes below
NOT_AN_IMAGE = b"<html><script>alert(1)</script></html>"  # served as image/jpeg


def serve_stories(site: LocalSite, images: dict[str, str], *, host: str = "127.0.0.1") -> str:
    """One page per ``path -> image path`` (its og:image), and a feed listing them."""
    items = []
    for n, (path, image) in enumerate(images.items()):
        meta = f'<meta property="og:image" content="{site.url(image)}">'
        site.add(path, page(f"Story {n}", body(path), head=meta))
        link = site.url(path).replace("127.0.0.1", host, 1)
        items.append(f"<item><title>Story {n}</title><link>{link}</link></item>")
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{"".join(items)}'
    return site.add("/feed.xml", feed + "</channel></rss>", content_type=RSS, conditional=False)


def images_config(tmp_path: Path, db_url: str, feed: str, **fetch: bool) -> Path:
    """A config with ``[images] download = true`` and a 4000-byte cap; on PostgreSQL the
    directory is set (it is required there), on SQLite it is left to its default."""
    directory = "" if db_url.startswith("sqlite") else f'directory = "{tmp_path / "images"}"\n'
    return write_config(
        tmp_path / "newsrelay.toml",
        db_url,
        f"[images]\ndownload = true\nmax_bytes = 4000\n{directory}\n"
        f'[[sources]]\nname = "s"\nfeeds = ["{feed}"]\n',
        **fetch,
    )


def test_images_are_kept_by_hash_and_bad_ones_refused(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Two articles sharing a JPEG keep one file, named by its SHA-256, under the images
    directory (beside the SQLite database by default); an image over ``max_bytes``, HTML
    served as image/jpeg, and a 404 are not kept: their articles are stored with the image's
    URL and no ``image_path``, each with one warning."""
    site.add("/img/a.jpg", JPEG, content_type="image/jpeg")
    site.add("/img/big.png", PNG, content_type="image/png")
    site.add("/img/fake.jpg", NOT_AN_IMAGE, content_type="image/jpeg")
    images = {
        "/news/a.html": "/img/a.jpg",
        "/news/b.html": "/img/a.jpg",
        "/news/c.html": "/img/big.png",
        "/news/d.html": "/img/fake.jpg",
        "/news/e.html": "/img/gone.jpg",
    }
    config = images_config(tmp_path, db_url, serve_stories(site, images))

    crawled = run_newsrelay("crawl", "--all", "--json", config=config)

    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert summary(crawled.stdout)["s"]["new"] == 5
    digest = hashlib.sha256(JPEG).hexdigest()
    kept = f"{digest[:2]}/{digest[2:4]}/{digest}.jpg"
    stored = by_url(export(config))
    assert {path: stored[site.url(path)]["image_path"] for path in images} == {
        "/news/a.html": kept,
        "/news/b.html": kept,
        "/news/c.html": None,
        "/news/d.html": None,
        "/news/e.html": None,
    }
    assert all(stored[site.url(p)]["image"] == site.url(i) for p, i in images.items())
    directory = tmp_path / "images"  # beside newsrelay.db, or the one configured
    assert sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()) == [
        kept
    ]
    assert (directory / kept).read_bytes() == JPEG
    warnings = [line for line in crawled.stderr.splitlines() if "image not kept" in line]
    assert len(warnings) == 3, crawled.stderr
    assert any(
        "larger than [images] max_bytes (4000 bytes)" in w for w in warnings if "big.png" in w
    )
    assert any("not a JPEG, PNG, GIF, WebP or AVIF image" in w for w in warnings)
    assert any("404" in w for w in warnings if "gone.jpg" in w)


def test_an_image_at_a_private_address_is_refused(site: LocalSite, tmp_path: Path) -> None:
    """With ``allow_private_networks = false`` an image at a private address is not
    fetched, like a page: the feed and page come from Scrapy's HTTP cache (standing in for a
    public outlet: the sandbox has none), the image at 127.0.0.1 is refused, nothing is
    requested from the site, and the article is stored with the image's URL only."""
    cache = tmp_path / "httpcache"
    feed = serve_stories(site, {"/news/p.html": "/img/p.jpg"}, host="localhost")
    feed = feed.replace("127.0.0.1", "localhost", 1)

    def scrapy_crawl(name: str, allow_private: bool) -> tuple[Path, str]:
        database = tmp_path / name / "newsrelay.db"
        database.parent.mkdir()
        config = images_config(
            database.parent, f"sqlite:///{database}", feed, allow_private=allow_private
        )
        done = run_scrapy(config, "s", spider="source", cache=cache)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return database, done.stderr

    scrapy_crawl("fill", allow_private=True)  # the feed and page cached; the image is a 404
    site.add("/img/p.jpg", JPEG, content_type="image/jpeg")
    before = len(site.requests)

    database, stderr = scrapy_crawl("refuse", allow_private=False)

    assert site.requests[before:] == []
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT url, image, image_path FROM articles").fetchall()
    assert rows == [(feed.replace("/feed.xml", "/news/p.html"), site.url("/img/p.jpg"), None)]
    assert "image not kept" in stderr and "127.0.0.1" in stderr, stderr
    assert not (database.parent / "images").exists()


def test_image_types_are_read_from_their_bytes() -> None:
    """JPEG, PNG, GIF, WebP and AVIF by their magic bytes; an SVG, HTML or an ISO-BMFF video
    (an MP4's ``ftyp`` box) is none."""
    assert [
        image_extension(data)
        for data in (
            JPEG,
            PNG,
            b"GIF89a\x01\x00",
            b"RIFF\x10\x00\x00\x00WEBPVP8 ",
            b"\x00\x00\x00\x1cftypavif\x00\x00",
            b'<svg xmlns="http://www.w3.org/2000/svg"/>',
            NOT_AN_IMAGE,
            b"\x00\x00\x00\x18ftypmp42\x00\x00",
        )
    ] == ["jpg", "png", "gif", "webp", "avif", None, None, None]


def test_postgresql_needs_an_images_directory(tmp_path: Path) -> None:
    """``download = true`` on PostgreSQL without ``directory``: one line, exit 2."""
    config = write_config(
        tmp_path / "newsrelay.toml",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "[images]\ndownload = true\n",
    )
    result = run_newsrelay("config", config=config)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "[images] directory is required with download = true on PostgreSQL"
    ), result.stderr
