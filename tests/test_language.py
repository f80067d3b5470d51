# ruff: noqa: RUF001 - Persian, Arabic and Urdu letters here are theirs, not look-alikes.
"""An article's language: declared by its page or feed, or detected from its final text.

The detector (py3langid, in ``crawler.language``) reads real feed texts: English ones of the
corpus (``tests/corpus/feeds``, among them a Kannada outlet's feed of English stories), and
Persian, Arabic and Urdu ones, which share one script (``tests/fixtures/language``). Then the
page pipeline, and a real crawl over a loopback site into SQLite and PostgreSQL, exported as
jsonl; and the ``languages`` filter judging the detected language of a page that lies.
"""

from __future__ import annotations

import io
from html import escape
from pathlib import Path

import feedparser
import pytest

from crawler.extract import html_text
from crawler.language import MIN_CONFIDENCE, Detection, choose_language, detect_language
from crawler.processing import process_page
from tests.localsite import LocalSite
from tests.support import by_url, export, run_newsrelay, summary, write_config

HERE = Path(__file__).parent
LANGUAGE = HERE / "fixtures" / "language"
CORPUS = HERE / "corpus" / "feeds"
ENGLISH_FEEDS = [
    "arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20HubSpot.xml",
    "prof18__RSS-Parser/rssparser/src/commonTest/resources/feed-google-blog.xml",
    "arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20Reuters.xml",
    "arminreiter__FeedReader/FeedReader.Tests/Feeds/Rss20CTVNews.xml",
    # Declares <language>kn</language> (Kannada); its stories are in English.
    "rbren__rss-parser/test/input/customfields.rss",
]
HTML = "text/html; charset=utf-8"


def feed_texts(path: Path) -> list[tuple[str, str]]:
    """(title, text) of each entry of a feed: its title and its summary without markup."""
    parsed = feedparser.parse(io.BytesIO(path.read_bytes()))
    texts = []
    for entry in parsed.entries:
        summary_html = entry.get("summary", "")
        plain = " ".join(html_text(summary_html).split()) if summary_html else ""
        texts.append((entry.get("title", ""), plain))
    return texts


@pytest.mark.parametrize("language", ["fa", "ar", "ur"])
def test_persian_arabic_and_urdu_feed_texts_are_told_apart(language: str) -> None:
    """Three languages in one script: every story of each feed is named right, surely."""
    texts = feed_texts(LANGUAGE / f"{language}.rss.xml")
    assert len(texts) == 5
    for title, text in texts:
        found = detect_language(f"{title}\n{text}")
        assert found is not None and found.language == language, (title, found)
        assert found.confidence >= MIN_CONFIDENCE


@pytest.mark.parametrize("feed", ENGLISH_FEEDS)
def test_english_corpus_feed_texts_are_english_whatever_they_declare(feed: str) -> None:
    texts = [f"{t}\n{s}" for t, s in feed_texts(CORPUS / feed) if len(t) + len(s) >= 200]
    assert texts
    assert {found.language for t in texts if (found := detect_language(t))} == {"en"}


def test_the_persian_blog_that_declares_en_us_is_persian() -> None:
    page = process_page((LANGUAGE / "persian-blog-en-us.html").read_bytes(), HTML, "http://b/1")
    assert page.extracted.language == "en-us"  # what the page says
    assert (page.language, page.language_source) == ("fa", "detected")


def test_a_true_declaration_is_kept_as_declared() -> None:
    """Its region subtag and case too: the declaration is the page's, not rewritten."""
    (title, text), *_ = feed_texts(LANGUAGE / "fa.rss.xml")
    page = process_page(article("fa-IR", title, text).encode(), HTML, "http://b/2")
    assert (page.language, page.language_source) == ("fa-IR", "declared")
    (title, text), *_ = feed_texts(CORPUS / ENGLISH_FEEDS[0])
    page = process_page(article("EN-us", title, text).encode(), HTML, "http://b/3")
    assert (page.language, page.language_source) == ("EN-us", "declared")


def test_the_feeds_declaration_stands_in_for_the_pages() -> None:
    (title, text), *_ = feed_texts(LANGUAGE / "ur.rss.xml")
    body = article(None, title, text).encode()
    page = process_page(body, HTML, "http://b/4", entry_language="ur")
    assert (page.language, page.language_source) == ("ur", "declared")
    page = process_page(body, HTML, "http://b/4", entry_language="fa")  # the feed lies
    assert (page.language, page.language_source) == ("ur", "detected")
    page = process_page(body, HTML, "http://b/4")  # nobody says
    assert (page.language, page.language_source) == ("ur", "detected")


def test_a_short_or_empty_text_keeps_the_declaration() -> None:
    """Too little text to overrule a page (a caption, a headline): the declaration stays; a
    page that declares nothing gets a language only from enough text."""
    short = process_page(article("en", "خبر", "بارش برف راه‌ها را بست.").encode(), HTML, "u")
    assert short.text and (short.language, short.language_source) == ("en", "declared")
    empty = process_page(article("en", "Title", "").encode(), HTML, "u")
    assert (empty.language, empty.language_source) == (None, None)  # no text, no article
    assert choose_language("en", None) == ("en", "declared")
    assert choose_language("en", Detection("fa", 1.0, 30)) == ("en", "declared")
    assert choose_language("en", Detection("fa", 0.5, 900)) == ("en", "declared")
    assert choose_language(None, Detection("fa", 1.0, 30)) == (None, None)
    assert choose_language(None, Detection("fa", 1.0, 60)) == ("fa", "detected")
    assert choose_language(None, None) == (None, None)


def article(lang: str | None, title: str, text: str) -> str:
    lang_attr = f' lang="{lang}"' if lang else ""
    paragraph = f"<p>{escape(text)}</p>" if text else ""
    return (
        f'<!DOCTYPE html><html{lang_attr}><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title></head><body><article><h1>{escape(title)}</h1>{paragraph}</article>"
        "</body></html>"
    )


def serve(site: LocalSite, pages: dict[str, str], feed_language: str) -> str:
    items = "".join(
        f"<item><title>{path}</title><link>{site.url(path)}</link></item>" for path in pages
    )
    for path, html in pages.items():
        site.add(path, html)
    return site.add(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<language>{feed_language}</language>{items}</channel></rss>",
        content_type="application/rss+xml; charset=utf-8",
    )


def stories() -> dict[str, str]:
    """Five pages: the Persian blog (declares en-us), an English story (en-GB), and a
    Persian, an Arabic and an Urdu story that declare nothing (their feed says fa)."""
    fa, ar, ur = (feed_texts(LANGUAGE / f"{lang}.rss.xml") for lang in ("fa", "ar", "ur"))
    english = [(t, s) for t, s in feed_texts(CORPUS / ENGLISH_FEEDS[0]) if len(s) >= 200]
    return {
        "/blog.html": (LANGUAGE / "persian-blog-en-us.html").read_text(encoding="utf-8"),
        "/en.html": article("en-GB", *english[0]),
        "/fa.html": article(None, *fa[1]),
        "/ar.html": article(None, *ar[1]),
        "/ur.html": article(None, *ur[1]),
    }


def test_a_crawl_stores_and_exports_language_and_its_source(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    feed = serve(site, stories(), feed_language="fa")
    config = write_config(
        tmp_path / "newsrelay.toml", db_url, f'[[sources]]\nname = "mixed"\nfeeds = ["{feed}"]\n'
    )
    result = run_newsrelay("crawl", "--all", "--json", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout)["mixed"]["new"] == 5

    found = {
        url: (a["language"], a["language_source"]) for url, a in by_url(export(config)).items()
    }
    assert found == {
        site.url("/blog.html"): ("fa", "detected"),
        site.url("/en.html"): ("en-GB", "declared"),
        site.url("/fa.html"): ("fa", "declared"),
        site.url("/ar.html"): ("ar", "detected"),
        site.url("/ur.html"): ("ur", "detected"),
    }


def test_the_languages_filter_drops_a_page_whose_declaration_lies(
    site: LocalSite, tmp_path: Path
) -> None:
    """``languages = ["en"]``: the Persian blog declares en-us, and is dropped as Persian."""
    pages = stories()
    feed = serve(site, {p: pages[p] for p in ("/blog.html", "/en.html")}, feed_language="en")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "wire"\nfeeds = ["{feed}"]\nlanguages = ["en"]\n',
    )
    result = run_newsrelay("--log-format", "json", "crawl", "--all", "--json", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    row = summary(result.stdout)["wire"]
    assert (row["new"], row["filtered"]) == (1, 1)
    assert "sources[wire].languages: 'fa' is not en" in result.stderr
    assert [a["url"] for a in export(config)] == [site.url("/en.html")]


def test_newsrelay_extract_shows_the_language_and_its_source(tmp_path: Path) -> None:
    blog = LANGUAGE / "persian-blog-en-us.html"
    config = write_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'newsrelay.db'}", "")
    result = run_newsrelay("extract", str(blog), config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "language: fa\n" in result.stdout and "language_source: detected\n" in result.stdout
