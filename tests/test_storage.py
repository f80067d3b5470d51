"""Storage on real databases: every test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import text

from crawler.fingerprints import content_hash, text_keys
from storage.articles import known_entries, save_article, save_articles
from storage.db import Database, SchemaOutOfDate, StorageError, open_database
from storage.filtered import filtered_entries, record_filtered
from storage.models import Article, ArticleUrl
from storage.publishing import count_articles, iter_articles
from storage.records import ArticleRecord, EntryIdentity, RunCounters, SaveOutcome
from storage.runs import finish_run, get_run, start_run
from storage.sources import ensure_source

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
    asked = ["http://b.example/x", "http://a.example/2", "http://c/"]
    assert known_entries(db, ids.source_id, [EntryIdentity(url) for url in asked]) == {
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
    assert (run.status, run.counters.new, run.counters.pages_failed, run.error) == (
        "failed",
        3,
        1,
        "page x: HTTP 404",
    )
    assert run.finished_at is not None
    db.dispose()


def test_filtered_entries_are_known_to_their_source_only(db_url: str) -> None:
    """An entry a source's filter dropped is known to that source's next poll (not fetched
    again), with its rule kept; another source listing the same URL judges it itself. The
    run counts it as ``filtered``."""
    db = open_database(db_url)
    a = ensure_source(db, "a", ["http://a.example/rss"]).source_id
    b = ensure_source(db, "b", ["http://b.example/rss"]).source_id
    run_id = start_run(db, a)
    live, video = "http://a.example/live/1", "http://a.example/video/2"
    record_filtered(db, a, run_id, {live: "filters.exclude[0] title '^Live'"})
    record_filtered(db, a, run_id, {live: "a later rule", video: "sources[a].exclude[0] url"})
    finish_run(db, run_id, "ok", RunCounters(filtered=2))

    entries = [EntryIdentity(live), EntryIdentity(video), EntryIdentity("http://a.example/3")]
    assert known_entries(db, a, entries) == {live, video}
    assert known_entries(db, b, entries) == set()
    assert filtered_entries(db, a) == {
        live: "filters.exclude[0] title '^Live'",  # the first rule stays
        video: "sources[a].exclude[0] url",
    }
    run = get_run(db, run_id)
    assert run is not None and run.counters.filtered == 2

    # The editor changes the source's rules: what the old ones dropped is judged again, and
    # recorded anew under the new ones if they drop it too.
    assert known_entries(db, a, entries, rules="new") == set()
    record_filtered(db, a, run_id, {video: "sources[a].exclude[0] url '/video/'"}, rules="new")
    assert known_entries(db, a, entries, rules="new") == {video}
    assert filtered_entries(db, a) == {
        live: "filters.exclude[0] title '^Live'",
        video: "sources[a].exclude[0] url '/video/'",
    }
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


def _story(n: int, edit: str = "") -> str:
    """A story of some length (near-duplicate keys need words), told with small edits."""
    words = " ".join(f"w{n}x{i}" for i in range(60))
    return f"Story {n} opens here. {words} And it ends. {edit}".strip()


def _records(sid: int) -> list[ArticleRecord]:
    """Every kind of match, most of them against an earlier record of the same list."""

    def rec(url: str, text: str, **extra: object) -> ArticleRecord:
        near = text_keys(text).near
        return record(sid, url, text, near=near, **extra)

    return [
        rec("http://a.example/1", _story(1), guid="g1", page_canonical_url="http://a.example/c1"),
        rec("http://a.example/2", _story(2), url_id="200"),
        rec("http://a.example/1", _story(9)),  # same address
        rec("http://a.example/amp/1", _story(8), page_canonical_url="http://a.example/c1"),
        rec("http://b.example/3", _story(10), guid="g1"),  # same feed GUID
        rec("http://b.example/4", _story(11), url_id="200"),  # same URL id
        rec(
            "http://b.example/5",
            "  story 2 OPENS here. " + _story(2)[len("Story 2 opens here. ") :],
        ),
        rec("http://b.example/6", _story(1, edit="Reporting by a wire agency.")),  # near
        rec("http://c.example/7", _story(7)),
        rec("http://c.example/8", _story(7, edit="Copied.")),  # near a new one of this list
    ]


def _stored_addresses(db: Database) -> list[tuple[str, str, str, float | None]]:
    """(article URL, address, kind, similarity) of every stored address."""
    return sorted(
        (a.url, d["url"], d["kind"], d["similarity"])
        for a in iter_articles(db)
        for d in [{"url": u, "kind": "self", "similarity": None} for u in a.urls] + a.duplicates
    )


def test_a_batch_decides_as_one_by_one(db_url: str, tmp_path: Path) -> None:
    """save_articles decides a batch in a few statements; the outcome is exactly that of
    saving each record on its own, in URL order, including copies of records earlier in the
    same batch (by address, GUID, URL id, text and near-duplicate text)."""
    single = open_database(f"sqlite:///{tmp_path / 'single.db'}")
    sid = ensure_source(single, "a", []).source_id
    records = _records(sid)
    expected: dict[int, str] = {}
    for i in sorted(range(len(records)), key=lambda i: records[i].url):
        expected[i] = save_article(single, records[i], near_threshold=0.7).outcome
    batch = open_database(db_url)
    assert ensure_source(batch, "a", []).source_id == sid
    # Split in two batches, so the second also meets stored rows.
    first, second = records[:4], records[4:]
    results = save_articles(batch, first, near_threshold=0.7) + save_articles(
        batch, second, near_threshold=0.7
    )
    outcomes = [r.outcome for r in results]
    # Each kind of dedup decision once at least, or this test would not test it (a correction's
    # "revised" / "unchanged" is no dedup decision: tests/test_revisions.py).
    assert set(outcomes) == set(get_args(SaveOutcome)) - {"revised", "unchanged"}
    assert outcomes == [expected[i] for i in range(len(records))]
    assert _stored_addresses(batch) == _stored_addresses(single)
    assert count_articles(batch) == count_articles(single) == 3
    single.dispose()
    batch.dispose()


@pytest.mark.postgres
def test_a_batch_that_loses_a_race_is_decided_again(postgres_url: str) -> None:
    """PostgreSQL: a story another writer commits between a batch's look-up and its insert
    is stored once; the batch starts over and that story becomes a duplicate. (SQLite
    cannot race: a writer holds the database from its look-up to its commit.)"""
    url = postgres_url
    db, rival = open_database(url), open_database(url)
    sid = ensure_source(db, "a", []).source_id
    ours = [
        record(sid, "http://a.example/1", "Story one."),
        record(sid, "http://a.example/2", "Story two."),
    ]
    results: list[str] = []
    with rival.transaction() as session:
        # What a writer stores for a new article: the row and its address.
        theirs = session.execute(
            Article.__table__.insert().returning(Article.id),  # type: ignore[attr-defined]
            {
                "source_id": sid,
                "url": "http://a.example/1",
                "original_url": "http://a.example/1",
                "title": "Theirs",
                "text": "Their story one.",
                "html": "<p>Their story one.</p>",
                "content_hash": content_hash("Their story one."),
                "fetched_at": NOW,
            },
        ).scalar_one()
        session.execute(
            ArticleUrl.__table__.insert(),  # type: ignore[attr-defined]
            {"article_id": theirs, "url": "http://a.example/1", "kind": "canonical"},
        )
        writer = threading.Thread(
            target=lambda: results.extend(r.outcome for r in save_articles(db, ours))
        )
        writer.start()
        # Commit only once our insert waits on their uncommitted row: the race, for sure.
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(rival) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_a_lock(rival), "the batch never waited on the rival's row"
    writer.join(10)
    assert results == ["duplicate_url", "new"]
    assert count_articles(db) == 2
    db.dispose()
    rival.dispose()


def _waiting_on_a_lock(db: Database) -> bool:
    with db.reading() as session:
        waiting = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def test_downgrades_keep_the_rows_and_the_search_triggers(tmp_path: Path) -> None:
    """Stepping the schema back to 0009 and up again on SQLite loses no row and no trigger: a
    migration that rebuilt a table (Alembic's batch mode) would DROP it, and with foreign keys
    on that cascades into every row referencing it."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'steps.db'}"
    db = open_database(url)
    ids = ensure_source(db, "a", ["http://a.example/rss"])
    run = start_run(db, ids.source_id)
    saved = save_article(db, record(ids.source_id, "http://a.example/1", "Story one.", run_id=run))
    save_article(db, record(ids.source_id, "http://b.example/1", "Story one."))  # a copy

    def state() -> tuple[object, ...]:
        with db.engine.connect() as conn:
            return (
                conn.execute(text("SELECT count(*) FROM article_urls")).scalar(),
                conn.execute(text("SELECT run_id FROM articles")).scalar(),
                conn.execute(
                    text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
                ).scalar(),
            )

    before = state()
    assert before[:2] == (2, run) and before[2]
    config = db._alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    assert state() == before
    db.upgrade()
    assert state() == before and saved.outcome == "new"
    db.dispose()
