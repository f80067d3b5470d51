# ruff: noqa: RUF001 (Persian letters that look like Latin ones)
"""Persian text stays intact: ZERO WIDTH NON-JOINER (U+200C, the half-space inside words such
as پیش‌بینی‌های) is part of the spelling. Titles and bodies taken from the page, from the feed
and from a source's selectors keep it in storage and in every export format (dedup keys may
normalise it; stored and exported text may not)."""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

from tests.localsite import LocalSite
from tests.support import export, run_newsrelay, write_config

ZWNJ = "\u200c"
TITLE = f"پیش{ZWNJ}بینی{ZWNJ}های هواشناسی برای هفته{ZWNJ}ی آینده"
WORD = f"بارش{ZWNJ}ها"  # in every body
VOCABULARY = (
    f"سازمان هواشناسی اعلام کرد هفته{ZWNJ}ی آینده افزایش می{ZWNJ}یابد دمای هوا کاهش "
    f"پیش{ZWNJ}بینی{ZWNJ}ها داده{ZWNJ}های ماهواره{ZWNJ}ای کارشناسان می{ZWNJ}گویند مردم "
    f"شرایط جوی نامساعد سفرهای غیرضروری احتمال وقوع سیل مناطق شمالی نهادهای امدادی "
    f"آماده{ZWNJ}باش دولت مجلس وزیر نشست گزارش خبرگزاری تهران اصفهان شیراز تبریز"
).split()


def _paragraphs(n: int) -> list[str]:
    """Three paragraphs of their own per page (pages sharing text would be duplicates)."""
    rng = random.Random(n)
    return [" ".join([WORD, *(rng.choice(VOCABULARY) for _ in range(40))]) + "." for _ in range(3)]


def _page(title: str | None, n: int) -> str:
    head = f"<title>{title}</title>" if title else ""
    heading = f'<h1 class="headline">{title}</h1>' if title else ""
    body = "".join(f"<p>{p}</p>" for p in _paragraphs(n))
    return (
        f'<!DOCTYPE html><html lang="fa" dir="rtl"><head><meta charset="utf-8">{head}</head>'
        f'<body><div class="story">{heading}<article>{body}</article></div></body></html>'
    )


def _feed(site: LocalSite, items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{site.url(p)}</link><guid>{p}</guid></item>"
        for t, p in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>fa</title>'
        f"{entries}</channel></rss>"
    )


def test_half_spaces_survive_page_feed_selectors_and_every_export(
    tmp_path: Path, site: LocalSite
) -> None:
    site.add("/fa/page.html", _page(TITLE, 1))  # title from the page
    site.add("/fa/untitled.html", _page(None, 2))  # no title on the page: the feed's
    site.add("/rules/page.html", _page(TITLE, 3))  # title and body from selectors
    feed = _feed(site, [("عنوان خبر", "/fa/page.html"), (TITLE, "/fa/untitled.html")])
    site.add("/fa/feed.xml", feed, content_type="application/rss+xml")
    rules_feed = _feed(site, [("عنوان", "/rules/page.html")])
    site.add("/rules/feed.xml", rules_feed, content_type="application/rss+xml")
    config = write_config(
        tmp_path / "c.toml",
        f"sqlite:///{tmp_path}/n.db",
        f'[[sources]]\nname = "fa"\nfeeds = ["{site.url("/fa/feed.xml")}"]\n\n'
        f'[[sources]]\nname = "rules"\nfeeds = ["{site.url("/rules/feed.xml")}"]\n'
        '[sources.extract]\ntitle = "h1.headline"\nbody = "article"\n',
    )
    crawled = run_newsrelay("crawl", "--all", config=config)
    assert crawled.returncode == 0, crawled.stderr

    articles = export(config)
    assert len(articles) == 3
    for article in articles:
        assert article["title"] == TITLE, (article["url"], article["title"])
        assert WORD in article["text"] and WORD in article["html"], article["url"]
    for fmt in ("txt", "md", "html", "atom"):
        out = run_newsrelay("export", "--format", fmt, config=config)
        assert out.returncode == 0, out.stderr
        assert out.stdout.count(TITLE) >= 3, fmt
        assert out.stdout.count(WORD) >= 3, fmt

    # The half-space written as itself, or as an entity.
    for n, source in enumerate([_page(TITLE, 4), _page(TITLE, 5).replace(ZWNJ, "&zwnj;")]):
        page = tmp_path / f"page{n}.html"
        page.write_text(source, encoding="utf-8")
        one = run_newsrelay("extract", str(page), "--url", "https://example.ir/a", "--json")
        extracted = json.loads(one.stdout)
        assert extracted["title"] == TITLE, n
        assert WORD in extracted["text"], n
