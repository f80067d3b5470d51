"""A source's template, learnt from its own pages (``crawler.templates``), end to end: the real
``newsrelay crawl`` against a loopback site, into SQLite and PostgreSQL, read back with
``newsrelay export``; and the record's storage on both databases.

A paragraph recurring on three distinct pages of a source (a "follow us" line, a teaser box)
is its boilerplate: gone from the text and the HTML of its later pages, before their dedup
keys; a paragraph on fewer pages, and every page's own text, stay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from crawler.fingerprints import paragraph_key
from storage.articles import save_articles
from storage.db import open_database
from storage.records import ArticleRecord
from storage.sources import ensure_source
from storage.templates import template_paragraphs
from tests.localsite import LocalSite
from tests.support import export, run_newsrelay
from tests.test_editorial import FOLLOW_US, config_with, crawl, paragraphs, serve_feed

TEASER = ["Read also: the council budget explained in ten charts", "Ferry timetable for winter"]
TWICE = "Our correspondent in the harbour town contributed to this report."


def story_page(title: str, body: list[str], *, template: bool = True) -> str:
    """An article page: ``body`` with a teaser box after its first paragraph and the
    "follow us" line at its end (unless not ``template``)."""
    ps = [f"<p>{escape(p)}</p>" for p in body]
    if template:
        items = "".join(f"<li>{escape(t)}</li>" for t in TEASER[1:])
        ps.insert(1, f"<div><p>{escape(TEASER[0])}</p><ul>{items}</ul></div>")
        ps.append(f"<p>Follow us on <a href='https://t.me/relaynews'>{FOLLOW_US[13:]}</a></p>")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title></head><body><nav>Home | World</nav><article><h1>{escape(title)}</h1>"
        f"{''.join(ps)}</article><footer>Contact us</footer></body></html>"
    )


def stories(names: list[str], **extra: list[str]) -> dict[str, tuple[str, str]]:
    """path -> (title, page) of each story ``name``: three paragraphs of its own, and
    ``extra`` ones for some."""
    return {
        f"/news/{name}.html": (name, story_page(name, paragraphs(name, 3) + extra.get(name, [])))
        for name in names
    }


def recurring_gone(article: dict[str, object]) -> bool:
    text, html = str(article["text"]), str(article["html"])
    return all(t not in text and t not in html for t in [*TEASER, "Follow us", "t.me/relaynews"])


def test_recurring_paragraphs_are_learnt_kept_across_runs_and_dropped(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Five pages share a teaser box and a "follow us" line: learnt in a first crawl, they are
    gone from the text and HTML of every page of a second crawl (a new process: the record
    was stored), while each page's own paragraphs and one seen on two pages only stay. Two
    pages that differ only by the template are one story (a content duplicate)."""
    first = stories(["a1", "a2", "a3", "a4", "a5"], a1=[TWICE])
    config = config_with(tmp_path, db_url, serve_feed(site, first), "")
    rows, _ = crawl(config)
    assert rows["wire"]["new"] == 5

    copy = paragraphs("copy", 3)
    second = stories(["b1", "b2"], b1=[TWICE])
    second["/wire/copy.html"] = ("copy", story_page("copy", copy))
    second["/relay/copy.html"] = ("copy", story_page("copy", copy, template=False))
    serve_feed(site, {**first, **second}, channel="t2")
    rows, _ = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["duplicates_content"]) == (3, 1), rows
    stored = {url: a for a in export(config) for url in a["urls"]}  # a copy: its story's
    for path, (name, _) in {**first, **second}.items():
        article = stored[site.url(path)]
        own = copy if name == "copy" else paragraphs(name, 3)
        assert all(p in article["text"] and p in article["html"] for p in own), name
        if path in second:
            assert recurring_gone(article), article
    assert TWICE in stored[site.url("/news/a1.html")]["text"]
    assert TWICE in stored[site.url("/news/b1.html")]["text"]
    assert stored[site.url("/relay/copy.html")]["text"] == "\n".join(copy)

    db = open_database(db_url)
    try:
        seen = template_paragraphs(db, ensure_source(db, "wire", []).source_id)
    finally:
        db.dispose()
    # Counted on the pages stored as new: 7, and the copy with the template if it came first
    # (one story at two addresses counts once: the duplicate's paragraphs are no template).
    with_template = 7 + (stored[site.url("/wire/copy.html")]["url"] == site.url("/wire/copy.html"))
    assert seen[_key(FOLLOW_US)].pages == seen[_key(TEASER[0])].pages == with_template
    assert seen[_key(TWICE)].pages == 2


def test_learn_template_false_keeps_every_paragraph(site: LocalSite, tmp_path: Path) -> None:
    """With ``learn_template = false`` the recurring paragraphs stay on every page, and
    nothing is recorded."""
    names = ["c1", "c2", "c3", "c4"]
    config = config_with(
        tmp_path,
        f"sqlite:///{tmp_path / 'nr.db'}",
        serve_feed(site, stories(names[:3])),
        "learn_template = false",
    )
    crawl(config)
    serve_feed(site, stories(names), channel="t2")
    rows, _ = crawl(config)

    assert rows["wire"]["new"] == 1
    articles = export(config)
    assert len(articles) == 4
    for article in articles:
        assert FOLLOW_US in article["text"] and TEASER[0] in article["text"]
        assert "t.me/relaynews" in article["html"]
    db = open_database(f"sqlite:///{tmp_path / 'nr.db'}")
    try:
        assert template_paragraphs(db, ensure_source(db, "wire", []).source_id) == {}
    finally:
        db.dispose()


def test_extract_applies_the_stored_template(site: LocalSite, tmp_path: Path) -> None:
    """``newsrelay extract URL --source NAME`` drops what the source's crawls learnt, and says
    how many paragraphs went; without ``--source`` it shows the page as extracted."""
    config = config_with(
        tmp_path,
        f"sqlite:///{tmp_path / 'nr.db'}",
        serve_feed(site, stories(["d1", "d2", "d3"])),
        "",
    )
    crawl(config)
    url = site.add("/news/d4.html", story_page("d4", paragraphs("d4", 3)))

    shown = run_newsrelay("extract", url, "--source", "wire", config=config)
    assert shown.returncode == 0, shown.stderr
    assert "template: 3 paragraphs dropped" in shown.stdout.splitlines()
    assert FOLLOW_US not in shown.stdout and TEASER[0] not in shown.stdout
    assert all(p in shown.stdout for p in paragraphs("d4", 3))
    plain = run_newsrelay("extract", url, config=config)
    assert FOLLOW_US in plain.stdout and "template:" not in plain.stdout


def test_the_record_counts_pages_and_forgets_old_paragraphs(db_url: str) -> None:
    """Saved with their articles, fingerprints count one page per article (a paragraph twice
    on one page counts once, as ``paragraph_keys`` gives it); one unseen for 30 days is
    forgotten at the next save, and another source's record is its own."""
    db = open_database(db_url)
    try:
        wire = ensure_source(db, "wire", []).source_id
        other = ensure_source(db, "other", []).source_id
        now = datetime.now(UTC)
        old = now - timedelta(days=31)
        save_articles(db, [_record(wire, "/old", (1, 2), old), _record(other, "/o", (1,), now)])
        save_articles(db, [_record(wire, "/a", (2, 3), now), _record(wire, "/b", (3,), now)])

        seen = template_paragraphs(db, wire)
        # 1 was seen 31 days ago only; 2 then, and once since: that once is all that counts.
        assert {key: s.pages for key, s in seen.items()} == {2: 1, 3: 2}
        assert all(abs(s.last_seen - now) < timedelta(seconds=1) for s in seen.values())
        assert {key: s.pages for key, s in template_paragraphs(db, other).items()} == {1: 1}
    finally:
        db.dispose()


def _key(paragraph: str) -> int:
    key = paragraph_key(paragraph)
    assert key is not None
    return key


def _record(source_id: int, path: str, keys: tuple[int, ...], at: datetime) -> ArticleRecord:
    text = " ".join(paragraphs(f"{source_id}{path}", 1))
    return ArticleRecord(
        source_id=source_id,
        url=f"https://example.org{path}",
        original_url=f"https://example.org{path}",
        title=path,
        text=text,
        html=f"<p>{text}</p>",
        content_hash=f"{source_id}{path}",
        fetched_at=at,
        paragraphs=keys,
    )
