"""Retention (``storage.keep_articles``): old articles deleted batch by batch with what hangs
on them, and their tombstones recognising a story that comes back until they expire; on a
SQLite file and on PostgreSQL, and through ``newsrelay prune`` over a local site."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from crawler import fingerprints
from crawler.config import ConfigError, config_from_dict
from crawler.fingerprints import content_hash, text_keys
from storage import dedup
from storage.articles import known_entries, save_article, save_articles
from storage.console import ArticleFilter, search_articles
from storage.db import Database, open_database
from storage.publishing import count_articles, iter_articles
from storage.records import ArticleRecord, EntryIdentity
from storage.retention import Retention, prune
from storage.sources import ensure_source
from tests.localsite import LocalSite
from tests.support import (
    DaemonProcess,
    article_html,
    daemon_config,
    rss_of,
    run_newsrelay,
    summary,
    write_config,
)

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)
RECENT = NOW - timedelta(days=1)
KEEP = Retention(keep_articles=timedelta(days=90), keep_dedup_keys=timedelta(days=180))
STORY = (
    "The harbour council voted on Tuesday to close the old ferry pier after divers found deep "
    "cracks in its pillars, and the minister promised a new bridge to the island within five "
    "years while farmers asked how their wheat would reach the market until then."
)


def record(source_id: int, url: str, body: str, **extra: object) -> ArticleRecord:
    fields: dict[str, object] = {
        "source_id": source_id,
        "url": url,
        "original_url": url,
        "title": f"Title of {url}",
        "text": body,
        "html": f"<p>{body}</p>",
        "content_hash": content_hash(body),
        "fetched_at": OLD,
        "near": text_keys(body).near,
        **extra,
    }
    return ArticleRecord(**fields)  # type: ignore[arg-type]


def kept_image(directory: Path, name: str, stored: datetime) -> str:
    """An image file as ``[images] download`` keeps it, written when its article was stored."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + name.encode())
    os.utime(path, (stored.timestamp(), stored.timestamp()))
    return name


def rows(db: Database, query: str) -> list[object]:
    with db.reading() as session:
        return sorted(session.scalars(text(query)))


def test_prune_deletes_old_articles_and_what_hangs_on_them(db_url: str, tmp_path: Path) -> None:
    """Articles stored before keep_articles go with their copies, deliveries, search rows,
    rows of tables whose foreign key cascades (as article_revisions and raw_pages will), and
    the image files no remaining article shows; newer articles and shared files stay."""
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    images = tmp_path / "images"
    lone, shared = kept_image(images, "lo/ne.jpg", OLD), kept_image(images, "sh/ared.png", OLD)
    site = ("site",)
    old = save_article(
        db,
        record(
            sid,
            "http://a.example/1",
            "Volcano ash over the harbour.",
            image_path=lone,
            destinations=site,
        ),
    )
    save_article(db, record(sid, "http://mirror.example/1", "volcano ASH over the harbour."))
    save_article(db, record(sid, "http://a.example/2", "Glacier melts.", image_path=shared))
    new = save_article(
        db,
        record(
            sid,
            "http://a.example/3",
            "Ferry strike.",
            fetched_at=RECENT,
            image_path=shared,
            destinations=site,
        ),
    )
    with db.transaction() as session:
        session.execute(
            text(
                "CREATE TABLE raw_pages_probe (article_id INTEGER NOT NULL "
                "REFERENCES articles (id) ON DELETE CASCADE)"
            )
        )
        session.execute(
            text("INSERT INTO raw_pages_probe VALUES (:old), (:new)"),
            {"old": old.article_id, "new": new.article_id},
        )

    report = prune(db, Retention(KEEP.keep_articles, KEEP.keep_dedup_keys, images))

    assert (report.articles, report.copies, report.deliveries, report.images) == (2, 1, 1, 1)
    assert [a.url for a in iter_articles(db)] == ["http://a.example/3"]
    assert rows(db, "SELECT url FROM article_urls") == ["http://a.example/3"]
    assert rows(db, "SELECT article_id FROM deliveries") == [new.article_id]
    assert rows(db, "SELECT article_id FROM raw_pages_probe") == [new.article_id]
    assert rows(
        db,
        "SELECT article_id FROM article_near_keys"
        " UNION SELECT article_id FROM article_near_keys_recent",
    ) == [new.article_id]
    assert search_articles(db, ArticleFilter(q="volcano")) == []
    assert [a.id for a in search_articles(db, ArticleFilter(q="ferry"))] == [new.article_id]
    if db.dialect == "sqlite":  # the FTS5 index holds no row of a deleted article
        assert rows(db, "SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'volcano'") == []
        with db.transaction() as session:
            session.execute(
                text("INSERT INTO articles_fts(articles_fts) VALUES('integrity-check')")
            )
    assert not (images / lone).exists()
    assert (images / shared).exists()
    db.dispose()


def test_a_deleted_story_coming_back_is_a_duplicate_until_its_keys_expire(db_url: str) -> None:
    """After its article is deleted, a story's tombstone still knows its addresses (copies'
    too), its feed GUID, its text and its near-duplicate bands: saved again, or listed again in
    a feed, it is a duplicate of the deleted article, not a new article. Once keep_dedup_keys
    has passed since the deletion, the same story is new again."""
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    first = save_article(db, record(sid, "http://a.example/1", STORY, guid="g-1"))
    save_article(db, record(sid, "http://mirror.example/1", STORY.upper()))
    assert prune(db, KEEP).articles == 1

    def again(url: str, body: str, **extra: object) -> tuple[str, int, bool]:
        result = save_article(
            db, record(sid, url, body, fetched_at=NOW, **extra), near_threshold=0.7
        )
        return result.outcome, result.article_id, result.tombstone is not None

    deleted = first.article_id
    assert again("http://a.example/1", "A rewritten text.") == ("duplicate_url", deleted, True)
    assert again("http://mirror.example/1", "Other.") == ("duplicate_url", deleted, True)
    assert again("http://a.example/9", "Other words.", guid="g-1") == (
        "duplicate_guid",
        deleted,
        True,
    )
    assert again("http://b.example/1", STORY) == ("duplicate_content", deleted, True)
    edited = STORY.replace("Tuesday", "Wednesday")
    outcome, article_id, buried = again("http://c.example/1", edited)
    assert (outcome, article_id, buried) == ("duplicate_near", deleted, True)
    assert count_articles(db) == 0
    listed = ["http://a.example/1", "http://b.example/1", "http://x.example/1", "http://y/"]
    entries = [EntryIdentity(url) for url in listed[:3]] + [EntryIdentity(listed[3], guid="g-1")]
    # b.example learnt as an address of the story when it came back: not fetched again.
    assert known_entries(db, sid, entries) == {listed[0], listed[1], listed[3]}

    later = prune(db, KEEP, now=NOW + timedelta(days=181))
    assert later.tombstones_expired == 1
    assert rows(db, "SELECT count(*) FROM tombstone_keys") == [0]
    back = save_article(db, record(sid, "http://a.example/1", STORY, guid="g-1", fetched_at=NOW))
    assert (back.outcome, back.tombstone) == ("new", None)
    assert count_articles(db) == 1
    db.dispose()


def test_near_duplicate_estimate_uses_the_crawlers_band_shape() -> None:
    """A tombstone's near match is estimated from shared bands with storage.dedup.LSH_ROWS:
    it must be the rows per band the crawler's MinHash keys are made with."""
    assert dedup.LSH_ROWS == fingerprints.LSH_ROWS


def test_newsrelay_prune_over_a_crawled_site(site: LocalSite, tmp_path: Path) -> None:
    """``prune --dry-run`` counts and deletes nothing; ``prune`` deletes the crawled stories
    older than keep_articles; the next crawl fetches none of them again (their URLs are in
    their tombstones) and counts a republished copy on another site as a duplicate."""
    pages = {f"/wire/{n}.html": article_html(n) for n in (1, 2)}
    for path, html in pages.items():
        site.add(path, html)
    site.add("/wire/feed.xml", rss_of(site, list(pages)), content_type="application/rss+xml")
    sources = f'[[sources]]\nname = "wire"\nfeeds = ["{site.url("/wire/feed.xml")}"]\n\n'
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    config = write_config(
        tmp_path / "newsrelay.toml", db_url, sources + '[storage]\nkeep_articles = "1s"\n'
    )
    first = run_newsrelay("crawl", "--all", "--json", config=config)
    assert summary(first.stdout)["wire"]["new"] == 2, first.stdout + first.stderr
    time.sleep(1.1)

    dry = run_newsrelay("prune", "--dry-run", config=config)
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2" in dry.stdout, dry.stdout
    assert len(run_newsrelay("export", "--format", "jsonl", config=config).stdout.splitlines()) == 2

    done = run_newsrelay("--log-format", "json", "prune", config=config)
    assert done.returncode == 0, done.stderr
    assert "deleted 2" in done.stdout, done.stdout
    assert '"articles": 2' in done.stderr, done.stderr  # the one INFO summary line
    assert run_newsrelay("export", "--format", "jsonl", config=config).stdout == ""

    # The feed changes (a 304 would not show its entries again): one new story beside the two.
    site.add("/wire/3.html", article_html(3))
    wire_feed = rss_of(site, [*pages, "/wire/3.html"])
    site.add("/wire/feed.xml", wire_feed, content_type="application/rss+xml")
    site.add("/mirror/1.html", pages["/wire/1.html"])
    site.add(
        "/mirror/feed.xml", rss_of(site, ["/mirror/1.html"]), content_type="application/rss+xml"
    )
    mirror = f'[[sources]]\nname = "mirror"\nfeeds = ["{site.url("/mirror/feed.xml")}"]\n\n'
    write_config(config, db_url, sources + mirror + '[storage]\nkeep_articles = "1s"\n')
    second = run_newsrelay("crawl", "--all", "--json", config=config)
    rows_ = summary(second.stdout)
    assert (rows_["wire"]["new"], rows_["wire"]["known"]) == (1, 2), second.stdout
    assert (rows_["mirror"]["new"], rows_["mirror"]["duplicates"]) == (0, 1), second.stdout
    assert [len(site.hits(path)) for path in pages] == [1, 1]


def test_storage_settings(tmp_path: Path) -> None:
    """keep_dedup_keys defaults to the longer of keep_articles and 180 days; "0" is for ever;
    a wrong interval is one line naming the key."""
    assert config_from_dict({}).storage.keep_articles_delta is None
    assert config_from_dict({}).storage.keep_dedup_keys_delta == timedelta(days=180)
    year = config_from_dict({"storage": {"keep_articles": "365d"}}).storage
    assert (year.keep_articles_delta, year.keep_dedup_keys_delta) == (
        timedelta(days=365),
        timedelta(days=365),
    )
    forever = config_from_dict({"storage": {"keep_articles": "30d", "keep_dedup_keys": "0"}})
    assert forever.storage.keep_dedup_keys_delta is None
    with pytest.raises(ConfigError, match=r"storage\.keep_articles: 'ninety days' is not"):
        config_from_dict({"storage": {"keep_articles": "ninety days"}})
    config = write_config(
        tmp_path / "newsrelay.toml", "sqlite:///x.db", '[storage]\nkeep_dedup_keys = "6 months"\n'
    )
    result = run_newsrelay("prune", config=config)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "storage.keep_dedup_keys" in result.stderr


def test_prune_commits_batch_by_batch_and_lets_other_writers_in(tmp_path: Path) -> None:
    """Over more articles than a batch, each batch is its own transaction (counted with
    SQLAlchemy's commit event), and another writer of the SQLite file, with a busy timeout of
    one second, gets in between batches and is never refused."""
    db = open_database(f"sqlite:///{tmp_path / 'newsrelay.db'}")
    sid = ensure_source(db, "a", []).source_id
    save_articles(
        db, [record(sid, f"http://a.example/{n}", f"Story {n}.", near=None) for n in range(1000)]
    )
    commits: list[float] = []
    event.listen(db.engine, "commit", lambda _conn: commits.append(time.monotonic()))
    writes: list[float] = []
    errors: list[Exception] = []
    done = threading.Event()

    def writer() -> None:
        other = sqlite3.connect(tmp_path / "newsrelay.db", timeout=1.0, isolation_level=None)
        other.execute("CREATE TABLE IF NOT EXISTS writer_probe (n INTEGER)")
        while not done.is_set():
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("INSERT INTO writer_probe VALUES (1)")
                other.execute("COMMIT")
                writes.append(time.monotonic())
            except sqlite3.OperationalError as exc:
                errors.append(exc)
            time.sleep(0.002)
        other.close()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.1)
    try:
        report = prune(db, Retention(KEEP.keep_articles, None, batch=100))
    finally:
        done.set()
        thread.join()

    assert (report.articles, report.batches) == (1000, 10)
    assert len(commits) >= 10  # (and the look-up that found nothing more)
    assert errors == []
    # One transaction for the whole prune, or batches back to back, let no write in between
    # its first and last commit.
    between = [t for t in writes if commits[0] < t < commits[-1]]
    assert len(between) >= 5, (len(writes), commits[0], commits[-1])
    assert count_articles(db) == 0
    db.dispose()


def test_the_daemon_prunes_when_it_starts(tmp_path: Path) -> None:
    """``newsrelay run`` prunes at start (then hourly) in a thread of its own, and logs one
    INFO line with the counts."""
    db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    save_articles(db, [record(sid, f"http://a.example/{n}", f"Story {n}.") for n in range(3)])
    save_article(db, record(sid, "http://a.example/new", "Recent.", fetched_at=RECENT))
    config = daemon_config(
        tmp_path / "newsrelay.toml", db_url, '[storage]\nkeep_articles = "90d"\n'
    )
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: any(r["msg"] == "prune:" for r in daemon.records()))
        (line,) = [r for r in daemon.records() if r["msg"] == "prune:"]
        assert (line["level"], line["articles"], line["batches"]) == ("info", 3, 1)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert [a.url for a in iter_articles(db)] == ["http://a.example/new"]
    db.dispose()


def test_a_copy_saved_while_its_article_is_pruned_meets_the_tombstone(postgres_url: str) -> None:
    """PostgreSQL: a crawl looked up the stored article its copy belongs to, then a prune
    deleted that article before the crawl recorded the copy. The crawl's insert refers to a
    row gone: it is decided again, and the copy is a duplicate of the deleted article."""
    db, pruner = open_database(postgres_url), open_database(postgres_url)
    sid = ensure_source(db, "a", []).source_id
    first = save_article(db, record(sid, "http://a.example/1", STORY))
    pruned: list[int] = []

    def prune_in_between(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO article_urls") and not pruned:
            other = threading.Thread(target=lambda: pruned.append(prune(pruner, KEEP).articles))
            other.start()
            other.join()

    event.listen(db.engine, "before_cursor_execute", prune_in_between)
    copy = save_article(db, record(sid, "http://b.example/1", STORY.upper(), fetched_at=NOW))
    assert pruned == [1]
    assert (copy.outcome, copy.article_id) == ("duplicate_content", first.article_id)
    assert copy.tombstone is not None
    assert count_articles(db) == 0
    db.dispose()
    pruner.dispose()


def test_an_entry_known_by_guid_while_its_article_is_pruned(postgres_url: str) -> None:
    """PostgreSQL: an entry at a new address whose GUID names a stored article is recorded as
    the article's alias; when a prune deletes the article in between, the entry is still
    known (by its tombstone) and the look-up does not fail."""
    db, pruner = open_database(postgres_url), open_database(postgres_url)
    sid = ensure_source(db, "a", []).source_id
    save_article(db, record(sid, "http://a.example/1", STORY, guid="g-1"))
    pruned: list[int] = []

    def prune_in_between(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO article_urls") and not pruned:
            other = threading.Thread(target=lambda: pruned.append(prune(pruner, KEEP).articles))
            other.start()
            other.join()

    event.listen(db.engine, "before_cursor_execute", prune_in_between)
    moved = EntryIdentity("http://a.example/moved", guid="g-1")
    assert known_entries(db, sid, [moved]) == {moved.url}
    assert pruned == [1]
    assert rows(db, "SELECT count(*) FROM article_urls") == [0]
    db.dispose()
    pruner.dispose()
