"""Storage on real databases: every test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.fingerprints import content_hash
from storage.db import SchemaOutOfDate, StorageError, open_database
from storage.repository import (
    ArticleRecord,
    RunCounters,
    count_articles,
    ensure_source,
    finish_run,
    get_run,
    iter_articles,
    known_urls,
    save_article,
    save_articles,
    start_run,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def record(source_id: int, url: str, text: str, **extra: object) -> ArticleRecord:
    fields: dict[str, object] = {
        "source_id": source_id,
        "url": url,
        "original_url": url + "?utm_source=rss",
        "title": f"Title of {url}",
        "text": text,
        "html": f"<p>{text}</p>",
        "content_hash": content_hash(text),
        "fetched_at": NOW,
        **extra,
    }
    return ArticleRecord(**fields)  # type: ignore[arg-type]


def test_new_then_duplicate_by_url_and_by_content(db_url: str) -> None:
    """The first copy is stored; the same URL, or the same text elsewhere, becomes an alias."""
    db = open_database(db_url)
    ids = ensure_source(db, "a", ["http://a.example/rss"])
    first = save_article(db, record(ids.source_id, "http://a.example/1", "Story one text."))
    assert first.outcome == "new"

    again = save_article(db, record(ids.source_id, "http://a.example/1", "Edited text."))
    assert (again.outcome, again.article_id) == ("duplicate_url", first.article_id)

    # Same text, other address, spelled with other whitespace and case: same content hash.
    copy = save_article(db, record(ids.source_id, "http://b.example/x", "  story ONE   text. "))
    assert (copy.outcome, copy.article_id) == ("duplicate_content", first.article_id)

    other = save_article(db, record(ids.source_id, "http://a.example/2", "Story two text."))
    assert other.outcome == "new"

    assert count_articles(db) == 2
    articles = {a.url: a for a in iter_articles(db)}
    assert articles["http://a.example/1"].urls == ["http://a.example/1", "http://b.example/x"]
    assert articles["http://a.example/1"].duplicates == [
        {"url": "http://b.example/x", "kind": "content", "similarity": None}
    ]
    assert articles["http://a.example/1"].text == "Story one text."  # first copy stays
    assert known_urls(db, ["http://b.example/x", "http://a.example/2", "http://c/"]) == {
        "http://b.example/x",
        "http://a.example/2",
    }
    db.dispose()


def test_page_canonical_is_an_address(db_url: str) -> None:
    """A page whose rel=canonical names a stored article is that article."""
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    first = save_article(
        db,
        record(sid, "http://a.example/1", "Text one.", page_canonical_url="http://a.example/c/1"),
    )
    copy = save_article(
        db,
        record(
            sid, "http://a.example/amp/1", "Other text.", page_canonical_url="http://a.example/c/1"
        ),
    )
    assert (copy.outcome, copy.article_id) == ("duplicate_url", first.article_id)
    (article,) = iter_articles(db)
    assert article.urls == [
        "http://a.example/1",
        "http://a.example/c/1",
        "http://a.example/amp/1",
    ]
    db.dispose()


def test_timestamps_round_trip_as_utc(db_url: str) -> None:
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    published = datetime.fromisoformat("2026-11-20T10:30:00+03:30")
    save_article(db, record(sid, "http://a.example/1", "T.", published_at=published))
    (article,) = iter_articles(db)
    assert article.published_at == published
    assert article.published_at is not None and article.published_at.tzinfo is not None
    db.dispose()


def test_runs_record_counters(db_url: str) -> None:
    db = open_database(db_url)
    sid = ensure_source(db, "a", ["http://a.example/rss"]).source_id
    run_id = start_run(db, sid)
    run = get_run(db, run_id)
    assert run is not None and run.status == "running"
    finish_run(db, run_id, "failed", RunCounters(new=3, pages_failed=1), "page x: HTTP 404")
    run = get_run(db, run_id)
    assert run is not None
    assert (run.status, run.new, run.pages_failed, run.error) == (
        "failed",
        3,
        1,
        "page x: HTTP 404",
    )
    assert run.finished_at is not None
    db.dispose()


def test_ensure_source_is_idempotent(db_url: str) -> None:
    db = open_database(db_url)
    first = ensure_source(db, "a", ["http://a/1", "http://a/2"])
    second = ensure_source(db, "a", ["http://a/2", "http://a/3"])
    assert first.source_id == second.source_id
    assert first.feed_ids["http://a/2"] == second.feed_ids["http://a/2"]
    assert set(second.feed_ids) == {"http://a/1", "http://a/2", "http://a/3"}
    db.dispose()


def _writer(db_url: str, worker: int, stories: int) -> list[str]:
    db = open_database(db_url)
    sid = ensure_source(db, "shared", []).source_id
    outcomes = []
    # Each worker walks the same stories in its own order, in small batches.
    order = list(range(stories))
    random.Random(worker).shuffle(order)
    for start in range(0, len(order), 5):
        batch = [
            record(sid, f"http://shared.example/{n}", f"Shared story number {n}.")
            for n in order[start : start + 5]
        ]
        outcomes += [r.outcome for r in save_articles(db, batch)]
    db.dispose()
    return outcomes


def test_concurrent_writers_store_each_story_once(db_url: str) -> None:
    """Four processes saving the same 60 stories at once: the constraints keep one copy each."""
    open_database(db_url).dispose()  # create the schema once, before the race
    stories = 60
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_writer, [(db_url, w, stories) for w in range(4)])
    db = open_database(db_url)
    assert count_articles(db) == stories
    assert sum(o.count("new") for o in results) == stories
    assert sum(len(o) for o in results) == 4 * stories
    db.dispose()


def test_out_of_date_schema_is_refused(tmp_path: Path) -> None:
    """A database at an older revision is not migrated behind the operator's back."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_database(url).dispose()
    import sqlite3

    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(SchemaOutOfDate, match="newsrelay db upgrade"):
        open_database(url)


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    message = str(caught.value)
    assert "\n" not in message and "cannot open database" in message
    assert "127.0.0.1:1" in message


def test_schema_revision_constant_is_alembics_head(tmp_path: Path) -> None:
    """storage.db.SCHEMA_REVISION (checked at every start without importing Alembic) must
    name the newest migration, or every database would be refused or never upgraded."""
    from storage.db import SCHEMA_REVISION, Database

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.head_revision() == SCHEMA_REVISION
    db.upgrade()
    assert db.current_revision() == SCHEMA_REVISION
    db.dispose()
