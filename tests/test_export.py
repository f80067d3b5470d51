"""Exports: every format round-trips, HTML is safe, --mark-published hands out each article once."""

from __future__ import annotations

import io
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import html as lxml_html

from crawler.fingerprints import text_keys
from storage.articles import save_article
from storage.db import Database, open_database
from storage.export import file_name, write_stream
from storage.publishing import iter_articles, publishing
from storage.records import ArticleRecord, Selection
from storage.sources import ensure_source
from tests.support import NEWSRELAY, write_config

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '<a href="javascript:alert(3)">click</a>',
    '<a href="JaVaScRiPt:alert(4)">click</a>',
    '<svg onload="alert(5)"><circle/></svg>',
    '<iframe src="https://evil.example/"></iframe>',
    '<p style="background:url(javascript:alert(6))" onclick="alert(7)">styled</p>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg4KTwvc2NyaXB0Pg==">data</a>',
    '<math><mi xlink:href="javascript:alert(9)">x</mi></math>',
    '<form action="javascript:alert(10)"><input type=submit></form>',
    "<body onload=alert(11)>",
    '<object data="javascript:alert(12)"></object>',
]
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "form", "style", "base"}


def unsafe_html(markup: str) -> list[str]:
    """What a browser would execute or load from ``markup``: the test's own HTML parser."""
    if not markup.strip():
        return []
    problems = []
    root = lxml_html.fromstring(f"<div>{markup}</div>")
    for element in root.iter():
        tag = str(element.tag).lower()
        if tag in DANGEROUS_TAGS:
            problems.append(f"<{tag}>")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"{tag} {name}=")
            if re.match(r"\s*(javascript|data|vbscript):", value, re.I):
                problems.append(f"{tag} {name}={value}")
    return problems


def add(db: Database, source: str, n: int, *, html: str = "", title: str = "") -> ArticleRecord:
    sid = ensure_source(db, source, []).source_id
    text = f"Paragraph one of story {n} from {source}.\nParagraph two, with more words {n}."
    record = ArticleRecord(
        source_id=sid,
        url=f"https://{source}.example/news/{n}",
        original_url=f"https://{source}.example/news/{n}?utm_source=rss",
        title=title or f"Story {n} of {source}",
        text=text,
        html=html
        or f"<p>Paragraph one of story {n}.</p><p><a href='https://x.example/'>a link</a></p>",
        content_hash=text_keys(text).content_hash,
        fetched_at=datetime(2026, 11, 26, 12, n % 60, tzinfo=UTC),
        published_at=datetime(2026, 11, 25, 8, n % 60, tzinfo=UTC),
        language="en",
    )
    save_article(db, record)
    return record


@pytest.fixture
def db(db_url: str) -> Database:
    database = open_database(db_url)
    yield database  # type: ignore[misc]
    database.dispose()


def export(db: Database, fmt: str, **kwargs: object) -> str:
    out = io.StringIO()
    write_stream(fmt, iter_articles(db, Selection(**kwargs)), out, header=["بسم الله", "My site"])  # type: ignore[arg-type]
    return out.getvalue()


def test_jsonl_has_every_field(db: Database) -> None:
    add(db, "a", 1)
    (line,) = export(db, "jsonl").splitlines()
    data = json.loads(line)
    for key in ("url", "urls", "title", "published", "fetched", "source", "text", "html",
                "content_hash", "language", "duplicates", "revision", "updated"):  # fmt: skip
        assert key in data
    assert (data["revision"], data["updated"]) == (1, None)  # no correction stored
    assert data["url"] == "https://a.example/news/1"
    assert data["published"] == "2026-11-25T08:01:00+00:00"


def test_txt_is_the_republishing_shape(db: Database) -> None:
    add(db, "a", 1)
    lines = export(db, "txt").splitlines()
    assert lines[:5] == [
        "بسم الله",
        "My site",
        "https://a.example/news/1",
        "Story 1 of a",
        "2026-11-25T08:01:00+00:00",
    ]
    assert lines[6] == "Paragraph one of story 1 from a."
    assert lines[8] == "Paragraph two, with more words 1."


def test_atom_is_a_valid_feed_that_parses_back(db: Database) -> None:
    for n in range(3):
        add(db, "a", n)
    parsed = feedparser.parse(io.BytesIO(export(db, "atom").encode()))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.link for e in parsed.entries] == [f"https://a.example/news/{n}" for n in range(3)]
    assert parsed.entries[0].title == "Story 0 of a"
    assert "Paragraph one of story 0" in parsed.entries[0].content[0].value


def test_markdown_and_html_carry_the_fields(db: Database) -> None:
    add(db, "a", 1)
    md = export(db, "md")
    assert "# Story 1 of a" in md and "<https://a.example/news/1>" in md
    html = export(db, "html")
    assert "<h1>Story 1 of a</h1>" in html
    assert 'href="https://x.example/"' in html  # links kept, absolute


def test_no_script_survives_any_format(db: Database) -> None:
    """Hostile markup in the stored HTML, title and text never reaches an export."""
    for n, payload in enumerate(XSS):
        add(db, "evil", n, html=f"<p>story {n}</p>{payload}", title=f"T{n} {payload}")
    html_page = export(db, "html")
    assert unsafe_html(html_page.split("<body>", 1)[1]) == []
    assert "<title>T0 &lt;script&gt;" in html_page  # titles are escaped text
    # Atom: what a feed reader renders is the entries' HTML content, as parsed back.
    feed = feedparser.parse(io.BytesIO(export(db, "atom").encode()), sanitize_html=False)
    assert len(feed.entries) == len(XSS)
    assert [p for e in feed.entries for p in unsafe_html(e.content[0].value)] == []
    for line in export(db, "jsonl").splitlines():
        assert unsafe_html(json.loads(line)["html"]) == []
    # Markdown: no raw HTML at all (every "<" escaped, but for our own <https://...> links).
    md = export(db, "md")
    assert re.findall(r"(?<!\\)<(?!https?://)", md) == []
    assert "](javascript:" not in md.lower()


def test_selection_by_source_and_since(db: Database) -> None:
    add(db, "a", 1)
    add(db, "b", 2)
    assert [a.source for a in iter_articles(db, Selection(source="b"))] == ["b"]
    later = datetime(2026, 11, 26, 12, 2, tzinfo=UTC)
    assert [a.url for a in iter_articles(db, Selection(since=later))] == [
        "https://b.example/news/2"
    ]


def test_mark_published_then_unpublished_is_empty(db: Database) -> None:
    add(db, "a", 1)
    add(db, "a", 2)
    with publishing(db, Selection()) as first:
        assert len(first) == 2
    with publishing(db, Selection()) as second:
        assert second == []
    add(db, "a", 3)
    assert [a.url for a in iter_articles(db, Selection(unpublished=True))] == [
        "https://a.example/news/3"
    ]


def test_a_failed_export_marks_nothing(db: Database) -> None:
    add(db, "a", 1)
    with pytest.raises(OSError), publishing(db, Selection()) as articles:
        assert len(articles) == 1
        raise OSError("disk full")
    assert len(list(iter_articles(db, Selection(unpublished=True)))) == 1


def test_two_concurrent_exports_hand_out_each_article_once(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """Two real `newsrelay export --mark-published` processes at once, 200 articles."""
    for n in range(200):
        add(db, "a", n)
    config = write_config(
        tmp_path / "c.toml", db_url, '[[sources]]\nname = "a"\nfeeds = ["http://a.example/rss"]\n'
    )
    command = [str(NEWSRELAY), "--config", str(config), "export", "--format", "jsonl",
               "--mark-published"]  # fmt: skip
    outputs = [tmp_path / "one.jsonl", tmp_path / "two.jsonl"]
    processes = [subprocess.Popen([*command, "--output", str(out)]) for out in outputs]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    urls = [json.loads(line)["url"] for out in outputs for line in out.read_text().splitlines()]
    assert len(urls) == 200
    assert len(set(urls)) == 200


def test_output_dir_names_are_stable(db: Database, tmp_path: Path) -> None:
    add(db, "a", 1, title="Iran's / foreign minister: talks «resume»")
    (article,) = iter_articles(db)
    name = file_name(article, "md")
    assert name == file_name(article, "md")
    assert re.fullmatch(r"a-\d{8}-[\w-]+\.md", name), name
    assert "/" not in name
