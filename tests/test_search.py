"""Full-text search over stored articles, the same on SQLite (FTS5) and PostgreSQL
(tsvector): every word must appear, in any script; newest first; by cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from crawler.fingerprints import text_keys
from storage.articles import save_article
from storage.console import ArticleFilter, search_articles
from storage.db import Database, open_database
from storage.records import ArticleRecord
from storage.sources import ensure_source

ZWNJ = "\u200c"
STORIES = {
    "en": ("Harbour reopens after the storm", "The harbour reopened on Monday after the storm."),
    "fa": (
        f"پیش{ZWNJ}بینی{ZWNJ}های هواشناسی",
        f"سازمان هواشناسی از پیش{ZWNJ}بینی{ZWNJ}های تازه خبر داد و بارش باران ادامه دارد.",
    ),
    "ar": ("افتتاح الميناء بعد العاصفة", "أعيد افتتاح الميناء يوم الاثنين بعد العاصفة الشديدة."),
}


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    source_id = ensure_source(database, "wire", []).source_id
    for n, (language, (title, text)) in enumerate(STORIES.items()):
        for copy in range(3):  # three stories per language, each its own text
            body = f"{text} {copy} {'x' * copy}"
            save_article(
                database,
                ArticleRecord(
                    source_id=source_id,
                    url=f"https://wire.example/{language}/{copy}",
                    original_url=f"https://wire.example/{language}/{copy}",
                    title=f"{title} {copy}",
                    text=body,
                    html=f"<p>{body}</p>",
                    content_hash=text_keys(body).content_hash,
                    fetched_at=datetime(2026, 12, 1, 8, n * 3 + copy, tzinfo=UTC),
                    language=language,
                ),
            )
    yield database
    database.dispose()


def titles(db: Database, **wanted: object) -> list[str]:
    return [a.title for a in search_articles(db, ArticleFilter(**wanted))]  # type: ignore[arg-type]


def test_words_in_any_script_are_found(db: Database) -> None:
    assert titles(db, q="harbour storm") == [f"{STORIES['en'][0]} {n}" for n in (2, 1, 0)]
    assert titles(db, q="harbour volcano") == []  # every word must appear
    persian = f"پیش{ZWNJ}بینی{ZWNJ}های"  # a word written with half-spaces
    assert len(titles(db, q=persian)) == 3
    assert len(titles(db, q="بارش باران")) == 3
    assert len(titles(db, q="الميناء")) == 3
    # Arabic and Persian spellings of one letter find each other: ي/ی, ك/ک.
    assert len(titles(db, q="هواشناسي")) == 3  # Arabic yeh, Persian text
    assert len(titles(db, q="یوم")) == 3  # Persian yeh, Arabic text (يوم)
    assert len(titles(db, q="پيش" + ZWNJ + "بيني" + ZWNJ + "هاي")) == 3
    assert titles(db, q='"; DROP TABLE articles; --') == []  # no query syntax is obeyed
    assert len(titles(db, q="NEAR(harbour storm) OR *")) == 0


def test_filters_and_cursor(db: Database) -> None:
    everything = search_articles(db, ArticleFilter(limit=100))
    assert [a.id for a in everything] == sorted((a.id for a in everything), reverse=True)
    first = search_articles(db, ArticleFilter(limit=4))
    rest = search_articles(db, ArticleFilter(limit=100, before_id=first[-1].id))
    assert [a.id for a in first + rest] == [a.id for a in everything]
    assert {a.language for a in search_articles(db, ArticleFilter(language="ar"))} == {"ar"}
    since = datetime(2026, 12, 1, 8, 6, tzinfo=UTC)
    assert {a.language for a in search_articles(db, ArticleFilter(since=since))} == {"ar"}
    assert search_articles(db, ArticleFilter(source="nowhere")) == []
