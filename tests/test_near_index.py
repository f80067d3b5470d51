"""The near-duplicate band index's layout (storage.near_index), on SQLite and PostgreSQL: a
WITHOUT ROWID table on SQLite, new bands staged in a small table and merged into it every
MERGE_ARTICLES articles, found by look-ups wherever they are, and carried through migration
0016."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.fingerprints import text_keys
from storage import near_index
from storage.articles import save_articles
from storage.db import Database, open_database
from storage.near_index import MERGE_ARTICLES, merge, merge_due
from storage.records import ArticleRecord
from storage.sources import ensure_source
from tests.test_storage import record

WORDS = [
    "minister",
    "council",
    "market",
    "oil",
    "price",
    "city",
    "report",
    "summit",
    "court",
    "vote",
    "port",
    "water",
]


def story(n: int) -> str:
    rng = random.Random(n)
    return f"Report {n}. " + " ".join(rng.choice(WORDS) for _ in range(120))


def edited(body: str) -> str:
    return "Republished by Summit Wire. " + body.replace("council", "assembly", 1)


def near_record(sid: int, url: str, body: str) -> ArticleRecord:
    keys = text_keys(body)
    return record(sid, url, body, content_hash=keys.content_hash, near=keys.near)


def count(db: Database, query: str) -> int:
    with db.reading() as session:
        return int(session.execute(text(query)).scalar() or 0)


BANDS = (
    "SELECT (SELECT count(*) FROM article_near_keys)"
    " + (SELECT count(*) FROM article_near_keys_recent)"
)


def test_one_merge_per_merge_articles_whatever_the_batch_size() -> None:
    """Consecutive batches of any size merge once per MERGE_ARTICLES ids."""
    for size in (1, 7, 100, 333, MERGE_ARTICLES):
        last = 3 * MERGE_ARTICLES + 5
        batches = [(first, min(first + size - 1, last)) for first in range(1, last + 1, size)]
        merges = sum(merge_due(first, end) for first, end in batches)
        assert merges == 3


def test_sqlite_band_index_is_its_primary_key(tmp_path: Path) -> None:
    """On SQLite the band rows are the primary key's B-tree (WITHOUT ROWID): one random
    insert per band, where the rowid table wrote a row and an index entry."""
    db = open_database(f"sqlite:///{tmp_path}/bands.db")
    for table in ("article_near_keys", "article_near_keys_recent"):
        with db.reading() as session:
            query = text("SELECT sql FROM sqlite_master WHERE name = :table")
            sql = str(session.execute(query, {"table": table}).scalar())
        assert sql.rstrip().endswith("WITHOUT ROWID"), sql
    db.dispose()


def test_near_copies_are_found_before_and_after_their_bands_merge(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved in batches past several merges, every article's near copy is still found,
    whether its bands wait in the recent table or were merged; the recent table (SQLite)
    holds the bands of the articles since the last merge only."""
    monkeypatch.setattr(near_index, "MERGE_ARTICLES", 64)
    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    stories = [story(n) for n in range(300)]
    for start in range(0, 300, 20):
        batch = [
            near_record(sid, f"http://a.example/{n}", stories[n]) for n in range(start, start + 20)
        ]
        assert {r.outcome for r in save_articles(db, batch, near_threshold=0.7)} == {"new"}
    total = count(db, BANDS)
    assert total >= 300 * 15
    recent = count(db, "SELECT count(*) FROM article_near_keys_recent")
    if db.dialect == "sqlite":
        assert recent == count(
            db, "SELECT count(*) FROM article_near_keys_recent WHERE article_id > 256"
        )
        assert 0 < recent < total / 3
    else:
        assert recent == 0  # PostgreSQL writes its log per row: no staging
    copies = [near_record(sid, f"http://b.example/{n}", edited(stories[n])) for n in range(300)]
    results = save_articles(db, copies, near_threshold=0.7)
    assert [r.outcome for r in results] == ["duplicate_near"] * 300
    with db.transaction() as session:
        merge(session)
    assert count(db, "SELECT count(*) FROM article_near_keys_recent") == 0
    assert count(db, BANDS) == total
    again = save_articles(
        db, [near_record(sid, "http://c.example/1", edited(stories[7]))], near_threshold=0.7
    )
    assert again[0].outcome == "duplicate_near"
    db.dispose()


def test_0016_steps_down_and_up_keeping_every_band(db_url: str) -> None:
    """Down to 0015 the staged bands join article_near_keys (a rowid table again on SQLite),
    up again it is WITHOUT ROWID: no band lost either way, and near copies still found."""
    from alembic import command

    db = open_database(db_url)
    sid = ensure_source(db, "a", []).source_id
    stories = [story(n) for n in range(30)]
    save_articles(db, [near_record(sid, f"http://a.example/{n}", s) for n, s in enumerate(stories)])
    total = count(db, BANDS)
    assert total >= 30 * 15
    config = db._alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
    assert count(db, "SELECT count(*) FROM article_near_keys") == total
    if db.dialect == "sqlite":
        layout = "SELECT count(*) FROM sqlite_master WHERE name = 'article_near_keys'"
        assert count(db, layout + " AND sql LIKE '%WITHOUT ROWID%'") == 0
        assert count(db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ix_article_near%'")
    db.upgrade()
    assert count(db, BANDS) == total
    if db.dialect == "sqlite":
        assert count(db, layout + " AND sql LIKE '%WITHOUT ROWID%'") == 1
    copy = near_record(sid, "http://b.example/3", edited(stories[3]))
    assert save_articles(db, [copy], near_threshold=0.7)[0].outcome == "duplicate_near"
    db.dispose()
